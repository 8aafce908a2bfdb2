"""(filled in below)"""

from __future__ import annotations

from litestar import Controller


class ResidentPages(Controller):
    include_in_schema = False


class ResidentsApi(Controller):
    path = "/api/v1"
