"""Evaluation metrics for D7 revenue predictions, shared by the CLI, the notebook and the tests.

Every function takes plain arrays (true revenue first, then predictions) and returns floats, so
the same code scores a cross-validation fold, a held-out file or a notebook experiment. Every
rank-based metric treats tied predictions as in random order, never in file order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr


def mae(y_true, y_pred) -> float:
    return float(np.mean(np.abs(np.asarray(y_true) - np.asarray(y_pred))))


def rmse(y_true, y_pred) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))


def r2(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    total = np.sum((y_true - y_true.mean()) ** 2)
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / total) if total > 0 else float("nan")


def spearman(y_true, y_pred) -> float:
    if np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return float("nan")
    return float(spearmanr(y_true, y_pred).statistic)


def _tie_averaged_gains(y_true: np.ndarray, order_by: np.ndarray) -> np.ndarray:
    """Revenue of the users sorted by `order_by` descending, each tie group at its mean revenue.

    That is the expected gain curve when tied users come in random order: file order, which
    can carry revenue, never decides a rank.
    """
    order = np.argsort(-order_by, kind="stable")
    ranked = order_by[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    sizes = np.diff(np.r_[starts, len(ranked)])
    means = np.add.reduceat(y_true[order], starts) / sizes
    return np.repeat(means, sizes)


def _gain_area(y_true: np.ndarray, order_by: np.ndarray) -> float:
    """Twice the area between the gain curve (users sorted by `order_by` descending, drawn
    through the origin) and the diagonal: 0 for a random order, negative for a reversed one."""
    cumulative = np.cumsum(_tie_averaged_gains(y_true, order_by)) / y_true.sum()
    return 2.0 * float(cumulative.mean()) - 1.0 - 1.0 / len(y_true)


def normalized_gini(y_true, y_pred) -> float:
    """Gini of the gain curve ranked by prediction, divided by that of the perfect ranking.

    Tied predictions count as in random order (see `_tie_averaged_gains`): a constant
    prediction scores 0 whatever the row order.
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.sum() <= 0:
        return float("nan")
    return _gain_area(y_true, y_pred) / _gain_area(y_true, y_true)


