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
from .prediction import names_of

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
PREDICTED, LOWER, UPPER = names_of(float)
"""The prediction and its interval bounds, as `scorer.prediction` names them."""
FLAGS = ("inside", "uncertain")
"""`metrics.interval_flags` as columns, which a matched frame may hold instead of the bounds."""
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


def _segment(actual, predicted, inside, uncertain) -> dict[str, float]:
    """The figures of one segment's matched users (decile_mape comes from its decile table)."""
    return {
        "users": len(actual),
        "predicted_sum": float(predicted.sum()),
        "actual_sum": float(actual.sum()),
        "ratio": metrics.total_ratio(actual, predicted),
        "coverage": metrics.flagged_coverage(inside, uncertain),
        "uncertain_users": int(uncertain.sum()),
        "gini": metrics.normalized_gini(actual, predicted),
        "decile_mape": np.nan,
        "too_small": len(actual) < MIN_USERS,
    }


def _segments(matched: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[dict]]:
    """Each row's segment number, and each segment's grouping values (null kept as None), in
    sorted order: one factorisation per column, far cheaper than grouping by several."""
    factors = [pd.factorize(matched[key], sort=True, use_na_sentinel=False) for key in keys]
    shape = [len(uniques) for _, uniques in factors]
    flat = np.ravel_multi_index([codes for codes, _ in factors], shape) if keys else np.zeros(
        len(matched), int
    )  # fmt: skip
    present, codes = np.unique(flat, return_inverse=True)
    positions = np.unravel_index(present, shape)
    named = [
        {
            key: None if pd.isna(uniques[index[number]]) else uniques[index[number]]
            for key, (_, uniques), index in zip(keys, factors, positions, strict=True)
        }
        for number in range(len(present))
    ]
    return codes.reshape(-1), named


def calibration_tables(
    matched: pd.DataFrame, by: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`calibration_report` and `decile_calibration` in one pass (each sorts every segment)."""
    keys = grouping(by)
    codes, segments = _segments(matched, keys)
    status = pd.Categorical(matched.status, categories=STATUSES).codes
    counts = np.zeros((len(segments), len(STATUSES)), int)
    np.add.at(counts, (codes, status), 1)
    done = np.flatnonzero(status == STATUSES.index(MATCHED))
    order = done[np.argsort(codes[done], kind="stable")]
    bounds = np.searchsorted(codes[order], np.arange(len(segments) + 1))
    actual, predicted = matched[ACTUAL].to_numpy(float), matched[PREDICTED].to_numpy(float)
    if LOWER in matched:
        flags = metrics.interval_flags(actual, matched[LOWER], matched[UPPER])
    else:  # a lean fetch brings the flags, computed by the database
        flags = tuple(matched[name].to_numpy(float) == 1 for name in FLAGS)
    values = [actual, predicted, *flags]
    tables = metrics.decile_tables(actual[order], predicted[order], codes[order])
    rows, deciles = [], []
    for number, named in enumerate(segments):
        positions = order[bounds[number] : bounds[number + 1]]
        figures = _segment(*(column[positions] for column in values))
        if len(positions):
            table = tables.loc[number]
            if figures["actual_sum"] > 0:
                figures["decile_mape"] = metrics.table_mape(table)
            deciles.append(table.reset_index().assign(**named))
        others = dict(zip(STATUSES[1:], counts[number, 1:].tolist(), strict=True))
        rows.append(named | figures | others)
    columns = [*keys, "decile", "users", "mean_pred", "mean_true"]
    table = (
        pd.concat(deciles, ignore_index=True)[columns] if deciles else pd.DataFrame(columns=columns)
    )
    return pd.DataFrame(rows, columns=[*keys, *COLUMNS]), table


def calibration_report(matched: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per segment: the grouping columns, then COLUMNS. `matched` holds ACTUAL,
    PREDICTED, status, the grouping columns, and lower and upper (or FLAGS).

    `users` counts matched users; the sums, ratio (`metrics.total_ratio`), 80% interval
    coverage of the users whose revenue is uncertain, tie-robust normalised Gini and decile
    MAPE are over them. no_prediction, overdue and awaiting count the other rows of the segment
    (an outcome without a prediction has no stage, country or model: those are null).
    """
    return calibration_tables(matched, by)[0]


def decile_calibration(matched: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean predicted and actual revenue per decile of prediction rank (`metrics.decile_table`)
    in each segment of matched users: the grouping columns, decile, users, mean_pred, mean_true."""
    return calibration_tables(matched, by)[1]
