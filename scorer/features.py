"""The feature pipeline, shared by training and serving.

Revenue here is, to a close approximation, ad exposure (event_2 + event_3) times a rate that
depends on country, platform and device. So the early-events model predicts
`exp(trees(x) + prior_log_rate + log(exposure))`: the offset carries the exposure and a shrunk
country x platform rate (fitted on the training rows), and the trees learn the corrections. The
install model has no exposure, only a shrunk country x platform revenue-per-user prior as offset.
Users with no exposure at all (event_2 = event_3 = 0) are structural zeros: they generate no ad
revenue, and none did in the training data.

`build_frame` (a whole DataFrame, vectorised) and `build_row` (one record, scalar) produce the
same features from the same normalisation rules; the tests hold them to equality.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .normalize import UNKNOWN, map_unique, normalize
from .priors import LogRateTable

UNKNOWN_EVENT_3 = 0.5
"""Exposure added for an unknown event_3 count (the trees learn the rest from the flag)."""
MIN_BRAND_USERS = 20
"""A brand needs this many training users to get its own code; rarer ones share code -1."""
PRIOR_LEVELS = ("country", "platform")

EVENTS_FEATURES = (
    "event_1",
    "event_2",
    "event_3",
    "event_3_unknown",
    "log_exposure",
    "event_3_share",
    "ios",
    "brand",
    "tablet",
    "os_major",
    "os_number",
    "organic",
    "prior_log_rate",
)
INSTALL_FEATURES = (
    "ios",
    "brand",
    "tablet",
    "os_major",
    "os_number",
    "organic",
    "prior_log_revenue",
)

_PLATFORM_CODE = {"ios": 1.0, "android": 0.0, UNKNOWN: -1.0}
_SOURCE_CODE = {"organic": 1.0, "non-organic": 0.0, UNKNOWN: -1.0}


def normalized_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """The normalised categories of every row: the keys of priors and codes."""
    os_parts = map_unique(frame["os_version"], "os")
    return pd.DataFrame(
        {
            "country": map_unique(frame["country"], "country"),
            "platform": map_unique(frame["platform"], "platform"),
            "source": map_unique(frame["source"], "source"),
            "brand": map_unique(frame["device_family"], "brand"),
            "tablet": map_unique(frame["device_family"], "tablet").astype(float),
            "os_major": os_parts.str[0].astype(float),
            "os_number": os_parts.str[1].astype(float),
        },
        index=frame.index,
    )


def exposure(event_2: np.ndarray, event_3: np.ndarray) -> np.ndarray:
    """Ad exposure: event_2 + event_3, with `UNKNOWN_EVENT_3` standing in for an unknown event_3."""
    return event_2 + np.where(np.isnan(event_3), UNKNOWN_EVENT_3, event_3)


def structural_zero(event_2: np.ndarray, event_3: np.ndarray) -> np.ndarray:
    """Users known to have had no ad exposure at all."""
    return (event_2 == 0) & (event_3 == 0)


@dataclass
class FeaturePipeline:
    """Fitted state of the features: brand codes and the two priors."""

    brand_codes: dict[str, int]
    rate_prior: LogRateTable
    revenue_prior: LogRateTable

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, revenue: np.ndarray, k_rate: float, k_revenue: float
    ) -> FeaturePipeline:
        """Fit on a validated training frame and its revenue."""
        attributes = normalized_attributes(frame)
        revenue = np.asarray(revenue, float)
        counts = attributes["brand"].value_counts()
        common = sorted(counts.index[counts >= MIN_BRAND_USERS])
        event_2, event_3 = frame["event_2"].to_numpy(float), frame["event_3"].to_numpy(float)
        known = ~np.isnan(event_2) & ~np.isnan(event_3) & (event_2 + event_3 > 0)
        rate_prior = LogRateTable.fit(
            attributes[known],
            revenue[known],
            (event_2 + event_3)[known],
            PRIOR_LEVELS,
            k_rate,
        )
        revenue_prior = LogRateTable.fit(
            attributes, revenue, np.ones(len(frame)), PRIOR_LEVELS, k_revenue
        )
        return cls({brand: code for code, brand in enumerate(common)}, rate_prior, revenue_prior)

    # --- many rows -------------------------------------------------------------------------
    def build_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Features of every row of a validated frame, for both stages.

        Returns `install` and `events` float32 matrices, their float64 offsets, the boolean
        `has_events` (event_2 known) and `zero` (structural zero) masks.
        """
        attributes = normalized_attributes(frame)
        event_1 = np.nan_to_num(frame["event_1"].to_numpy(float), nan=0.0)
        event_2 = frame["event_2"].to_numpy(float)
        event_3 = frame["event_3"].to_numpy(float)
        has_events = ~np.isnan(event_2)
        event_2 = np.nan_to_num(event_2, nan=0.0)
        event_3 = np.where(has_events, event_3, 0.0)
        unknown_3 = np.isnan(event_3)
        exposed = exposure(event_2, event_3)
        ios = attributes["platform"].map(_PLATFORM_CODE).to_numpy(float)
        brand = attributes["brand"].map(self.brand_codes).fillna(-1.0).to_numpy(float)
        organic = attributes["source"].map(_SOURCE_CODE).to_numpy(float)
        shared = [ios, brand, attributes["tablet"].to_numpy(float)]
        shared += [attributes["os_major"].to_numpy(float), attributes["os_number"].to_numpy(float)]
        shared.append(organic)
        prior_rate = self.rate_prior.lookup(attributes)
        prior_revenue = self.revenue_prior.lookup(attributes)
        known_3 = np.where(unknown_3, 0.0, event_3)
        events = np.column_stack(
            [event_1, event_2, known_3, unknown_3.astype(float), np.log1p(exposed)]
            + [known_3 / np.maximum(event_2 + known_3, 1.0)]
            + shared
            + [prior_rate]
        ).astype(np.float32)
        install = np.column_stack(shared + [prior_revenue]).astype(np.float32)
        return {
            "install": install,
            "install_offset": prior_revenue,
            "events": events,
            "events_offset": prior_rate + np.log(np.maximum(exposed, 1e-12)),
            "has_events": has_events,
            "zero": has_events & structural_zero(event_2, event_3),
        }

    # --- one row ---------------------------------------------------------------------------
    def build_row(self, record: Mapping[str, Any]) -> tuple[str, np.ndarray, float, bool]:
        """Features of one validated record: (stage, float32 row, offset, structural zero)."""
        country = normalize("country", record.get("country"))
        platform = normalize("platform", record.get("platform"))
        device = record.get("device_family")
        os_major, os_number = normalize("os", record.get("os_version"))
        keys = (country, platform)
        shared = [
            _PLATFORM_CODE[platform],
            float(self.brand_codes.get(normalize("brand", device), -1)),
            normalize("tablet", device),
            os_major,
            os_number,
            _SOURCE_CODE[normalize("source", record.get("source"))],
        ]
        event_2 = record.get("event_2")
        if event_2 is None or event_2 != event_2:
            prior = self.revenue_prior.lookup_one(keys)
            return "install", np.array(shared + [prior], dtype=np.float32), prior, False
        event_2 = float(event_2)
        event_1 = record.get("event_1")
        event_1 = 0.0 if event_1 is None or event_1 != event_1 else float(event_1)
        event_3 = record.get("event_3")
        unknown_3 = event_3 is None or event_3 != event_3
        known_3 = 0.0 if unknown_3 else float(event_3)
        exposed = event_2 + (UNKNOWN_EVENT_3 if unknown_3 else known_3)
        prior = self.rate_prior.lookup_one(keys)
        row = [event_1, event_2, known_3, float(unknown_3), math.log1p(exposed)]
        row.append(known_3 / max(event_2 + known_3, 1.0))
        row += shared
        row.append(prior)
        offset = prior + math.log(max(exposed, 1e-12))
        zero = not unknown_3 and event_2 == 0 and known_3 == 0
        return "early_events", np.array(row, dtype=np.float32), offset, zero

    def to_dict(self) -> dict:
        return {
            "brand_codes": self.brand_codes,
            "rate_prior": self.rate_prior.to_dict(),
            "revenue_prior": self.revenue_prior.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeaturePipeline:
        return cls(
            {str(k): int(v) for k, v in data["brand_codes"].items()},
            LogRateTable.from_dict(data["rate_prior"]),
            LogRateTable.from_dict(data["revenue_prior"]),
        )
