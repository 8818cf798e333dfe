"""Rows of the `predictions` table as the store saves them, for tests that fill it by hand."""

from __future__ import annotations

from datetime import datetime


def prediction_row(user_id: str, event_id: str, revenue: float, when: datetime, **fields) -> dict:
    """An install-stage prediction of `revenue` in [revenue / 2, revenue * 2] made at `when`,
    with no flags; `fields` replace the defaults (source, input, model_version, ...)."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "source": "stream",
        "stage": "install",
        "input": {"country": "US"},
        "predicted_revenue": revenue,
        "lower": revenue / 2,
        "upper": revenue * 2,
        "model_version": "v-test",
        "created_at": when,
        "flags": [],
        **fields,
    }
