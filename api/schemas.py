"""Request and response models of the API: they validate input and generate /openapi.json.

Records are `scorer.schema.InstallRecord` itself, so the API accepts exactly what the model was
trained on. Batch models carry the configured limit, hence are built per limit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    create_model,
    field_validator,
)

from scorer.monitoring import DIMENSIONS, FIGURES, MIN_USERS, OVERDUE_AFTER_DAYS, STATUSES
from scorer.outcome import OutcomeRecord
from scorer.prediction import View, view_model
from scorer.schema import COLUMNS
from scorer.schema import InstallRecord as ContractRecord

InstallRecord = ContractRecord


NOT_BLANK = r"\S"
"""Ids are stripped, so an id must contain a non-space character."""
USER_ID_LENGTH = next(column.max_length for column in COLUMNS if column.name == "user_id")
"""Longest user id: the record contract's own limit."""
UserId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=USER_ID_LENGTH, pattern=NOT_BLANK
    ),
]
EventId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=NOT_BLANK)
]


class InstallEvent(InstallRecord):  # type: ignore[misc, valid-type]
    """One install event for the install-events stream: a record with a user id."""

    user_id: UserId = Field(description="Anonymised user id (required for events).")
    event_id: EventId | None = Field(
        None, description="Idempotency key: an event id is stored at most once."
    )
    sent_at: AwareDatetime | None = Field(
        None,
        description="When the client sent the event: the event time of its prediction (a "
        "user's newest event time wins); without it, the time the stream received it.",
    )

    @field_validator("sent_at")
    @classmethod
    def _sent_at_in_utc(cls, value: datetime | None) -> datetime | None:
        """In UTC, as it is stored; a time with no UTC equivalent (the first hours of year 1
        ahead of UTC, the last of year 9999 behind it) is refused, not a server error."""
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("outside the years 1 to 9999 once in UTC") from None


def _batch_model(
    name: str, doc: str, key: str, item: type[BaseModel], limit: int
) -> type[BaseModel]:
    """A body with 1..limit `item`s under `key` and nothing else."""
    items = Annotated[list[item], Field(min_length=1, max_length=limit)]
    return create_model(
        name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **{key: (items, ...)}
    )


@lru_cache(maxsize=8)
def predict_batch_model(limit: int) -> type[BaseModel]:
    """`PredictBatch`: the body of POST /predict with 1..limit records under `instances`."""
    doc = "Several install records scored in one request."
    return _batch_model("PredictBatch", doc, "instances", InstallRecord, limit)


@lru_cache(maxsize=8)
def event_batch_model(limit: int) -> type[BaseModel]:
    """`EventBatch`: the body of POST /events with 1..limit events under `events`."""
    doc = "Several install events appended in one request."
    return _batch_model("EventBatch", doc, "events", InstallEvent, limit)


Prediction = view_model(View.ANSWER, "Prediction", "One prediction made by /predict.")
UserPrediction = view_model(
    View.CACHE,
    "UserPrediction",
    "The latest prediction of one user (from the cache, else from Postgres).",
)


class PredictionBatch(BaseModel):
    request_id: str
    model_version: str
    predictions: list[Prediction] = Field(  # type: ignore[valid-type]
        description="One per instance, in request order."
    )


class EventsAccepted(BaseModel):
    ids: list[str] = Field(description="Stream ids of the appended events, in request order.")
    count: int


class ModelInfo(BaseModel):
    model_version: str
    source: dict[str, Any] = Field(
        description='Where the model was loaded from: {"kind": "directory", "path"} (MODEL_DIR) '
        'or {"kind": "registry", "uri", "name", "version", ...} (MODEL_URI).'
    )
    card: dict[str, Any] = Field(description="The bundle's model card (metrics, data, limits).")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description="`ok`, or why a dependency failed, per check.")


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `instances.3.event_1`.")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="Stable code: validation_error, bad_request, ...")
    message: str
    details: list[FieldError] | None = Field(None, description="Per-field errors (422 only).")


