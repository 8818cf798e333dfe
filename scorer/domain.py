"""What the training rows looked like, and the flags of records that fall outside it.

`TrainingDomain` holds the categories of each attribute and the range of each event count in the
training rows, and their distribution (`InputDistribution`, for the input drift of
`scorer.drift`); it is fitted with the model and stored in the bundle. `Flagger` compares one
record (`flags_one`, the request path: a few set lookups) or every row of a frame (`flags_frame`,
once per distinct value) with it, and flags users of the model card's anomalous countries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .flags import FLAGS, Flag
from .normalize import UNKNOWN, normalize
from .priors import SEPARATOR
from .schema import COUNT_COLUMNS

_BIT = {flag: 1 << position for position, flag in enumerate(FLAGS)}


def _os_number(value: Any) -> float:
    return normalize("os", value)[1]


CATEGORIES: dict[str, tuple[Flag, Callable[[Any], Any]]] = {
    "country": (Flag.UNSEEN_COUNTRY, lambda value: normalize("country", value)),
    "platform": (Flag.UNSEEN_PLATFORM, lambda value: normalize("platform", value)),
    "source": (Flag.UNSEEN_SOURCE, lambda value: normalize("source", value)),
    "device_family": (Flag.UNSEEN_DEVICE_FAMILY, lambda value: normalize("device", value)),
    "os_version": (Flag.UNSEEN_OS_VERSION, _os_number),
}
"""Record columns checked against the training categories: the flag, and the value as the
feature pipeline reads it (so a new spelling of a known value is not unseen). A blank value is
unknown, not unseen; a value the pipeline cannot read (platform `windows`, OS `beta`) is unseen,
even if training had some. The region is checked within its country (`region_key`)."""
UNREADABLE = frozenset({UNKNOWN, -1.0})
"""What the pipeline makes of a value it cannot read: never among the training categories."""


MISSING = "(missing)"
"""The bucket of a blank category (unknown is a value of its own, with its own share)."""
OTHER = "(other)"
"""The bucket of the long tail: every category rarer than MIN_CATEGORY_SHARE in training."""
MIN_CATEGORY_SHARE = 0.005
"""A category needs this share of the training rows for a bucket of its own."""
COUNT_QUANTILES = tuple(step / 10 for step in range(1, 10))
"""Quantiles of the known training values of each event count that cut it into bins."""


def category_label(column: str, value: Any) -> str:
    """A category as the pipeline reads it, as text (the bucket key): MISSING when blank."""
    if _blank(value):
        return MISSING
    return str(CATEGORIES[column][1](value))


@dataclass
class InputDistribution:
    """The training distribution of each input, without a single user row: the share of each
    common category (plus OTHER and MISSING), and for each event count the bin edges (deciles of
    its known values) with the share of known values in each bin."""

    category_shares: dict[str, dict[str, float]]
    count_edges: dict[str, list[float]]
    count_shares: dict[str, list[float]]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> InputDistribution:
        shares = {}
        for column in CATEGORIES:
            labels = frame[column].map(lambda value, c=column: category_label(c, value))
            found = labels.value_counts(normalize=True)
            common = found[(found >= MIN_CATEGORY_SHARE) | (found.index == MISSING)]
            shares[column] = {str(k): float(v) for k, v in common.items()}
            if len(common) < len(found):
                shares[column][OTHER] = float(found.drop(common.index).sum())
        edges, bins = {}, {}
        for column in COUNT_COLUMNS:
            values = frame[column].dropna().to_numpy(float)
            if not len(values):
                continue
            cuts = np.unique(np.quantile(values, COUNT_QUANTILES))
            edges[column] = cuts.tolist()
            bins[column] = (count_bins(values, cuts) / len(values)).tolist()
        return cls(shares, edges, bins)


def count_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """How many `values` fall in each bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    positions = np.searchsorted(np.asarray(edges, float), values, side="left")
    return np.bincount(positions, minlength=len(edges) + 1).astype(float)


def region_key(country: Any, region: Any) -> str | None:
    """The region as it is kept among the training categories: within its country."""
    if region is None or region != region or region is pd.NA:
        return None
    return normalize("country", country) + SEPARATOR + normalize("region", region)


def _blank(value: Any) -> bool:
    return value is None or value != value or value is pd.NA or value == ""


@dataclass
class TrainingDomain:
    """The categories of each attribute and the [min, max] of each count in the training rows,
    and their distribution (None in a bundle saved before it was stored: drift unavailable)."""

    categories: dict[str, frozenset] = field(default_factory=dict)
    count_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    distribution: InputDistribution | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> TrainingDomain:
        """From a validated training frame."""
        categories = {}
        for column, (_flag, read) in CATEGORIES.items():
            values = frame[column].dropna().unique()
            categories[column] = frozenset(read(value) for value in values) - UNREADABLE
        pairs = frame[["country", "country_region"]].dropna().drop_duplicates()
        categories["country_region"] = frozenset(
            region_key(country, region) for country, region in pairs.itertuples(index=False)
        )
        ranges = {}
        for column in COUNT_COLUMNS:
            values = frame[column].to_numpy(float)
            values = values[~np.isnan(values)]
            if len(values):
                ranges[column] = (float(values.min()), float(values.max()))
        return cls(categories, ranges, InputDistribution.fit(frame))

    def to_dict(self) -> dict:
        state = {
            "categories": {name: sorted(values) for name, values in self.categories.items()},
            "count_ranges": {name: list(bounds) for name, bounds in self.count_ranges.items()},
        }
        if self.distribution is not None:
            state["distribution"] = asdict(self.distribution)
        return state

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainingDomain:
        return cls(
            {name: frozenset(values) for name, values in data.get("categories", {}).items()},
            {name: (float(low), float(high)) for name, (low, high) in data["count_ranges"].items()},
            InputDistribution(**data["distribution"]) if data.get("distribution") else None,
        )


