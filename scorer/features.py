"""The feature pipeline, shared by training and serving.

Revenue here is, to a close approximation, ad exposure (event_2 + event_3) times a rate that
depends on country, platform and device. So the early-events model predicts
`exp(trees(x) + prior_log_rate + log(exposure))`: the offset carries the exposure and a shrunk
country x platform rate (fitted on the training rows), and the trees learn the corrections. The
install model has no exposure, only a shrunk country x platform revenue-per-user prior as offset.
Users with no exposure at all (event_2 = event_3 = 0) are structural zeros: they generate no ad
revenue, and none did in the training data.

Every attribute feature is computed by one scalar function (`_attribute_part`, `_prior_keys`);
`build_row` calls it for one record and `build_frame` calls it once per distinct value of a
column, then spreads the results over the rows. One implementation, so no training/serving skew,
and the batch path costs little more than a few array gathers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .normalize import UNKNOWN, normalize
from .priors import LogRateTable
from .schema import STAGE_EVENTS, STAGE_INSTALL

MIN_BRAND_USERS = 20
"""A brand needs this many training users to get its own code; rarer ones share code -1."""
PRIOR_LEVELS = ("country", "platform")
"""Hierarchy of both priors (deeper levels, by brand, OS or region, did not help in CV)."""
MIN_EXPOSURE = 1e-12
"""Floor of the exposure inside the log offset (structural zeros are set to 0 separately)."""

DEVICE_SOURCE_FEATURES = ("ios", "brand", "tablet", "os_major", "os_number", "organic")
"""The device and media-source features, shared by both stages in this order."""
EVENTS_FEATURES = (
    "event_1",
    "event_2",
    "event_3",
    "event_3_unknown",
    *DEVICE_SOURCE_FEATURES,
    "prior_log_rate",
)
INSTALL_FEATURES = (*DEVICE_SOURCE_FEATURES, "prior_log_revenue")
MONOTONE_INCREASING = ("event_2", "event_3")
"""More ad events never lower the predicted rate, hence never the predicted revenue (the offset
grows with exposure too). The rate is flat in exposure in the data, so this costs nothing."""

_PLATFORM_CODE = {"ios": 1.0, "android": 0.0, UNKNOWN: -1.0}
_SOURCE_CODE = {"organic": 1.0, "non-organic": 0.0, UNKNOWN: -1.0}


def per_distinct(values: np.ndarray, function: Callable[[Any], Any], dtype=float) -> np.ndarray:
    """`function` applied once per distinct value of `values` (None/NaN included), spread back."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=dtype)
    for position, value in enumerate(uniques):
        table[position] = function(value)
    table[-1] = function(None)
    return table[codes]


def structural_zero(event_2: np.ndarray, event_3: np.ndarray) -> np.ndarray:
    """Users known to have had no ad exposure at all."""
    return (event_2 == 0) & (event_3 == 0)


