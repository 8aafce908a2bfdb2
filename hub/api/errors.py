"""Exceptions of the API layer; hub.api.app maps each to an HTTP answer."""

from __future__ import annotations


class ApiError(Exception):
    """Base of every error the API layer raises on purpose."""


class NotAuthenticated(ApiError):
    """No valid session cookie or bearer token came with the request."""


class NotFound(ApiError):
    """The thing does not exist or lies outside the caller's scope; both look the same from outside."""


class LoginThrottled(ApiError):
    """Too many failed logins for this user name or address in the throttling window."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class CsrfRejected(ApiError):
    """An unsafe request authenticated by a session cookie lacks the session's CSRF token."""


class InvalidInput(ApiError):
    """The request is well-formed HTTP but what it asks for is wrong (messages say what to fix)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
