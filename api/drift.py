"""GET /monitoring/drift: recent predictions' inputs against the training distribution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy.exc import SQLAlchemyError

from adapters.store import PredictionStore
from api.endpoints import Endpoint
from api.errors import invalid_field, json_response, unavailable
from api.schemas import REPORT_DATES, ErrorBody
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


class DriftQuery(BaseModel):
    """The query of GET /monitoring/drift."""

    model_config = ConfigDict(extra="forbid")

    since: date | None = Field(
        None,
        **REPORT_DATES,
        description=f"First day (UTC) of the predictions compared; default {DRIFT_WINDOW_DAYS - 1}"
        " days before `until`.",
    )
    until: date | None = Field(
        None, **REPORT_DATES, description="Last day of the predictions compared; default today."
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
DRIFT = Endpoint(
    method="GET",
    rule="/monitoring/drift",
    summary="Input drift: recent predictions' inputs against the training distribution",
    tag="monitoring",
    description="Population stability index of each input (categories, event counts in deciles) "
    "of the predictions made in the window, against the distribution stored in the bundle, and "
    f"the share of unseen categories. PSI under {MODERATE_PSI} is stable, from {MAJOR_PSI} a "
    "major shift. `available` is false for a bundle saved without the distribution.",
    query=DriftQuery,
    responses={
        200: ("The report", DriftReport),
        422: ("A bad parameter (named)", ErrorBody),
        503: ("The database is unavailable", ErrorBody),
    },
    usual=(200,),
)


def window(since: date | None, until: date | None) -> tuple[date, date]:
    """The days of a drift report: `until` defaults to today (UTC), `since` to the window before."""
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=DRIFT_WINDOW_DAYS - 1)
    if since > until:
        raise invalid_field("since", f"must not be after until ({until.isoformat()})")
    return since, until


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@DRIFT.route(blueprint)
def drift(query: DriftQuery):
    since, until = window(query.since, query.until)
    services = current_services()
    store = PredictionStore(services.engine)
    try:
        inputs = store.recent_inputs(
            day_start(since), day_start(until + timedelta(days=1)), DRIFT_SAMPLE_ROWS
        )
    except SQLAlchemyError as error:
        raise unavailable("the predictions database", type(error).__name__) from None
    report = drift_report(getattr(services.predictor, "domain", None), inputs)
    features = [] if report is None else report.astype(object).where(report.notna(), None)
    body = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "available": report is not None,
        "predictions": len(inputs),
        "moderate_psi": MODERATE_PSI,
        "major_psi": MAJOR_PSI,
        "min_values": MIN_DRIFT_ROWS,
        "features": [] if report is None else features.to_dict("records"),
    }
    return json_response(body)