@dataclass
class FeaturePipeline:
    """Fitted state of the features: brand codes, the two priors, the event_3 stand-in."""

    brand_codes: dict[str, int]
    rate_prior: LogRateTable
    revenue_prior: LogRateTable
    event_3_slope: float
    event_3_intercept: float
    """An unknown event_3 is taken as `event_3_slope * event_2 + event_3_intercept`: the slope of
    the least-squares line on users whose event_3 is known, the intercept from the revenue of the
    training users with no event_2 and an unknown event_3 (their exposure is all event_3)."""

    # --- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, frame: pd.DataFrame, revenue: np.ndarray, k_rate: float, k_revenue: float
    ) -> FeaturePipeline:
        """Fit on a validated training frame and its revenue."""
        revenue = np.asarray(revenue, float)
        keys = pd.DataFrame(
            {
                "country": per_distinct(frame["country"].to_numpy(), _country, object),
                "platform": per_distinct(frame["platform"].to_numpy(), _platform, object),
            }
        )
        brands = pd.Series(per_distinct(frame["device_family"].to_numpy(), _brand, object))
        counts = brands.value_counts()
        common = sorted(counts.index[counts >= MIN_BRAND_USERS])
        event_2, event_3 = frame["event_2"].to_numpy(float), frame["event_3"].to_numpy(float)
        exposed = event_2 + event_3
        known = ~np.isnan(exposed) & (exposed > 0)
        rate_prior = LogRateTable.fit(
            keys[known], revenue[known], exposed[known], PRIOR_LEVELS, k_rate
        )
        revenue_prior = LogRateTable.fit(
            keys, revenue, np.ones(len(frame)), PRIOR_LEVELS, k_revenue
        )
        both = ~np.isnan(exposed)
        slope, intercept = np.polyfit(event_2[both], event_3[both], 1) if both.sum() > 2 else (0, 0)
        hidden = (event_2 == 0) & np.isnan(event_3)
        if hidden.any():  # what their revenue says their unknown event_3 was, on average
            rates = [np.exp(rate_prior.lookup_one(k)) for k in keys[hidden].itertuples(index=False)]
            intercept = revenue[hidden].sum() / np.sum(rates)
        return cls(
            {brand: code for code, brand in enumerate(common)},
            rate_prior,
            revenue_prior,
            float(max(slope, 0.0)),
            float(max(intercept, 0.0)),
        )

    def guess_event_3(self, event_2):
        """The stand-in for an unknown event_3 (scalar or array)."""
        return self.event_3_slope * event_2 + self.event_3_intercept

    # --- the scalar rules, used by both paths ----------------------------------------------
    def _device_part(self, device: Any) -> tuple[float, float]:
        brand = _brand(device)
        return float(self.brand_codes.get(brand, -1)), normalize("tablet", device)

    def _priors(self, country: Any, platform: Any) -> tuple[float, float]:
        keys = (_country(country), _platform(platform))
        return self.rate_prior.lookup_one(keys), self.revenue_prior.lookup_one(keys)

    # --- one row ---------------------------------------------------------------------------
    def build_row(self, record: Mapping[str, Any]) -> tuple[str, np.ndarray, float, bool]:
        """Features of one validated record: (stage, float32 row, offset, structural zero)."""
        platform = record.get("platform")
        brand, tablet = self._device_part(record.get("device_family"))
        os_major, os_number = normalize("os", record.get("os_version"))
        shared = [_PLATFORM_CODE[_platform(platform)], brand, tablet, os_major, os_number]
        shared.append(_SOURCE_CODE[normalize("source", record.get("source"))])
        prior_rate, prior_revenue = self._priors(record.get("country"), platform)
        event_2 = record.get("event_2")
        if event_2 is None or event_2 != event_2:
            row = np.array(shared + [prior_revenue], dtype=np.float32)
            return STAGE_INSTALL, row, prior_revenue, False
        event_2 = float(event_2)
        event_1 = record.get("event_1")
        event_1 = 0.0 if event_1 is None or event_1 != event_1 else float(event_1)
        event_3 = record.get("event_3")
        unknown_3 = event_3 is None or event_3 != event_3
        known_3 = 0.0 if unknown_3 else float(event_3)
        exposed = event_2 + (self.guess_event_3(event_2) if unknown_3 else known_3)
        row = np.array(
            [event_1, event_2, known_3, float(unknown_3)] + shared + [prior_rate], dtype=np.float32
        )
        offset = prior_rate + np.log(max(exposed, MIN_EXPOSURE))
        zero = not unknown_3 and event_2 == 0 and known_3 == 0
        return STAGE_EVENTS, row, float(offset), zero

    # --- many rows -------------------------------------------------------------------------
    def build_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Features of every row of a validated frame, for both stages.

        Returns `install` and `events` float32 matrices, their float64 offsets, the boolean
        `has_events` (event_2 known) and `zero` (structural zero) masks.
        """
        count = len(frame)
        platform = frame["platform"].to_numpy()
        device = per_distinct(frame["device_family"].to_numpy(), self._device_part, object)
        os_parts = per_distinct(
            frame["os_version"].to_numpy(), lambda v: normalize("os", v), object
        )
        shared = np.empty((count, 6))
        shared[:, 0] = per_distinct(platform, lambda v: _PLATFORM_CODE[_platform(v)])
        shared[:, 1:3] = np.array(device.tolist()).reshape(count, 2)
        shared[:, 3:5] = np.array(os_parts.tolist()).reshape(count, 2)
        shared[:, 5] = per_distinct(
            frame["source"].to_numpy(), lambda v: _SOURCE_CODE[normalize("source", v)]
        )
        priors = self._priors_per_pair(frame["country"].to_numpy(), platform)
        event_2 = frame["event_2"].to_numpy(float)
        has_events = ~np.isnan(event_2)
        event_2 = np.where(has_events, event_2, 0.0)
        event_1 = np.nan_to_num(frame["event_1"].to_numpy(float), nan=0.0)
        event_3 = np.where(has_events, frame["event_3"].to_numpy(float), 0.0)
        unknown_3 = np.isnan(event_3)
        known_3 = np.where(unknown_3, 0.0, event_3)
        exposed = event_2 + np.where(unknown_3, self.guess_event_3(event_2), known_3)
        events = np.empty((count, len(EVENTS_FEATURES)), dtype=np.float32)
        events[:, :4] = np.column_stack([event_1, event_2, known_3, unknown_3])
        events[:, 4:10] = shared
        events[:, 10] = priors[:, 0]
        install = np.empty((count, len(INSTALL_FEATURES)), dtype=np.float32)
        install[:, :6] = shared
        install[:, 6] = priors[:, 1]
        return {
            "install": install,
            "install_offset": priors[:, 1],
            "events": events,
            "events_offset": priors[:, 0] + np.log(np.maximum(exposed, MIN_EXPOSURE)),
            "has_events": has_events,
            "zero": has_events & structural_zero(event_2, np.where(unknown_3, np.nan, known_3)),
        }

    def _priors_per_pair(self, country: np.ndarray, platform: np.ndarray) -> np.ndarray:
        """(rate, revenue) priors of every row, computed once per distinct (country, platform)."""
        country_codes, countries = pd.factorize(country, use_na_sentinel=True)
        platform_codes, platforms = pd.factorize(platform, use_na_sentinel=True)
        countries = list(countries) + [None]
        platforms = list(platforms) + [None]
        pair = (country_codes % len(countries)) * len(platforms) + platform_codes % len(platforms)
        distinct, rows = np.unique(pair, return_inverse=True)
        table = np.array(
            [
                self._priors(countries[p // len(platforms)], platforms[p % len(platforms)])
                for p in distinct
            ]
        ).reshape(len(distinct), 2)
        return table[rows]

    # --- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "brand_codes": self.brand_codes,
            "rate_prior": self.rate_prior.to_dict(),
            "revenue_prior": self.revenue_prior.to_dict(),
            "event_3_slope": self.event_3_slope,
            "event_3_intercept": self.event_3_intercept,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeaturePipeline:
        return cls(
            {str(k): int(v) for k, v in data["brand_codes"].items()},
            LogRateTable.from_dict(data["rate_prior"]),
            LogRateTable.from_dict(data["revenue_prior"]),
            float(data["event_3_slope"]),
            float(data["event_3_intercept"]),
        )


def _country(value: Any) -> str:
    return normalize("country", value)


def _platform(value: Any) -> str:
    return normalize("platform", value)


def _brand(value: Any) -> str:
    return normalize("brand", value)
