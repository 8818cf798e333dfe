"""80% prediction intervals that hold per segment: Mondrian split-conformal on `true / predicted`.

Revenue errors are multiplicative (a rate times an exposure), so the conformity score is the
ratio of true to predicted revenue, and an interval is the prediction times two quantiles of it.
The quantiles are calibrated separately in every segment (Mondrian conformal prediction: stage x
country group x platform x exposure bucket), on out-of-fold predictions, with crepes' conformal
predictive system at fit time. A segment with too few calibration users borrows the quantiles of
the finest coarser segment that has enough. Serving is a lookup in the resulting dense table.

Users with no ad exposure at all are certain zeros with interval [0, 0] and are left out of the
calibration: the 80% is for the users whose revenue is uncertain. Where a segment holds many true
zeros (the install stage), the interval starts at 0 and its upper end is the 80% quantile; at
install the upper end is never below the predicted mean.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from crepes import ConformalPredictiveSystem

from .features import per_distinct
from .normalize import UNKNOWN, normalize
from .schema import STAGE_INSTALL, STAGES

PLATFORMS = ("android", "ios", UNKNOWN)
OTHER_COUNTRIES = "other"
ANOMALOUS_COUNTRIES = "anomalous"
MIN_COUNTRY_USERS = 50
"""A country needs this many training users to be a country group of its own."""
MIN_CELL_USERS = 30
"""A segment needs this many calibration users (certain zeros apart) for quantiles of its own."""
EXPOSURE_QUANTILES = (0.25, 0.5, 0.75)
"""Edges of the exposure buckets: these quantiles of the exposure of exposed training users."""
BUCKET_NAMES = ("at install", "event_3 unknown")
"""Buckets 0 and 1; bucket 2 + i holds exposures from edge i - 1 up to edge i."""
LEVELS = ((0, 1, 2, 3), (0, 1, 3), (0, 1), (0, 3), (0,))
"""Segment dimensions (stage, country group, platform, exposure bucket), finest first."""


def exposure(event_2: Any, event_3: Any) -> float:
    """Ad exposure event_2 + event_3, NaN where either is unknown."""
    if event_2 is None or event_3 is None:
        return math.nan
    return float(event_2) + float(event_3)


@dataclass
class MondrianIntervals:
    coverage: float
    countries: dict[str, int]
    """Normalised country -> index in `group_names`; any other country is group 0 (other)."""
    group_names: list[str]
    exposure_edges: list[float]
    low: list
    """Ratio quantiles, nested [stage][group][platform][bucket] (stage in `schema.STAGES` order)."""
    high: list

    def __post_init__(self):
        self._low, self._high = np.asarray(self.low, float), np.asarray(self.high, float)

    # --- the segment of a user --------------------------------------------------------------
    def bucket(self, stage: str, exposed: float) -> int:
        if stage == STAGE_INSTALL:
            return 0
        if exposed != exposed:
            return 1
        return 2 + bisect.bisect_right(self.exposure_edges, exposed)

    def segment_one(self, stage: str, country: Any, platform: Any, exposed: float) -> tuple:
        """(stage, group, platform, bucket) indices of one user's segment."""
        return (
            STAGES.index(stage),
            self.countries.get(normalize("country", country), 0),
            PLATFORMS.index(normalize("platform", platform)),
            self.bucket(stage, exposed),
        )

    def segments(self, has_events, country, platform, event_2, event_3) -> np.ndarray:
        """Vectorised `segment_one`: an (n, 4) integer array."""
        has_events = np.asarray(has_events, bool)
        exposed = np.asarray(event_2, float) + np.asarray(event_3, float)
        buckets = 2 + np.searchsorted(self.exposure_edges, exposed, side="right")
        buckets = np.where(np.isnan(exposed), 1, buckets)
        return np.column_stack(
            [
                np.where(has_events, STAGES.index("early_events"), STAGES.index(STAGE_INSTALL)),
                per_distinct(
                    country, lambda c: self.countries.get(normalize("country", c), 0), int
                ),
                per_distinct(platform, lambda p: PLATFORMS.index(normalize("platform", p)), int),
                np.where(has_events, buckets, 0),
            ]
        )

    def segment_name(self, segment) -> str:
        stage, group, platform, bucket = (int(v) for v in segment)
        if bucket < 2:
            where = BUCKET_NAMES[bucket]
        else:
            edges = [0.0, *self.exposure_edges, math.inf]
            where = f"exposure {edges[bucket - 2]:g}-{edges[bucket - 1]:g}"
        return f"{STAGES[stage]} | {self.group_names[group]} | {PLATFORMS[platform]} | {where}"

    # --- bounds -----------------------------------------------------------------------------
    def bounds_one(self, segment: tuple, predicted: float) -> tuple[float, float]:
        if predicted <= 0:
            return 0.0, 0.0
        stage, group, platform, bucket = segment
        return (
            predicted * self.low[stage][group][platform][bucket],
            predicted * self.high[stage][group][platform][bucket],
        )

    def bounds(self, segments: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `bounds_one` over the rows of `segments()`."""
        index = tuple(segments.T)
        positive = predicted > 0
        lower = np.where(positive, predicted * self._low[index], 0.0)
        upper = np.where(positive, predicted * self._high[index], 0.0)
        return lower, upper

    # --- fitting ----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        has_events: np.ndarray,
        country: np.ndarray,
        platform: np.ndarray,
        event_2: np.ndarray,
        event_3: np.ndarray,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        coverage: float = 0.8,
        anomalous: tuple[str, ...] = (),
    ) -> MondrianIntervals:
        """Calibrate on out-of-fold predictions, one row per user and stage it was predicted at.

        Rows predicted exactly 0 are certain zeros: [0, 0] covers them, they calibrate nothing.
        """
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        names = per_distinct(country, lambda c: normalize("country", c), object)
        install = ~np.asarray(has_events, bool)
        # every user once: the install rows, or the events rows where there are no others
        counted, sizes = np.unique(names[install] if install.any() else names, return_counts=True)
        counts = dict(zip(counted, sizes, strict=True))
        own = sorted(c for c, n in counts.items() if n >= MIN_COUNTRY_USERS and c not in anomalous)
        group_names = [OTHER_COUNTRIES, *own] + ([ANOMALOUS_COUNTRIES] if anomalous else [])
        groups = {c: i + 1 for i, c in enumerate(own)}
        groups |= {c: len(group_names) - 1 for c in anomalous}
        exposed = np.asarray(event_2, float) + np.asarray(event_3, float)
        known = np.asarray(has_events, bool) & (exposed > 0)
        edges = np.quantile(exposed[known], EXPOSURE_QUANTILES) if known.any() else []
        shape = (len(STAGES), len(group_names), len(PLATFORMS), 3 + len(edges))
        result = cls(coverage, groups, group_names, sorted(set(map(float, edges))), [], [])
        segments = result.segments(has_events, country, platform, event_2, event_3)
        used = y_pred > 0
        low, high = np.full(shape, np.nan), np.full(shape, np.nan)
        for level in LEVELS:
            quantiles = _segment_quantiles(
                segments[used][:, level], y_true[used], y_pred[used], coverage
            )
            for cell in np.ndindex(shape):
                key = tuple(cell[d] for d in level)
                if np.isnan(low[cell]) and key in quantiles:
                    low[cell], high[cell] = quantiles[key]
        low, high = np.nan_to_num(low, nan=0.0), np.nan_to_num(high, nan=1.0)
        high[STAGES.index(STAGE_INSTALL)] = np.maximum(high[STAGES.index(STAGE_INSTALL)], 1.0)
        result.low, result.high = low.tolist(), high.tolist()
        result.__post_init__()
        return result

    def to_dict(self) -> dict:
        return {
            "coverage": self.coverage,
            "countries": self.countries,
            "group_names": self.group_names,
            "exposure_edges": self.exposure_edges,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MondrianIntervals:
        return cls(
            float(data["coverage"]),
            {str(k): int(v) for k, v in data["countries"].items()},
            list(data["group_names"]),
            [float(e) for e in data["exposure_edges"]],
            data["low"],
            data["high"],
        )


def _segment_quantiles(
    keys: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, coverage: float
) -> dict[tuple, tuple[float, float]]:
    """(low, high) ratio quantiles of each segment with at least MIN_CELL_USERS rows."""
    labels, codes = np.unique(keys, axis=0, return_inverse=True)
    codes = codes.ravel()
    sizes = np.bincount(codes, minlength=len(labels))
    keep = sizes[codes] >= MIN_CELL_USERS
    if not keep.any():
        return {}
    tail = (1.0 - coverage) / 2.0
    system = ConformalPredictiveSystem().fit(
        y_true[keep] - y_pred[keep], sigmas=y_pred[keep], bins=codes[keep]
    )
    present = np.unique(codes[keep])
    # the predictive distribution of a prediction of 1 is the distribution of true / predicted
    ones = np.ones(len(present))
    low_tail, high_tail, high_all = system.predict(
        ones,
        sigmas=ones,
        bins=present,
        lower_percentiles=[100 * tail],
        higher_percentiles=[100 * (1 - tail), 100 * coverage],
        seed=0,
    ).T
    result = {}
    for i, code in enumerate(present):
        zeros = float(np.mean(y_true[codes == code] == 0))
        bounds = (0.0, high_all[i]) if zeros >= tail else (max(low_tail[i], 0.0), high_tail[i])
        result[tuple(int(v) for v in labels[code])] = (float(bounds[0]), float(bounds[1]))
    return result
