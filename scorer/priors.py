"""Shrunk log rates along a hierarchy of categories (for example country, then platform).

A rate is a ratio of sums, such as revenue per ad-event exposure or revenue per user. Each group's
log rate is pulled towards its parent's by `k` pseudo-users, so a group seen a few times says
little and a well-populated group speaks for itself; a value never seen falls back to its parent.
The top of the hierarchy is the user-weighted median over first-level groups, so one group with an
extreme rate (a country reporting in another unit, say) does not move everybody else's prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SEPARATOR = "\x1f"
"""Joins the category values of one group into a single dictionary key."""
SMOOTHING_USERS = 0.5
"""Pseudo-users at the parent's rate added to every group so that a group without revenue
gets a finite log rate."""


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


@dataclass
class LogRateTable:
    levels: tuple[str, ...]
    k: float
    top: float = 0.0
    table: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        keys: pd.DataFrame,
        numerator: np.ndarray,
        denominator: np.ndarray,
        levels: Sequence[str],
        k: float,
    ) -> LogRateTable:
        """Fit on normalised category columns `keys[levels]` and per-row rate components."""
        frame = pd.DataFrame(
            {"num": np.asarray(numerator, float), "den": np.asarray(denominator, float)}
        )
        frame["key"] = ""
        result = cls(tuple(levels), float(k))
        for depth, level in enumerate(levels):
            joined = keys[level].astype(str).to_numpy()
            frame["key"] = joined if depth == 0 else frame["key"] + SEPARATOR + joined
            groups = frame.groupby("key", sort=True).agg(
                num=("num", "sum"), den=("den", "sum"), users=("num", "size")
            )
            if depth == 0:
                raw = np.log(np.maximum(groups.num, 1e-300) / np.maximum(groups.den, 1e-300))
                usable = (groups.num > 0) & (groups.den > 0)
                result.top = _weighted_median(
                    raw[usable].to_numpy(), groups.users[usable].to_numpy(float)
                )
                parent = pd.Series(result.top, index=groups.index)
            else:
                parent_key = groups.index.str.rsplit(SEPARATOR, n=1).str[0]
                parent = pd.Series([result.table[p] for p in parent_key], index=groups.index)
            parent_rate = np.exp(parent)
            mean_den = groups.den / groups.users
            smoothed = np.log(
                (groups.num + SMOOTHING_USERS * mean_den * parent_rate)
                / (groups.den + SMOOTHING_USERS * mean_den)
            )
            shrunk = (groups.users * smoothed + k * parent) / (groups.users + k)
            result.table.update(zip(groups.index, shrunk.to_numpy(float), strict=True))
        return result

    def lookup_one(self, values: Sequence[str]) -> float:
        """Log rate of one group given its normalised category values, one per level."""
        value, key = self.top, ""
        for depth, part in enumerate(values):
            key = part if depth == 0 else key + SEPARATOR + part
            found = self.table.get(key)
            if found is None:
                break
            value = found
        return value

    def to_dict(self) -> dict:
        return {"levels": list(self.levels), "k": self.k, "top": self.top, "table": self.table}

    @classmethod
    def from_dict(cls, data: dict) -> LogRateTable:
        return cls(tuple(data["levels"]), float(data["k"]), float(data["top"]), dict(data["table"]))