class Flagger:
    """The flags of one record (`flags_one`) or of every row of a frame (`flags_frame`).

    Only the categories and counts the domain holds are checked.
    """

    def __init__(self, domain: TrainingDomain | None, anomalous_countries=(), replaced=False):
        self.domain = domain or TrainingDomain()
        self.anomalous = frozenset(anomalous_countries)
        self.country_flag = (
            Flag.ANOMALOUS_COUNTRY_RATE_REPLACED if replaced else Flag.ANOMALOUS_COUNTRY_RATE
        )
        self.checks = [
            (column, flag, read, self.domain.categories[column])
            for column, (flag, read) in CATEGORIES.items()
            if column in self.domain.categories
        ]
        self.regions = self.domain.categories.get("country_region")
        self.ranges = [
            (column, low, high) for column, (low, high) in self.domain.count_ranges.items()
        ]

    def is_anomalous(self, country: Any) -> bool:
        return normalize("country", country) in self.anomalous

    # --- one record -----------------------------------------------------------------------
    def flags_one(self, record: Mapping[str, Any]) -> list[str]:
        """The flags of one validated record, in declaration order."""
        found = 0
        if self.anomalous and self.is_anomalous(record.get("country")):
            found |= _BIT[self.country_flag]
        for column, flag, read, known in self.checks:
            value = record.get(column)
            if value is not None and read(value) not in known:
                found |= _BIT[flag]
        if self.regions is not None:
            key = region_key(record.get("country"), record.get("country_region"))
            if key is not None and key not in self.regions:
                found |= _BIT[Flag.UNSEEN_REGION]
        for column, low, high in self.ranges:
            value = record.get(column)
            if value is None or value != value:
                continue
            if value > high:
                found |= _BIT[Flag.EVENT_COUNT_ABOVE_TRAINING]
            elif value < low:
                found |= _BIT[Flag.EVENT_COUNT_BELOW_TRAINING]
        return _codes(found) if found else []

    # --- many records ---------------------------------------------------------------------
    def flags_frame(self, frame: pd.DataFrame) -> list[list[str]]:
        """The flags of every row of a validated frame (computed once per distinct value)."""
        count = len(frame)
        found = np.zeros(count, dtype=np.int64)
        if self.anomalous:
            country = frame["country"].to_numpy()
            found |= _per_distinct(country, self.is_anomalous) * _BIT[self.country_flag]
        for column, flag, read, known in self.checks:
            unseen = _per_distinct(
                frame[column].to_numpy(), lambda v, r=read, k=known: not _blank(v) and r(v) not in k
            )
            found |= unseen * _BIT[flag]
        if self.regions is not None:
            unseen = _per_distinct_pair(
                frame["country"].to_numpy(),
                frame["country_region"].to_numpy(),
                lambda country, region: (
                    (key := region_key(country, region)) is not None and key not in self.regions
                ),
            )
            found |= unseen * _BIT[Flag.UNSEEN_REGION]
        for column, low, high in self.ranges:
            values = frame[column].to_numpy(float)
            found |= (values > high) * _BIT[Flag.EVENT_COUNT_ABOVE_TRAINING]
            found |= (values < low) * _BIT[Flag.EVENT_COUNT_BELOW_TRAINING]
        distinct, rows = np.unique(found, return_inverse=True)
        lists = np.empty(len(distinct), dtype=object)
        for position, bits in enumerate(distinct):
            lists[position] = _codes(int(bits))
        # rows with the same flags share one list (nothing downstream changes a flag list): a
        # list per row cost more than every flag check together
        return lists[rows.ravel()].tolist()


def _per_distinct(values: np.ndarray, test: Callable[[Any], bool]) -> np.ndarray:
    """`test` applied once per distinct value (None/NaN included), as 0/1 integers per row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.zeros(len(uniques) + 1, dtype=np.int64)
    for position, value in enumerate(uniques):
        table[position] = bool(test(value))
    table[-1] = bool(test(None))
    return table[codes]


def _per_distinct_pair(
    first: np.ndarray, second: np.ndarray, test: Callable[[Any, Any], bool]
) -> np.ndarray:
    """`test` applied once per distinct pair of values, as 0/1 integers per row."""
    first_codes, first_values = pd.factorize(first, use_na_sentinel=True)
    second_codes, second_values = pd.factorize(second, use_na_sentinel=True)
    first_values = [*first_values, None]
    second_values = [*second_values, None]
    width = len(second_values)
    pair = (first_codes % len(first_values)) * width + second_codes % width
    distinct, rows = np.unique(pair, return_inverse=True)
    table = np.array(
        [bool(test(first_values[p // width], second_values[p % width])) for p in distinct],
        dtype=np.int64,
    )
    return table[rows.ravel()] if len(table) else np.zeros(len(first), dtype=np.int64)


def _codes(bits: int) -> list[str]:
    return [str(flag) for flag in FLAGS if bits & _BIT[flag]]
