"""(filled in below)"""

from __future__ import annotations

from litestar import Controller


class RecordPages(Controller):
    include_in_schema = False


class RecordsApi(Controller):
    path = "/api/v1"
