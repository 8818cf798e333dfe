"""Predicting validated records into `predictions` rows, and persisting rows then caching them.

Shared by the stream handler and the rq batch jobs so both write the same rows the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from adapters.cache import PredictionCache
from adapters.store import PredictionStore
from scorer.prediction import KEY, Prediction, make_prediction
from scorer.predictor import Estimate, PredictorLike
from scorer.schema import COUNT_COLUMNS, TEXT_COLUMNS


def describe(error: BaseException) -> str:
    """One line per problem: `field: message` for validation errors, else `Type: message`."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'record'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
    return f"{type(error).__name__}: {error}"


def records_frame(inputs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The frame `scorer.data.validate_frame` returns, built straight from dumped InstallRecords
    (text is already str or None, counts float or None): every record column in contract order,
    text as object, counts as float64 with NaN for unknown. So `predict_batch` need not
    validate the batch a second time. Built as two blocks, about half the cost of ten Series."""
    text = np.empty((len(TEXT_COLUMNS), len(inputs)), dtype=object)
    for position, name in enumerate(TEXT_COLUMNS):
        text[position] = [record[name] for record in inputs]
    counts = np.array([[record[name] for record in inputs] for name in COUNT_COLUMNS], float)
    return pd.concat(  # the contract lists text columns first (checked by the tests)
        [
            pd.DataFrame(text.T, columns=list(TEXT_COLUMNS), dtype=object),
            pd.DataFrame(counts.T, columns=list(COUNT_COLUMNS)),
        ],
        axis=1,
    )


def predict_events(
    predictor: PredictorLike,
    records: Sequence,
    event_ids: Sequence[str],
    event_times: Sequence[datetime],
    source: str,
    now: datetime | None = None,
) -> list[Prediction]:
    """One prediction per validated InstallRecord (a `predictions` row), with one
    `predict_batch` call; `event_times` are the times of the events they answer."""
    if not records:
        return []
    inputs = [record.model_dump() for record in records]
    result = predictor.predict_batch(records_frame(inputs), validated=True)
    created_at = now or datetime.now(UTC)
    version = predictor.version
    estimates = zip(*(result[name].tolist() for name in Estimate._fields), strict=True)
    return [
        make_prediction(
            event_id=event_id,
            user_id=record["user_id"],
            source=source,
            stage=stage,
            input=record,
            predicted_revenue=predicted_revenue,
            lower=lower,
            upper=upper,
            model_version=version,
            created_at=created_at,
            flags=flags,
            event_time=event_time,
        )
        for event_id, event_time, record, (predicted_revenue, lower, upper, stage, flags) in zip(
            event_ids, event_times, inputs, estimates, strict=True
        )
    ]


def parse_event_time(name: str, value: str | datetime) -> datetime:
    """An event time given as ISO 8601 text (naive: UTC); ValueError naming `name` if not."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 time: {value!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class Persisted:
    inserted: int = 0
    cached: int = 0


def unique_by_event_id(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each event_id, in order: a duplicated event is one prediction."""
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row[KEY] not in seen:
            seen.add(row[KEY])
            unique.append(row)
    return unique


def persist_and_cache(
    store: PredictionStore,
    cache: PredictionCache,
    rows: Sequence[dict[str, Any]],
    pipeline=None,
) -> Persisted:
    """Insert new rows in one transaction, then offer each user's newest persisted prediction
    to the cache, which keeps the newer (queued on `pipeline` when given, for the caller to
    send along with its XACK).

    Rows that already existed (redeliveries, duplicates) are not inserted again; their users
    are refreshed from the database instead, so the cache never shows a prediction that is not
    the persisted one.
    """
    rows = unique_by_event_id(rows)
    inserted = set(store.insert_new(rows))
    existed_for = {row["user_id"] for row in rows if row[KEY] not in inserted}
    fresh = [
        row
        for row in rows
        if row[KEY] in inserted and row["user_id"] and row["user_id"] not in existed_for
    ]
    cached = cache.set_many(fresh + store.latest_for_users(existed_for), pipeline)
    return Persisted(inserted=len(inserted), cached=cached)
