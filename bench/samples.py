"""The prediction the benchmarks put in the cache before measuring a cache hit, built by this
tree's own code (the Prediction type and the cache's view of it), so its fields are never
spelled out here."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.cache import cache_value
from scorer.prediction import make_prediction
from scorer.schema import STAGE_EVENTS


def cached_prediction(user_id: str, stage: str = STAGE_EVENTS) -> dict:
    """The cache value of a fixed prediction for `user_id` (1.5 in [0.5, 3.0], no flags; made
    on, and for an event of, 2024-01-01)."""
    prediction = make_prediction(
        event_id="bench",
        user_id=user_id,
        source="stream",
        stage=stage,
        input={},
        predicted_revenue=1.5,
        lower=0.5,
        upper=3.0,
        model_version="bench",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        flags=[],
        event_time=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return cache_value(prediction)