class BatchJobAccepted(BaseModel):
    id: str
    status: str
    records: int = Field(description="Records accepted into the job.")
    ignored_columns: list[str] = Field(description="CSV columns that are not record columns.")
    status_url: str


class BatchJobStatus(BaseModel):
    """State of a batch scoring job, as the job queue reports it."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str = Field(description="queued, started, finished, failed, ...")


@lru_cache(maxsize=8)
def batch_job_models(limit: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """The JSON bodies of POST /batch-jobs: a list of 1..limit records, or `{"records": [...]}`."""
    records = Annotated[list[InstallRecord], Field(min_length=1, max_length=limit)]
    as_list = create_model(
        "BatchJobRecords", __base__=RootModel[records], __doc__="Records to score in a job."
    )
    wrapped = create_model(
        "BatchJobBody",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Records to score in a job, under `records`.",
        records=(records, ...),
    )
    return as_list, wrapped


@lru_cache(maxsize=8)
def outcome_batch_model(limit: int) -> type[BaseModel]:
    """`OutcomeBatch`: the body of POST /outcomes with 1..limit outcomes under `outcomes`."""
    return create_model(
        "OutcomeBatch",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Several outcomes appended in one request.",
        outcomes=(Annotated[list[OutcomeRecord], Field(min_length=1, max_length=limit)], ...),
    )


DEFAULT_WINDOW_DAYS = 28
"""Install dates a calibration report covers when `since` is left out (`until` included)."""
REPORT_DATES = {"ge": date(2000, 1, 1), "le": date(2999, 12, 31)}
"""The install dates a report can name (beyond them the arithmetic of dates would overflow)."""


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def report_query(name: str, since: str, until: str, **fields: Any) -> type[BaseModel]:
    """The query model of a monitoring report: optional `since` and `until` days (described
    by the two strings, within REPORT_DATES), then `fields`; unknown parameters refused."""
    day = date | None
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The query of a report ({name}).",
        since=(day, Field(None, **REPORT_DATES, description=since)),
        until=(day, Field(None, **REPORT_DATES, description=until)),
        **fields,
    )


CalibrationQuery = report_query(
    "CalibrationQuery",
    since=f"First install date (YYYY-MM-DD); default {DEFAULT_WINDOW_DAYS - 1} days before "
    "`until`.",
    until="Last install date, included; default today (UTC).",
    by=(
        Annotated[list[Literal[DIMENSIONS]], BeforeValidator(_comma_separated)],  # type: ignore[valid-type]
        Field(
            default_factory=list,
            description="Comma-separated grouping columns; `stage` is always one (the two "
            "stages' predictions are never summed together).",
        ),
    ),
)


CalibrationSegment = create_model(
    "CalibrationSegment",
    __doc__="One segment of the report: its grouping columns (only those asked for), then "
    "its figures.",
    **{
        name: (str | None, Field(None, description=f"Grouping column {name}."))
        for name in DIMENSIONS
    },
    **{
        name: (kind if kind in (int, bool) else float | None, Field(description=meaning))
        for name, (kind, meaning) in FIGURES.items()
    },
)


class DecileRow(BaseModel):
    """Calibration by decile of prediction rank within a segment (plus its grouping columns)."""

    model_config = ConfigDict(extra="allow")

    decile: int = Field(description="1 = lowest predictions; tied predictions stay together.")
    users: int
    mean_pred: float
    mean_true: float


class CalibrationReport(BaseModel):
    since: date
    until: date
    by: list[str] = Field(description="The grouping columns, stage included.")
    min_users: int = Field(MIN_USERS, description="Segments with fewer users are `too_small`.")
    overdue_after_days: int = Field(OVERDUE_AFTER_DAYS)
    totals: dict[Literal[STATUSES], int] = Field(  # type: ignore[valid-type]
        description="Rows of the window per status: matched (user x stage), no_prediction, "
        "overdue, awaiting."
    )
    segments: list[CalibrationSegment]  # type: ignore[valid-type]
    deciles: list[DecileRow]
