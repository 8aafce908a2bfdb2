"""What every admin page template gets: the caller, its CSRF token, navigation."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

from hub.api.context import Caller


def page(caller: Caller, template: str, status_code: int = 200, **context: Any) -> Template:
    """Render `template` for `caller`; forms in it take `csrf` as their hidden token."""
    return Template(
        template,
        context={"me": caller.identity, "csrf": caller.csrf, **context},
        status_code=status_code,
    )
