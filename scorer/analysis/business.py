"""A business reading of the predictions: a simple bid simulation and what to monitor.

The bid simulation is deliberately plain: at a given cost per install (CPI), a flat bid buys
every user; a value bid buys a user only when the predicted D7 revenue divided by the target ROAS
covers the CPI; perfect foresight (the actual revenue) bounds what any model could do. Each buy
costs the CPI. Users, their revenue and the predictions come from cross-validation, so the model
never saw the users it bids on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

FLAT, PERFECT = "flat bid", "perfect foresight"


def roas_simulation(
    revenue: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    cpi_levels: Iterable[float],
    target_roas: float = 1.0,
) -> pd.DataFrame:
    """Installs bought, spend, D7 revenue, ROAS and D7 profit per CPI level and bid rule.

    Rules: a flat bid, one value bid per named prediction (`value bid: <name>`) and perfect
    foresight. A value bid buys a user when prediction / target ROAS >= CPI and pays the CPI.
    """
    revenue = np.asarray(revenue, float)
    rows = []
    for cpi in cpi_levels:
        bought = {FLAT: np.ones(len(revenue), bool)}
        for name, predicted in predictions.items():
            bought[f"value bid: {name}"] = np.asarray(predicted, float) / target_roas >= cpi
        bought[PERFECT] = revenue / target_roas >= cpi
        for rule, buy in bought.items():
            spend = cpi * buy.sum()
            earned = float(revenue[buy].sum())
            rows.append(
                {
                    "cpi": cpi,
                    "rule": rule,
                    "installs": int(buy.sum()),
                    "share bought": float(buy.mean()),
                    "spend": spend,
                    "d7 revenue": earned,
                    "d7 roas": earned / spend if spend > 0 else np.nan,
                    "d7 profit": earned - spend,
                }
            )
    return pd.DataFrame(rows)


def population_stability(expected, actual, bins: int = 10) -> float:
    """Population stability index of `actual` against `expected`: numbers are cut at the
    expected quantiles, anything else is compared category by category. Above ~0.1 is a shift."""
    expected, actual = pd.Series(expected).dropna(), pd.Series(actual).dropna()
    if pd.api.types.is_numeric_dtype(expected) and expected.nunique() > bins:
        edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
        expected = pd.Series(np.searchsorted(edges, expected, side="right"))
        actual = pd.Series(np.searchsorted(edges, actual, side="right"))
    share_e = expected.value_counts(normalize=True)
    share_a = actual.value_counts(normalize=True)
    keys = share_e.index.union(share_a.index)
    floor = 1e-4  # a category absent on one side counts as very rare, not impossible
    e = share_e.reindex(keys).fillna(0).clip(lower=floor).to_numpy()
    a = share_a.reindex(keys).fillna(0).clip(lower=floor).to_numpy()
    return float(np.sum((a - e) * np.log(a / e)))


def cohort_noise(
    monitored: pd.DataFrame,
    revenue: np.ndarray,
    predicted: np.ndarray,
    cohort_size: int,
    draws: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """How much monitored quantities move between two random cohorts of `cohort_size` users of
    the same population, i.e. without any real change: the floor under alert thresholds.

    `monitored` holds the input columns to watch (normalised); the quantities are the PSI of each
    column between the two cohorts and the second cohort's total predicted / actual revenue.
    """
    rng = np.random.default_rng(seed)
    revenue, predicted = np.asarray(revenue, float), np.asarray(predicted, float)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        first, second = (rng.choice(len(revenue), cohort_size, replace=False) for _ in range(2))
        for column in monitored.columns:
            values.setdefault(f"PSI of {column}", []).append(
                population_stability(monitored[column].iloc[first], monitored[column].iloc[second])
            )
        ratio = predicted[second].sum() / max(revenue[second].sum(), 1e-12)
        values.setdefault("cohort predicted / actual", []).append(ratio)
    table = pd.DataFrame(values)
    return pd.DataFrame(
        {
            "median": table.median(),
            "95th percentile": table.quantile(0.95),
            "5th percentile": table.quantile(0.05),
        }
    )
