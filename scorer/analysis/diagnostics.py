"""Evaluation tables beyond the scalar metrics: calibration and interval coverage by segment.

Segments are the normalised attribute values (so 'iOS' and 'ios' are one platform), and segments
too small to judge are flagged rather than hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..normalize import map_unique

SEGMENT_KINDS = {"country": "country", "platform": "platform", "source": "source"}
MIN_SEGMENT_USERS = 30
"""Segments with fewer users are flagged `too_small`: their ratios are mostly noise."""


def normalised_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """Country, platform and source as the model reads them (lower case, blanks = unknown)."""
    return pd.DataFrame(
        {column: map_unique(frame[column], kind) for column, kind in SEGMENT_KINDS.items()},
        index=frame.index,
    )


def calibration_by_segment(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    column: str,
    min_users: int = MIN_SEGMENT_USERS,
    top: int | None = None,
) -> pd.DataFrame:
    """Total predicted / total actual per segment of `column` (scorer.metrics), largest first."""
    table = metrics.segment_calibration(
        normalised_segments(frame), y_true, y_pred, column, min_users
    )
    return table.head(top) if top else table


def coverage_by_segment(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    column: str,
    min_users: int = MIN_SEGMENT_USERS,
    top: int | None = None,
) -> pd.DataFrame:
    """Share of users inside their 80% interval per segment, with the segment's size."""
    inside = (np.asarray(y_true) >= np.asarray(lower)) & (np.asarray(y_true) <= np.asarray(upper))
    data = pd.DataFrame(
        {"segment": normalised_segments(frame)[column].to_numpy(), "inside": inside}
    )
    table = data.groupby("segment").agg(users=("inside", "size"), coverage=("inside", "mean"))
    table.index.name = column
    table["too_small"] = table.users < min_users
    table = table.sort_values("users", ascending=False)
    return table.head(top) if top else table


def coverage_by_prediction(
    y_true: np.ndarray, y_pred: np.ndarray, lower: np.ndarray, upper: np.ndarray, bins: int = 10
) -> pd.DataFrame:
    """Coverage and median interval width (relative to the prediction) per prediction decile."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    rank = np.argsort(np.argsort(y_pred, kind="stable"), kind="stable")
    data = pd.DataFrame(
        {
            "decile": rank * bins // len(y_pred) + 1,
            "true": y_true,
            "pred": y_pred,
            "inside": (y_true >= lower) & (y_true <= upper),
            "width": (upper - lower) / np.where(y_pred > 0, y_pred, np.nan),
        }
    )
    return data.groupby("decile").agg(
        users=("true", "size"),
        mean_pred=("pred", "mean"),
        mean_true=("true", "mean"),
        coverage=("inside", "mean"),
        median_relative_width=("width", "median"),
    )


def residual_summary(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Quantiles of true / predicted for users with a positive prediction: the multiplicative
    error the intervals have to cover."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    positive = y_pred > 0
    ratio = y_true[positive] / y_pred[positive]
    quantiles = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    return pd.DataFrame(
        {"true / predicted": np.quantile(ratio, quantiles)},
        index=pd.Index([f"q{int(q * 100):02d}" for q in quantiles], name="quantile"),
    )
