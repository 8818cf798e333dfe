"""GET /monitoring/calibration: how right the predictions of a window of install dates were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from adapters.matches import matched_rows
from api.endpoints import Endpoint
from api.errors import invalid_field, json_response, unavailable
from api.schemas import DEFAULT_WINDOW_DAYS, CalibrationQuery, CalibrationReport, ErrorBody
from api.services import current_services
from scorer.monitoring import (
    MIN_USERS,
    OVERDUE_AFTER_DAYS,
    PREDICTED,
    STATUSES,
    calibration_tables,
    grouping,
)

blueprint = Blueprint("monitoring", __name__)
CALIBRATION = Endpoint(
    method="GET",
    rule="/monitoring/calibration",
    summary="Calibration report: predicted against actual D7 revenue per segment",
    tag="monitoring",
    description="Each outcome of the window is matched with the user's newest prediction of "
    "each stage made before it arrived. Per segment: users, predicted and actual sums, their "
    "ratio, 80% interval coverage, normalised Gini, decile calibration; segments under "
    f"{MIN_USERS} users are marked too small. Outcomes without a prediction and predictions "
    f"without an outcome (overdue after {OVERDUE_AFTER_DAYS} days) are counted.",
    query=CalibrationQuery,
    responses={
        200: ("The report", CalibrationReport),
        422: ("A bad parameter (named)", ErrorBody),
        503: ("The database is unavailable", ErrorBody),
    },
    usual=(200,),
)


def _records(frame) -> list[dict]:
    """Rows as dicts with NaN as None (JSON null)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@CALIBRATION.route(blueprint)
def calibration(query: CalibrationQuery):
    today = datetime.now(UTC).date()
    until = query.until or today
    since = query.since or until - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if since > until:
        raise invalid_field("since", f"must not be after until ({until.isoformat()})")
    keys = grouping(query.by)
    try:
        matched = matched_rows(
            current_services().engine, since, until, today, columns=[*keys, PREDICTED]
        )
    except SQLAlchemyError as error:
        raise unavailable("the predictions database", type(error).__name__) from None
    counts = matched.status.value_counts()
    report, deciles = calibration_tables(matched, keys)
    body = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "by": keys,
        "min_users": MIN_USERS,
        "overdue_after_days": OVERDUE_AFTER_DAYS,
        "totals": {status: int(counts.get(status, 0)) for status in STATUSES},
        "segments": _records(report),
        "deciles": _records(deciles),
    }
    return json_response(body)
