"""Login throttling rule: how long a name or address must wait after repeated failures."""

from __future__ import annotations

import datetime as dt

WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 30


def retry_after(
    user_failures: list[dt.datetime], address_failures: list[dt.datetime], now: dt.datetime
) -> int | None:
    """Seconds to wait before another try, or None when a try is allowed.

    The lists hold the times of failed attempts inside WINDOW, newest last. A success does not reset the
    count of others' failures on the same address (a shared office NAT still gets its 30 tries).
    """
    waits: list[dt.timedelta] = []
    if len(user_failures) >= MAX_FAILURES_PER_USER:
        waits.append(user_failures[-MAX_FAILURES_PER_USER] + WINDOW - now)
    if len(address_failures) >= MAX_FAILURES_PER_ADDRESS:
        waits.append(address_failures[-MAX_FAILURES_PER_ADDRESS] + WINDOW - now)
    if not waits:
        return None
    return max(1, int(max(waits).total_seconds()) + 1)
