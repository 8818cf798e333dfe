"""GET /monitoring/drift: recent predictions' inputs against the training distribution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint
from pydantic import BaseModel, Field, create_model
from sqlalchemy.exc import SQLAlchemyError

from adapters.store import PredictionStore
from api.errors import json_response, unavailable
from api.reports import json_rows, report_endpoint, report_window
from api.schemas import report_query
from api.services import current_services
from scorer.drift import (
    DRIFT_COLUMNS,
    DRIFT_SAMPLE_ROWS,
    DRIFT_WINDOW_DAYS,
    MAJOR_PSI,
    MIN_DRIFT_ROWS,
    MODERATE_PSI,
    drift_report,
)

DriftQuery = report_query(
    "DriftQuery",
    since=f"First day (UTC) of the predictions compared; default {DRIFT_WINDOW_DAYS - 1} days "
    "before `until`.",
    until="Last day of the predictions compared; default today.",
)


DriftRow = create_model(
    "DriftRow",
    __doc__="The drift of one input, or (feature `any`) the share of rows with an unseen category.",
    **{
        name: (kind | None if kind is float else kind, Field(description=meaning))
        for name, (kind, meaning) in DRIFT_COLUMNS.items()
    },
)


class DriftReport(BaseModel):
    since: date
    until: date
    available: bool = Field(description="False when the bundle stored no training distribution.")
    predictions: int = Field(description=f"Predictions compared (the newest {DRIFT_SAMPLE_ROWS}).")
    moderate_psi: float = MODERATE_PSI
    major_psi: float = MAJOR_PSI
    min_values: int = MIN_DRIFT_ROWS
    features: list[DriftRow]  # type: ignore[valid-type]


blueprint = Blueprint("drift", __name__)
DRIFT = report_endpoint(
    "/monitoring/drift",
    "Input drift: recent predictions' inputs against the training distribution",
    "Population stability index of each input (categories, event counts in deciles) "
    "of the predictions made in the window, against the distribution stored in the bundle, and "
    f"the share of unseen categories. PSI under {MODERATE_PSI} is stable, from {MAJOR_PSI} a "
    "major shift. `available` is false for a bundle saved without the distribution.",
    DriftQuery,
    DriftReport,
)


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@DRIFT.route(blueprint)
def drift(query: DriftQuery):
    since, until = report_window(query, DRIFT_WINDOW_DAYS)
    services = current_services()
    store = PredictionStore(services.engine)
    try:
        inputs = store.recent_inputs(
            day_start(since), day_start(until + timedelta(days=1)), DRIFT_SAMPLE_ROWS
        )
    except SQLAlchemyError as error:
        raise unavailable("the predictions database", type(error).__name__) from None
    report = drift_report(getattr(services.predictor, "domain", None), inputs)
    body = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "available": report is not None,
        "predictions": len(inputs),
        "moderate_psi": MODERATE_PSI,
        "major_psi": MAJOR_PSI,
        "min_values": MIN_DRIFT_ROWS,
        "features": [] if report is None else json_rows(report),
    }
    return json_response(body)
