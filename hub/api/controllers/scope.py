"""Which municipality a request may touch; anything else is answered 404 (never "forbidden")."""

from __future__ import annotations

from hub.api.context import Caller
from hub.api.errors import NotFound


def own_municipality(caller: Caller, code: str | None = None) -> str:
    """The caller's municipality, when the caller is municipal staff and `code` (if given) is it."""
    mine = caller.identity.municipality_code
    if not caller.identity.is_municipal or mine is None or (code is not None and code != mine):
        raise NotFound("no such municipality in your scope")
    return mine
