"""Input drift: how far recent predictions' inputs are from the training distribution.

The statistic is the population stability index (PSI) of each input, over the buckets the bundle
stored (`domain.InputDistribution`): sum((observed - expected) * ln(observed / expected)). It
is a few lines of numpy, works the same for categories and binned counts, and comes with the
thresholds the industry reads it by (DRIFT_THRESHOLDS), which the alerts reuse. Besides the PSI,
the share of values of each category the training rows never had (unseen) is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .domain import (
    MISSING,
    OTHER,
    UNREADABLE,
    InputDistribution,
    TrainingDomain,
    category_label,
    count_bins,
)

MODERATE_PSI = 0.1
"""PSI from which an input has moved enough to look at (the usual rule of thumb)."""
MAJOR_PSI = 0.25
"""PSI from which an input has shifted a lot: predictions for it are less reliable."""
MIN_DRIFT_ROWS = 100
"""Fewer recent values than this: the PSI is mostly noise, the row is marked too_small."""
SHARE_FLOOR = 1e-4
"""Empty buckets count as this share, so the logarithm stays finite."""
DRIFT_WINDOW_DAYS = 1
"""Days of predictions a drift report compares by default: today's (UTC)."""
DRIFT_SAMPLE_ROWS = 50_000
"""At most this many of the newest predictions of the window are compared: a PSI is as sharp
with them as with millions, and reading them stays well under a second."""
ANY = "any"
"""The `feature` of the row giving the share of predictions with at least one unseen category."""
DRIFT_COLUMNS: dict[str, tuple[type, str]] = {
    "feature": (str, f"The input (a record column), or {ANY!r} for the unseen share of rows."),
    "kind": (str, "category, count, or rows."),
    "values": (int, "Recent values compared (known counts only, for a count)."),
    "psi": (float, "Population stability index against the training distribution."),
    "unseen_share": (float, "Share of recent values the training rows never had (categories)."),
    "too_small": (bool, f"Fewer than {MIN_DRIFT_ROWS} values: the PSI is mostly noise."),
    "level": (str, f"stable (PSI < {MODERATE_PSI}), moderate, major (PSI >= {MAJOR_PSI}), or "
                     "unknown (no PSI: no values, or the `any` row)."),
}  # fmt: skip
"""The columns of a drift report, with their type and meaning."""


def population_stability(expected: np.ndarray, observed: np.ndarray) -> float:
    """PSI of observed counts against expected shares (same buckets); NaN without observations."""
    expected = np.asarray(expected, float)
    observed = np.asarray(observed, float)
    if observed.sum() <= 0:
        return float("nan")
    want = np.maximum(expected / expected.sum(), SHARE_FLOOR)
    have = np.maximum(observed / observed.sum(), SHARE_FLOOR)
    return float(np.sum((have - want) * np.log(have / want)))


def drift_level(psi: float) -> str:
    if psi != psi:
        return "unknown"
    return "major" if psi >= MAJOR_PSI else "moderate" if psi >= MODERATE_PSI else "stable"


def _row(feature, kind, values, psi, unseen) -> dict:
    return {
        "feature": feature,
        "kind": kind,
        "values": int(values),
        "psi": psi,
        "unseen_share": unseen,
        "too_small": values < MIN_DRIFT_ROWS,
        "level": drift_level(psi),
    }


def _category_row(column: str, shares: Mapping[str, float], labels: pd.Series, known) -> dict:
    buckets = labels.where(labels.isin(list(shares)), OTHER).value_counts()
    observed = np.array([buckets.get(name, 0) for name in shares], float)
    expected = np.array(list(shares.values()), float)
    if OTHER not in shares and buckets.get(OTHER, 0):  # a tail training never had
        observed = np.append(observed, buckets[OTHER])
        expected = np.append(expected, 0.0)
    unseen = _unseen(column, labels, known)
    share = float(unseen.mean()) if len(labels) else float("nan")
    return _row(column, "category", len(labels), population_stability(expected, observed), share)


def _unseen(column: str, labels: pd.Series, known) -> pd.Series:
    """Per value: neither blank nor among the training categories (as the flags see them)."""
    if known is None:
        return pd.Series(False, index=labels.index)
    names = {str(value) for value in known}
    unreadable = {str(value) for value in UNREADABLE}
    return (labels != MISSING) & (~labels.isin(names) | labels.isin(unreadable))


def drift_report(
    domain: TrainingDomain | None, inputs: pd.DataFrame | Sequence[Mapping]
) -> pd.DataFrame | None:
    """One row per input (DRIFT_COLUMNS) comparing `inputs` (record columns, one row or dict per
    recent prediction) with the training distribution, then an ANY row: the share of rows with
    at least one unseen category. None when the bundle stored no distribution."""
    distribution: InputDistribution | None = domain.distribution if domain else None
    if distribution is None:
        return None
    if not isinstance(inputs, pd.DataFrame):
        inputs = pd.DataFrame(list(inputs))
    rows, unseen_any = [], pd.Series(False, index=inputs.index)
    for column, shares in distribution.category_shares.items():
        values = inputs[column] if column in inputs else pd.Series(None, index=inputs.index)
        labels = values.map(lambda value, c=column: category_label(c, value))
        rows.append(_category_row(column, shares, labels, domain.categories.get(column)))
        unseen_any |= _unseen(column, labels, domain.categories.get(column))
    for column, edges in distribution.count_edges.items():
        given = inputs[column] if column in inputs else pd.Series(None, index=inputs.index)
        values = pd.to_numeric(given, errors="coerce").dropna().to_numpy(float)
        psi = population_stability(distribution.count_shares[column], count_bins(values, edges))
        rows.append(_row(column, "count", len(values), psi, float("nan")))
    share = float(unseen_any.mean()) if len(inputs) else float("nan")
    rows.append(_row(ANY, "rows", len(inputs), float("nan"), share))
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
