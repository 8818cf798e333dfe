"""80% prediction intervals from out-of-fold ratios of true to predicted revenue.

Revenue errors are multiplicative (a rate times an exposure), so the interval is the prediction
times two quantiles of `true / predicted`, measured on out-of-fold predictions and kept per group
(stage x platform) and per bin of predicted value: wide for the install stage, narrow for iOS users
with events.

Coverage is marginal, as in split conformal prediction: in each group, `coverage` of all users
fall inside their interval. Users with no ad exposure are certain zeros with interval [0, 0], so
the users with exposure of the same group share the rest of the miss budget. Where a bin holds
many true zeros (the install stage), the interval starts at 0 and its upper end is the `coverage`
quantile, since an equal-tailed interval would cover the zeros and more than intended.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

MIN_BIN_USERS = 150
"""Each bin of predicted value holds at least this many out-of-fold users."""
MAX_BINS = 10


def _ratio_bounds(ratio: np.ndarray, coverage: float) -> tuple[float, float]:
    """Quantiles of `true / predicted` holding `coverage` of the users between them."""
    tail = (1.0 - coverage) / 2.0
    if np.mean(ratio == 0) >= tail:
        return 0.0, float(np.quantile(ratio, coverage))
    return float(np.quantile(ratio, tail)), float(np.quantile(ratio, 1.0 - tail))


@dataclass
class RatioIntervals:
    coverage: float
    edges: dict[str, list[float]] = field(default_factory=dict)
    low: dict[str, list[float]] = field(default_factory=dict)
    high: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, groups: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, coverage: float = 0.8
    ) -> RatioIntervals:
        """Fit on out-of-fold predictions; `groups` names each row's group (stage:platform).

        Rows predicted exactly 0 are structural zeros (covered with certainty by [0, 0]).
        """
        result = cls(coverage)
        usable = y_pred > 0
        for group in np.unique(groups[usable]):
            in_group = groups == group
            rows = usable & in_group
            certain = (in_group & ~usable & (y_true == 0)).sum()
            target = (coverage * in_group.sum() - certain) / rows.sum()
            target = float(np.clip(target, 0.5, coverage))
            log_pred = np.log(y_pred[rows])
            ratio = y_true[rows] / y_pred[rows]
            bins = int(max(1, min(MAX_BINS, rows.sum() // MIN_BIN_USERS)))
            inner = np.quantile(log_pred, np.linspace(0, 1, bins + 1)[1:-1])
            edges = sorted(set(inner.tolist()))
            which = np.searchsorted(edges, log_pred, side="right")
            result.edges[group] = edges
            bounds = [_ratio_bounds(ratio[which == b], target) for b in range(len(edges) + 1)]
            result.low[group] = [low for low, _ in bounds]
            result.high[group] = [high for _, high in bounds]
        return result

    def _fallback(self, group: str) -> str | None:
        if group in self.edges:
            return group
        stage = group.split(":")[0]
        candidates = [g for g in self.edges if g.startswith(stage + ":")]
        return max(candidates, key=lambda g: len(self.edges[g]), default=None)

    def bounds_one(self, group: str, predicted: float) -> tuple[float, float]:
        key = self._fallback(group)
        if predicted <= 0 or key is None:
            return 0.0, 0.0
        b = bisect.bisect_right(self.edges[key], float(np.log(predicted)))
        return predicted * self.low[key][b], predicted * self.high[key][b]

    def bounds(
        self, names: list[str], group: np.ndarray, predicted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `bounds_one`: row i belongs to group `names[group[i]]`."""
        lower, upper = np.zeros(len(predicted)), np.zeros(len(predicted))
        positive = predicted > 0
        log_pred = np.log(np.where(positive, predicted, 1.0))
        for code in np.unique(group):
            key = self._fallback(names[code])
            rows = positive & (group == code)
            if key is None or not rows.any():
                continue
            which = np.searchsorted(self.edges[key], log_pred[rows], side="right")
            lower[rows] = predicted[rows] * np.asarray(self.low[key])[which]
            upper[rows] = predicted[rows] * np.asarray(self.high[key])[which]
        return lower, upper

    def to_dict(self) -> dict:
        return {"coverage": self.coverage, "edges": self.edges, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict) -> RatioIntervals:
        return cls(float(data["coverage"]), data["edges"], data["low"], data["high"])
