"""How right the predictions were: the calibration report over matched predictions and outcomes.

Pure pandas/numpy on the frame `adapters.outcomes.matched_rows` returns (one row per user and
stage, with a `status`), so the JSON endpoint, an HTML page, Prometheus gauges or a notebook
build on the same numbers. Every metric is the `scorer.metrics` one; the two stages are never
summed together, so `stage` is always one of the grouping columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import metrics
from .coverage import MIN_JUDGED_USERS
from .outcome import ACTUAL

MATCHED = "matched"
"""An outcome with the newest prediction of a stage made before it."""
NO_PREDICTION = "no_prediction"
"""An outcome without any prediction made before it."""
OVERDUE = "overdue"
"""A prediction without an outcome although its install date is over OVERDUE_AFTER_DAYS old."""
AWAITING = "awaiting"
"""A prediction without an outcome yet, not overdue."""
STATUSES = (MATCHED, NO_PREDICTION, OVERDUE, AWAITING)
OVERDUE_AFTER_DAYS = 8
"""D7 revenue is known 7 days after install; a day more and a missing outcome is overdue."""
PREDICTION_DIMENSIONS = ("country", "platform", "source")
"""Install-record columns a report can group by (read from the prediction's input)."""
DIMENSIONS = (*PREDICTION_DIMENSIONS, "stage", "model_version", "install_date")
"""Every column a report can group by."""
ALWAYS_BY = ("stage",)
MIN_USERS = MIN_JUDGED_USERS
"""Segments with fewer matched users are marked `too_small`: their ratio, coverage and Gini are
mostly noise (the threshold at which the model card judges a segment's coverage)."""
PREDICTED = "predicted_revenue"
FIGURES: dict[str, tuple[type, str]] = {
    "users": (int, "Users with an outcome and a prediction of the segment's stage (matched)."),
    "predicted_sum": (float, "Sum of their predicted D7 revenue."),
    "actual_sum": (float, "Sum of their actual D7 revenue."),
    "ratio": (float, "predicted_sum / actual_sum: 1 means the cohort total is right."),
    "coverage": (float, "Share of matched users with uncertain revenue (interval not [0, 0]) "
                 "whose actual revenue lies inside the 80% interval."),
    "uncertain_users": (int, "Matched users whose interval is not [0, 0]."),
    "gini": (float, "Normalised Gini of the ranking (tied predictions in random order)."),
    "decile_mape": (float, "Mean relative gap between mean predicted and mean actual revenue "
                    "over the deciles of prediction rank."),
    "too_small": (bool, f"Fewer than {MIN_USERS} matched users: the figures are mostly noise."),
    NO_PREDICTION: (int, "Outcomes without any prediction made before them."),
    OVERDUE: (int, f"Predictions over {OVERDUE_AFTER_DAYS} days past install without an outcome."),
    AWAITING: (int, "Predictions whose outcome is not due yet."),
}  # fmt: skip
"""The report's figures per segment, after the grouping columns: type and meaning."""
COLUMNS = tuple(FIGURES)


def grouping(by: Sequence[str]) -> list[str]:
    """The grouping columns of a report `by` those dimensions: in DIMENSIONS order, stage always
    among them. Raises ValueError naming an unknown dimension."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {', '.join(unknown)}; use {', '.join(DIMENSIONS)}")
    wanted = set(by) | set(ALWAYS_BY)
    return [name for name in DIMENSIONS if name in wanted]


def _figures(matched: pd.DataFrame) -> dict[str, float]:
    actual, predicted = matched[ACTUAL].to_numpy(float), matched[PREDICTED].to_numpy(float)
    lower, upper = matched["lower"].to_numpy(float), matched["upper"].to_numpy(float)
    if not len(actual):
        return {}
    return {
        "coverage": metrics.uncertain_coverage(actual, lower, upper),
        "uncertain_users": int(np.sum(~((lower == 0) & (upper == 0)))),
        "gini": metrics.normalized_gini(actual, predicted),
        "decile_mape": metrics.decile_mape(actual, predicted) if actual.sum() > 0 else np.nan,
    }


def calibration_report(matched: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per segment: the grouping columns, then COLUMNS.

    `users` counts matched users; the sums, ratio (`metrics.total_ratio`), 80% interval
    coverage of the users whose revenue is uncertain, tie-robust normalised Gini and decile
    MAPE are over them. no_prediction, overdue and awaiting count the other rows of the segment
    (an outcome without a prediction has no stage, country or model: those are null).
    """
    keys = grouping(by)
    rows = []
    for values, segment in matched.groupby(keys, dropna=False, sort=True):
        done = segment[segment.status == MATCHED]
        counts = segment.status.value_counts()
        row = dict(zip(keys, values, strict=True))
        row |= {
            "users": len(done),
            "predicted_sum": float(done[PREDICTED].sum()),
            "actual_sum": float(done[ACTUAL].sum()),
            "ratio": metrics.total_ratio(done[ACTUAL], done[PREDICTED]) if len(done) else np.nan,
            **{"coverage": np.nan, "uncertain_users": 0, "gini": np.nan, "decile_mape": np.nan},
            **_figures(done),
            "too_small": len(done) < MIN_USERS,
        }
        row |= {status: int(counts.get(status, 0)) for status in STATUSES if status != MATCHED}
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *COLUMNS])


def decile_calibration(matched: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean predicted and actual revenue per decile of prediction rank (`metrics.decile_table`)
    in each segment of matched users: the grouping columns, decile, users, mean_pred, mean_true."""
    keys = grouping(by)
    done = matched[matched.status == MATCHED]
    parts = []
    for values, segment in done.groupby(keys, dropna=False, sort=True):
        table = metrics.decile_table(segment[ACTUAL], segment[PREDICTED]).reset_index()
        parts.append(table.assign(**dict(zip(keys, values, strict=True))))
    columns = [*keys, "decile", "users", "mean_pred", "mean_true"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
