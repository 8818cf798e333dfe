"""Descriptive facts of the training data, for the exploration and data-quality stages.

Revenue here behaves like ad revenue: a rate (by country, platform, device) times an exposure
(event_2 + event_3). These functions measure that shape and the one country that breaks it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..metrics import normalized_gini
from ..normalize import map_unique
from ..quality import country_rates


def exposure(frame: pd.DataFrame) -> np.ndarray:
    """event_2 + event_3 (NaN where event_3 is unknown)."""
    return frame["event_2"].to_numpy(float) + frame["event_3"].to_numpy(float)


def exposure_facts(frame: pd.DataFrame, revenue: np.ndarray) -> pd.Series:
    """Users without ad exposure and users whose event_3 is unknown, with their revenue."""
    revenue = np.asarray(revenue, float)
    event_2, event_3 = frame["event_2"].to_numpy(float), frame["event_3"].to_numpy(float)
    none = (event_2 == 0) & (event_3 == 0)
    unknown = np.isnan(event_3)
    return pd.Series(
        {
            "users with event_2 = event_3 = 0": int(none.sum()),
            "... of whom with revenue > 0": int((none & (revenue > 0)).sum()),
            "users with event_3 unknown": int(unknown.sum()),
            "... of whom with event_2 = 0": int((unknown & (event_2 == 0)).sum()),
            "... of whom with event_2 = 0 and revenue > 0": int(
                (unknown & (event_2 == 0) & (revenue > 0)).sum()
            ),
            "users with revenue > 0 and event_2 = 0": int(((event_2 == 0) & (revenue > 0)).sum()),
        }
    )


def row_order(revenue: np.ndarray, blocks: int = 8) -> pd.DataFrame:
    """Mean revenue and zero share by consecutive blocks of rows of the file. An ordered file makes
    unshuffled splits misleading, and tied predictions too (they are ranked in file order)."""
    revenue = np.asarray(revenue, float)
    block = np.arange(len(revenue)) * blocks // len(revenue) + 1
    table = (
        pd.DataFrame({"block of rows": block, "revenue": revenue})
        .groupby("block of rows")
        .agg(
            users=("revenue", "size"),
            mean_revenue=("revenue", "mean"),
            zero_share=("revenue", lambda r: float(np.mean(r == 0))),
        )
    )
    return table


def file_order_gini(revenue: np.ndarray) -> float:
    """Normalised Gini of the file order itself, first rows ranked first (0 for a shuffled file)."""
    return normalized_gini(revenue, -np.arange(len(revenue), dtype=float))


def top_share(revenue: np.ndarray, share: float = 0.01) -> float:
    """Share of total revenue carried by the top `share` of users."""
    revenue = np.sort(np.asarray(revenue, float))[::-1]
    count = max(1, int(round(share * len(revenue))))
    return float(revenue[:count].sum() / revenue.sum())


def revenue_summary(revenue: np.ndarray, subsets: dict[str, np.ndarray]) -> pd.DataFrame:
    """Users, zero share, quantiles, total and top-1% share of revenue for each subset of rows."""
    revenue = np.asarray(revenue, float)
    rows = {}
    for name, keep in subsets.items():
        values = revenue[keep]
        rows[name] = {
            "users": len(values),
            "zero share": float(np.mean(values == 0)),
            "median": float(np.median(values)),
            "mean": float(values.mean()),
            "p99": float(np.quantile(values, 0.99)),
            "max": float(values.max()),
            "total": float(values.sum()),
            "top 1% share of revenue": top_share(values, 0.01),
        }
    return pd.DataFrame(rows).T


def forecast_by_statistic(revenue: np.ndarray) -> pd.DataFrame:
    """A cohort's total revenue forecast as users x mean and as users x median, against the
    actual total: why a prediction for bidding and forecasts must be the mean."""
    revenue = np.asarray(revenue, float)
    actual = float(revenue.sum())
    rows = {
        name: {"forecast total": len(revenue) * value, "actual total": actual}
        for name, value in (("mean", revenue.mean()), ("median", np.median(revenue)))
    }
    table = pd.DataFrame(rows).T
    table["forecast / actual"] = table["forecast total"] / actual
    return table


def user_rates(frame: pd.DataFrame, revenue: np.ndarray) -> pd.DataFrame:
    """Per user with exposure: normalised country, platform, brand, region and revenue/exposure."""
    exposed = exposure(frame)
    keep = np.nan_to_num(exposed) > 0
    return pd.DataFrame(
        {
            "country": map_unique(frame["country"], "country").to_numpy()[keep],
            "platform": map_unique(frame["platform"], "platform").to_numpy()[keep],
            "brand": map_unique(frame["device_family"], "brand").to_numpy()[keep],
            "region": map_unique(frame["country_region"], "region").to_numpy()[keep],
            "rate": np.asarray(revenue, float)[keep] / exposed[keep],
        }
    )


def rate_spread(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    by: Iterable[str] = ("country", "platform"),
    min_users: int = 50,
) -> pd.DataFrame:
    """How constant revenue per exposure is inside each group: median rate and the spread of log
    rates (std; 0.05 means about 5% user-to-user noise). Groups under `min_users` are left out."""
    rates = user_rates(frame, revenue)
    rates = rates[rates.rate > 0]
    rates["log_rate"] = np.log(rates.rate)
    table = rates.groupby(list(by)).agg(
        users=("rate", "size"), median_rate=("rate", "median"), log_rate_std=("log_rate", "std")
    )
    return table[table.users >= min_users].sort_values("users", ascending=False)


def rate_vs_typical(frame: pd.DataFrame, revenue: np.ndarray, min_users: int = 20) -> pd.DataFrame:
    """Country revenue per event_2 and its ratio to the median country's (countries with
    at least `min_users` users), largest ratio first."""
    table = country_rates(frame, revenue)
    table = table[table.users >= min_users].copy()
    table["times_typical"] = table.rate / table.rate.median()
    return table.sort_values("times_typical", ascending=False)


def anomaly_profile(
    frame: pd.DataFrame, revenue: np.ndarray, countries: Iterable[str]
) -> pd.DataFrame:
    """The anomalous countries' users beside everybody else's: same behaviour, other scale?"""
    countries = list(countries)
    country = map_unique(frame["country"], "country").to_numpy()
    inside = np.isin(country, countries)
    revenue = np.asarray(revenue, float)
    exposed = exposure(frame)
    rows = {}
    for name, keep in ((", ".join(countries) or "none", inside), ("all other countries", ~inside)):
        usable = keep & (np.nan_to_num(exposed) > 0) & (revenue > 0)
        rate = revenue[usable] / exposed[usable]
        rows[name] = {
            "users": int(keep.sum()),
            "share of total revenue": float(revenue[keep].sum() / revenue.sum()),
            "zero-revenue share": float(np.mean(revenue[keep] == 0)),
            "median event_2": float(np.median(frame["event_2"].to_numpy(float)[keep])),
            "median revenue": float(np.median(revenue[keep])),
            "median revenue per exposure": float(np.median(rate)),
            "std of log revenue per exposure": float(np.std(np.log(rate), ddof=1)),
        }
    return pd.DataFrame(rows)


def rate_breakdown(
    frame: pd.DataFrame, revenue: np.ndarray, country: str, by: str, top: int = 8
) -> pd.DataFrame:
    """Inside one country, revenue per exposure by `by` (platform, region, brand), each as a
    multiple of the median rate of users elsewhere: is the anomaly everywhere or in one corner?"""
    rates = user_rates(frame, revenue)
    typical = float(rates.loc[(rates.country != country) & (rates.rate > 0), "rate"].median())
    inside = rates[rates.country == country]
    table = inside.groupby(by).agg(users=("rate", "size"), median_rate=("rate", "median"))
    table["times_typical"] = table.median_rate / typical
    return table.sort_values("users", ascending=False).head(top)


def segment_revenue(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    column: str,
    rows: np.ndarray | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """What one attribute alone says: users, zero share and mean revenue per normalised value."""
    kind = {"device_family": "brand", "country_region": "region"}.get(column, column)
    keep = np.ones(len(frame), bool) if rows is None else rows
    data = pd.DataFrame(
        {
            column: map_unique(frame[column], kind).to_numpy()[keep],
            "revenue": np.asarray(revenue, float)[keep],
        }
    )
    table = data.groupby(column).agg(
        users=("revenue", "size"),
        zero_share=("revenue", lambda r: float(np.mean(r == 0))),
        mean_revenue=("revenue", "mean"),
    )
    table = table.sort_values("users", ascending=False)
    return table.head(top) if top else table


def matched_examples(
    frame: pd.DataFrame, revenue: np.ndarray, country: str, count: int = 3, seed: int = 0
) -> pd.DataFrame:
    """A few users of `country` beside users elsewhere with the nearest event_2 (for reading;
    user ids dropped)."""
    names = map_unique(frame["country"], "country").to_numpy()
    shown = frame.drop(columns="user_id").assign(revenue=np.asarray(revenue, float))
    rng = np.random.default_rng(seed)
    inside = np.flatnonzero((names == country) & (frame["event_2"].to_numpy() > 0))
    picked = rng.choice(inside, size=min(count, len(inside)), replace=False)
    others = np.flatnonzero(names != country)
    event_2 = frame["event_2"].to_numpy(float)
    twins = [others[np.argmin(np.abs(event_2[others] - event_2[i]))] for i in picked]
    return pd.concat(
        [shown.iloc[picked].assign(group=country), shown.iloc[twins].assign(group="elsewhere")]
    ).reset_index(drop=True)
