"""Data-quality checks of a training frame: the facts the notebook reports and training records.

The most important one is `rate_anomalies`: revenue per event_2 is nearly constant within a
country, so a country whose rate sits orders of magnitude away from all others points to a unit or
currency error upstream (or to a population unlike any other), and is reported separately.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normalize import map_unique
from .schema import COUNT_COLUMNS, TARGET, TEXT_COLUMNS

MIN_COUNTRY_USERS = 20
"""Countries with fewer users are too noisy to call anomalous."""
ANOMALY_Z = 8.0
"""Robust z-score (median / MAD of country log rates) beyond which a country is anomalous."""


def country_rates(frame: pd.DataFrame, revenue: np.ndarray) -> pd.DataFrame:
    """Users, revenue, event_2 and revenue per event_2 by normalised country."""
    data = pd.DataFrame(
        {
            "country": map_unique(frame["country"], "country").to_numpy(),
            "revenue": np.asarray(revenue, float),
            "event_2": frame["event_2"].to_numpy(float),
        }
    )
    table = data.groupby("country").agg(
        users=("revenue", "size"), revenue=("revenue", "sum"), event_2=("event_2", "sum")
    )
    table["rate"] = table.revenue / table.event_2.where(table.event_2 > 0)
    return table.sort_values("users", ascending=False)


def rate_anomalies(frame: pd.DataFrame, revenue: np.ndarray) -> list[str]:
    """Countries whose revenue per event_2 is far outside every other country's."""
    table = country_rates(frame, revenue)
    table = table[(table.users >= MIN_COUNTRY_USERS) & (table.rate > 0)]
    if len(table) < 3:
        return []
    log_rate = np.log(table.rate)
    median = log_rate.median()
    mad = 1.4826 * (log_rate - median).abs().median()
    z = (log_rate - median) / max(mad, 1e-9)
    return sorted(table.index[z.abs() > ANOMALY_Z])


def missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank values per column, as a count and a share."""
    blanks = frame.isna().sum()
    return pd.DataFrame({"missing": blanks, "share": blanks / len(frame)})


def spelling_variants(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Raw spellings that normalise to the same value (e.g. 'iOS' and 'ios')."""
    kind = {"platform": "platform", "source": "source", "country": "country"}.get(column, "device")
    raw = frame[column].dropna()
    table = pd.DataFrame({"raw": raw, "normalised": map_unique(raw, kind)})
    counts = table.value_counts().rename("users").reset_index()
    spellings = counts.groupby("normalised")["raw"].transform("nunique")
    return counts[spellings > 1].sort_values(["normalised", "users"], ascending=[True, False])


def os_version_formats(frame: pd.DataFrame) -> pd.Series:
    """How OS versions are written: number of dot-separated parts, by platform."""
    parts = frame["os_version"].dropna().astype(str).str.count(r"\.") + 1
    platform = map_unique(frame.loc[parts.index, "platform"], "platform")
    return pd.crosstab(platform, parts.rename("parts"))


def impossible_values(frame: pd.DataFrame, revenue: np.ndarray | None = None) -> pd.Series:
    """Counts of values the contract forbids (negative counts or revenue, duplicated user ids)."""
    checks = {f"{c} < 0": int((frame[c] < 0).sum()) for c in COUNT_COLUMNS}
    if revenue is not None:
        checks[f"{TARGET} < 0"] = int((np.asarray(revenue) < 0).sum())
    checks["duplicated user_id"] = int(frame["user_id"].dropna().duplicated().sum())
    checks["revenue > 0 with no exposure"] = (
        int(((np.asarray(revenue) > 0) & (frame["event_2"] == 0) & (frame["event_3"] == 0)).sum())
        if revenue is not None
        else 0
    )
    return pd.Series(checks)


def distinct_values(frame: pd.DataFrame) -> pd.Series:
    return frame[list(TEXT_COLUMNS)].nunique()
