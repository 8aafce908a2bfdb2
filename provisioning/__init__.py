"""Field provisioning: station keys and config, enrollment, broker ACLs, systemd units, Grafana files.

Exceptions:
    ProvisioningError   a step cannot be carried out as asked
"""


class ProvisioningError(Exception):
    """A provisioning step cannot be carried out as asked."""
