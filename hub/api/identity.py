"""Who is calling: the authenticated user's role and the one municipality or venue it is tied to."""

from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal[
    "operator", "municipal_admin", "municipal_staff", "venue_staff", "prefecture_viewer", "national_viewer"
]
ROLES: tuple[Role, ...] = (
    "operator", "municipal_admin", "municipal_staff", "venue_staff", "prefecture_viewer", "national_viewer"
)
MUNICIPAL_ROLES: frozenset[str] = frozenset({"municipal_admin", "municipal_staff"})
ROLE_LABELS: dict[str, str] = {
    "operator": "システム運用者",
    "municipal_admin": "市区町村管理者",
    "municipal_staff": "市区町村職員",
    "venue_staff": "接種会場職員",
    "prefecture_viewer": "都道府県閲覧者",
    "national_viewer": "国閲覧者",
}


class Identity(msgspec.Struct, frozen=True):
    """An authenticated caller; `via` says whether a session cookie or a bearer token proved it."""

    user_id: int
    username: str
    display_name: str
    role: Role
    municipality_code: str | None
    venue_id: str | None
    prefecture_code: str | None
    via: Literal["session", "token"]
    session_id: str | None = None  # the raw session id, only for `via == "session"` (CSRF tokens bind to it)

    @property
    def is_municipal(self) -> bool:
        return self.role in MUNICIPAL_ROLES

    def sees_municipality(self, code: str) -> bool:
        """True when the caller may read the personal data of municipality `code`."""
        return self.is_municipal and self.municipality_code == code


def binding_problem(
    role: str, municipality_code: str | None, venue_id: str | None, prefecture_code: str | None
) -> str | None:
    """Why this combination of role and attachment is not a valid account, or None."""
    if role not in ROLES:
        return f"unknown role {role!r} (one of {', '.join(ROLES)})"
    if role in MUNICIPAL_ROLES and not municipality_code:
        return f"role {role} needs --municipality"
    if role not in MUNICIPAL_ROLES and municipality_code:
        return f"role {role} takes no municipality"
    if (role == "venue_staff") != bool(venue_id):
        return "role venue_staff needs --venue" if role == "venue_staff" else f"role {role} takes no venue"
    if (role == "prefecture_viewer") != bool(prefecture_code):
        return "role prefecture_viewer needs --prefecture" if role == "prefecture_viewer" else (
            f"role {role} takes no prefecture"
        )
    return None
