"""A venue's own records (Q31): the records made there, of residents of any municipality. Each such read
is audited in the chain of every municipality whose records it showed."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from hub.api.context import CallerDep
from hub.api.errors import InvalidInput, NotFound
from hub.db import audit
from hub.db import records as records_db
from protocol.records import japan_today


class VenuesApi(Controller):
    """Venue staff's view of their venue."""

    path = "/api/v1/venues"
    tags = ("venues",)

    @get("/{venue_id:str}/records", sync_to_thread=True)
    def venue_records(self, caller: CallerDep, venue_id: FromPath[str],
                      day: FromQuery[str] = "") -> list[records_db.VenueRecord]:
        """The current records made at the caller's venue on `day` (YYYY-MM-DD, default today in Japan)."""
        if caller.identity.role != "venue_staff" or caller.identity.venue_id != venue_id:
            raise NotFound("no such venue in your scope")
        try:
            on = dt.date.fromisoformat(day) if day else japan_today(caller.now)
        except ValueError:
            raise InvalidInput(["day must be YYYY-MM-DD"]) from None
        rows = records_db.records_at_venue(caller.conn, venue_id, on)
        for code, n in sorted(Counter(r.municipality_code for r in rows).items()):
            audit.write(caller.conn, code, actor=caller.identity.username, action="venue_read", target=venue_id,
                        details={"day": on.isoformat(), "records": n})
        return rows
