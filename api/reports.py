"""What the monitoring reports (GET /monitoring/...) share: their declaration, their window of
days, their database errors and their rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel

from api.endpoints import Endpoint
from api.errors import invalid_field
from api.schemas import ErrorBody


def report_endpoint(
    rule: str, summary: str, description: str, query: type[BaseModel], report: type[BaseModel]
) -> Endpoint:
    """A GET report with its query parameters: 200 the report, 422 a bad parameter, 503."""
    responses = {
        200: ("The report", report),
        422: ("A bad parameter (named)", ErrorBody),
        503: ("The database is unavailable", ErrorBody),
    }
    return Endpoint(
        method="GET", rule=rule, summary=summary, tag="monitoring", description=description,
        query=query, responses=responses, usual=(200,),
    )  # fmt: skip


def report_window(query: BaseModel, days: int, today: date | None = None) -> tuple[date, date]:
    """The days of a report: `query.until` defaulting to today (UTC), `query.since` to `days`
    days up to it; `since` after `until` is refused naming `since`."""
    until = query.until or today or datetime.now(UTC).date()
    since = query.since or until - timedelta(days=days - 1)
    if since > until:
        raise invalid_field("since", f"must not be after until ({until.isoformat()})")
    return since, until


def json_rows(frame) -> list[dict]:
    """Rows as dicts with NaN as None (JSON null)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")