def gain_curve(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Share of users (x) against cumulative share of revenue they carry (y), best first,
    tied predictions in random order (their mean revenue)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    share_users = np.arange(1, len(y_true) + 1) / len(y_true)
    return share_users, np.cumsum(_tie_averaged_gains(y_true, y_pred)) / y_true.sum()


def rank_deciles(y_pred, bins: int = 10) -> np.ndarray:
    """Decile (1 = lowest) of each prediction by its rank; tied predictions share their mean
    rank, so a tie group is never split between deciles by file order."""
    y_pred = np.asarray(y_pred, float)
    mean_rank = rankdata(y_pred, method="average") - 1.0
    return np.minimum(np.floor(mean_rank * bins / len(y_pred)).astype(int), bins - 1) + 1


def decile_table(y_true, y_pred, bins: int = 10) -> pd.DataFrame:
    """Mean predicted and true revenue per decile of prediction rank (decile 1 = lowest).

    Ties stay together, so there can be fewer than `bins` rows (one for a constant prediction).
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    frame = pd.DataFrame({"decile": rank_deciles(y_pred, bins), "true": y_true, "pred": y_pred})
    return frame.groupby("decile").agg(
        users=("true", "size"), mean_true=("true", "mean"), mean_pred=("pred", "mean")
    )


def decile_tables(y_true, y_pred, groups, bins: int = 10) -> pd.DataFrame:
    """`decile_table` of every group at once (deciles ranked within each group), indexed by
    (group, decile): one grouping pass instead of one per group, the same numbers."""
    y_true, y_pred, groups = (
        np.asarray(y_true, float),
        np.asarray(y_pred, float),
        np.asarray(groups),
    )
    deciles = np.zeros(len(y_pred), int)
    order = np.argsort(groups, kind="stable")
    ranked = groups[order]
    bounds = np.r_[np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]), len(order)]
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end > start:
            members = order[start:end]
            deciles[members] = rank_deciles(y_pred[members], bins)
    frame = pd.DataFrame({"group": groups, "decile": deciles, "true": y_true, "pred": y_pred})
    return frame.groupby(["group", "decile"]).agg(
        users=("true", "size"), mean_true=("true", "mean"), mean_pred=("pred", "mean")
    )


def decile_mape(y_true, y_pred, bins: int = 10) -> float:
    """Mean over prediction-rank deciles with true mean > 0 of |mean pred - mean true| / mean true."""
    return table_mape(decile_table(y_true, y_pred, bins))


def table_mape(table: pd.DataFrame) -> float:
    """`decile_mape` of a `decile_table` already built."""
    table = table[table.mean_true > 0]
    return float(np.mean(np.abs(table.mean_pred - table.mean_true) / table.mean_true))


def total_ratio(y_true, y_pred) -> float:
    """Total predicted over total actual revenue: 1.0 means the cohort sum is right."""
    total = float(np.sum(y_true))
    return float(np.sum(y_pred)) / total if total > 0 else float("nan")


def interval_coverage(y_true, lower, upper) -> float:
    """Share of users whose true revenue lies inside [lower, upper]."""
    y_true = np.asarray(y_true, float)
    return float(np.mean((y_true >= np.asarray(lower)) & (y_true <= np.asarray(upper))))


def regression_metrics(y_true, y_pred, lower=None, upper=None) -> dict[str, float]:
    """Every scalar metric for one set of predictions.

    `coverage_80` is measured on the users whose revenue is uncertain: a certain zero (interval
    [0, 0], no ad exposure) is always covered and would flatter it.
    """
    result = {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "spearman": spearman(y_true, y_pred),
        "gini": normalized_gini(y_true, y_pred),
        "decile_mape": decile_mape(y_true, y_pred),
        "total_ratio": total_ratio(y_true, y_pred),
    }
    if lower is not None and upper is not None:
        result["coverage_80"] = uncertain_coverage(y_true, lower, upper)
    return result


def interval_flags(y_true, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """Per user: is the true revenue inside [lower, upper], and is the revenue uncertain (the
    interval is not [0, 0]: a user with no ad exposure is a certain zero)."""
    y_true, lower, upper = (np.asarray(v, float) for v in (y_true, lower, upper))
    return (y_true >= lower) & (y_true <= upper), ~((lower == 0) & (upper == 0))


def flagged_coverage(inside, uncertain) -> float:
    """Share of the uncertain users whose revenue is inside their interval; NaN without any."""
    inside, uncertain = np.asarray(inside, bool), np.asarray(uncertain, bool)
    return float(inside[uncertain].mean()) if uncertain.any() else float("nan")


def uncertain_coverage(y_true, lower, upper) -> float:
    """`interval_coverage` of the users whose revenue is uncertain: a certain zero (interval
    [0, 0], no ad exposure) is always covered and would flatter it. NaN when there are none."""
    return flagged_coverage(*interval_flags(y_true, lower, upper))


def segment_calibration(
    frame: pd.DataFrame, y_true, y_pred, column: str, min_users: int = 30
) -> pd.DataFrame:
    """Per-segment totals and their ratio; segments under `min_users` are flagged as too small."""
    data = pd.DataFrame(
        {column: frame[column].to_numpy(), "true": np.asarray(y_true), "pred": np.asarray(y_pred)}
    )
    table = data.groupby(column, dropna=False).agg(
        users=("true", "size"), total_true=("true", "sum"), total_pred=("pred", "sum")
    )
    table["ratio"] = table.total_pred / table.total_true.where(table.total_true > 0)
    table["too_small"] = table.users < min_users
    return table.sort_values("users", ascending=False)
