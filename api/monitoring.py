"""GET /monitoring/calibration: how right the predictions of a window of install dates were."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from adapters.matches import matched_rows
from api.errors import json_response, unavailable
from api.reports import json_rows, report_endpoint, report_window
from api.schemas import DEFAULT_WINDOW_DAYS, CalibrationQuery, CalibrationReport
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
CALIBRATION = report_endpoint(
    "/monitoring/calibration",
    "Calibration report: predicted against actual D7 revenue per segment",
    "Each outcome of the window is matched with the user's newest prediction of "
    "each stage made before it arrived. Per segment: users, predicted and actual sums, their "
    "ratio, 80% interval coverage, normalised Gini, decile calibration; segments under "
    f"{MIN_USERS} users are marked too small. Outcomes without a prediction and predictions "
    f"without an outcome (overdue after {OVERDUE_AFTER_DAYS} days) are counted.",
    CalibrationQuery,
    CalibrationReport,
)


@CALIBRATION.route(blueprint)
def calibration(query: CalibrationQuery):
    today = datetime.now(UTC).date()
    since, until = report_window(query, DEFAULT_WINDOW_DAYS, today)
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
        "segments": json_rows(report),
        "deciles": json_rows(deciles),
    }
    return json_response(body)
