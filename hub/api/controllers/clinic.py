"""The clinic's view (venue_staff): its own venue's records of one day with counts per station and per
hour (Q31, Q35). Nothing else: any other venue, and every municipal page, answers 404 to venue staff."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.errors import InvalidInput, NotFound
from hub.api.services.clinic import VenueDay, summarize
from hub.db import audit
from hub.db import records as records_db
from hub.db import venues as venues_db
from protocol.records import JST, japan_today


def _venue_day(caller: Caller, venue_id: str | None, day: str) -> VenueDay:
    mine = caller.identity.venue_id
    if caller.identity.role != "venue_staff" or mine is None or (venue_id is not None and venue_id != mine):
        raise NotFound("no such venue in your scope")
    try:
        on = dt.date.fromisoformat(day) if day else japan_today(caller.now)
    except ValueError:
        raise InvalidInput(["日付 (day): YYYY-MM-DD の形式で指定してください"]) from None
    venue = venues_db.get_venue(caller.conn, mine)
    rows = records_db.records_at_venue(caller.conn, mine, on)
    for code, n in sorted(Counter(r.municipality_code for r in rows).items()):
        audit.write(caller.conn, code, actor=caller.identity.username, action="venue_read", target=mine,
                    details={"day": on.isoformat(), "records": n})
    return summarize(mine, venue.name if venue else mine, on, rows)


class ClinicPages(Controller):
    """The venue's day page."""

    include_in_schema = False

    @get("/clinic", sync_to_thread=True)
    def day_page(self, caller: CallerDep, day: FromQuery[str] = "") -> Template:
        try:
            v = _venue_day(caller, None, day)
        except InvalidInput as exc:
            v = _venue_day(caller, None, "")
            return page(caller, "clinic.html", v=v, errors=exc.messages, JST=JST, status_code=422)
        return page(caller, "clinic.html", v=v, errors=[], JST=JST)


class ClinicApi(Controller):
    """The venue's day as JSON."""

    path = "/api/v1/venues"
    tags = ("venues",)

    @get("/{venue_id:str}/day", sync_to_thread=True)
    def venue_day(self, caller: CallerDep, venue_id: FromPath[str], day: FromQuery[str] = "") -> VenueDay:
        """The caller's venue on `day` (YYYY-MM-DD, default today in Japan): records and counts."""
        return _venue_day(caller, venue_id, day)
