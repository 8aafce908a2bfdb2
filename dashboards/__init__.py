"""Grafana dashboards as code for officials: aggregates only, read through the vrs_reader role.

Each `<name>.dashboard.py` in this folder defines `dashboard`; `vrs-provision grafana` (and
`make dashboards`) renders them all to JSON. `panels` holds the pieces they share.
"""
