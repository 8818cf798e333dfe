"""Baselines, candidates and the chosen model scored under scorer's CV protocol, in one table.

Every contender goes through `scorer.evaluate.cross_validate` with the same folds (same seed and
repeats), so the table compares models, not splits. Tables hold 'mean ± std' strings over folds,
rounded for reading; `means` gives the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..evaluate import SUBSETS, cross_validate
from ..schema import STAGE_EVENTS, STAGE_INSTALL
from ..train import SEED
from .candidates import Contender

METRIC_NAMES = {
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R2",
    "spearman": "Spearman",
    "gini": "norm. Gini",
    "decile_mape": "decile MAPE",
    "total_ratio": "pred / actual",
    "coverage_80": "80% coverage",
}
"""Reading names of scorer's metrics, in the order tables show them."""
SUBSET_NAMES = {"all": "all users", "excl_anomalous": "excl. anomalous country"}
STAGE_ORDER = (STAGE_EVENTS, STAGE_INSTALL)


def mean_std(mean: float, std: float) -> str:
    """'mean ± std' with four significant digits for the mean and two for the spread."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    if std is None or not np.isfinite(std):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.2g}"


HIGHER_IS_BETTER = ("r2", "spearman", "gini")
TARGET_VALUES = {"total_ratio": 1.0, "coverage_80": 0.8}


def _badness(metric: str, values: pd.Series) -> pd.Series:
    if metric in HIGHER_IS_BETTER:
        return -values
    if metric in TARGET_VALUES:
        return (values - TARGET_VALUES[metric]).abs()
    return values


@dataclass
class Comparison:
    folds: pd.DataFrame
    """cross_validate's fold rows, plus `model` and `role` columns."""
    oof: dict[str, pd.DataFrame]
    """Out-of-fold predictions of the first repeat, per model (both stages)."""
    seconds: dict[str, float]
    """Wall-clock time of each model's cross-validation."""

    def stats(self) -> pd.DataFrame:
        """Mean and std per (stage, model) row and (subset, metric, stat) column."""
        metrics = [m for m in METRIC_NAMES if m in self.folds.columns]
        grouped = self.folds.groupby(["stage", "model", "subset"], sort=False)[metrics]
        stats = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1)
        wide = stats.unstack("subset")  # columns: (stat, metric, subset)
        wide.columns = wide.columns.reorder_levels([2, 1, 0])
        order = [
            (s, m, stat)
            for s in SUBSETS
            for m in metrics
            for stat in ("mean", "std")
            if (s, m, stat) in wide.columns
        ]
        models = list(dict.fromkeys(self.folds["model"]))
        rows = [(stage, m) for stage in STAGE_ORDER for m in models if (stage, m) in wide.index]
        return wide.loc[rows, order]

    def table(self) -> pd.DataFrame:
        """One table: rows (stage, model), columns (subset, metric), 'mean ± std' strings."""
        stats = self.stats()
        columns = list(dict.fromkeys((s, m) for s, m, _ in stats.columns))
        table = pd.DataFrame(
            {
                (SUBSET_NAMES[s], METRIC_NAMES[m]): [
                    mean_std(a, b)
                    for a, b in zip(stats[(s, m, "mean")], stats[(s, m, "std")], strict=True)
                ]
                for s, m in columns
            },
            index=stats.index,
        )
        table.columns = pd.MultiIndex.from_tuples(table.columns, names=["subset", "metric"])
        return table

    def leaders(self) -> pd.DataFrame:
        """The best model per stage, subset and metric, by the fold mean: lowest error, highest
        R2 / Spearman / Gini, total ratio closest to 1, coverage closest to 80%."""
        stats = self.stats()
        rows = []
        for stage in dict.fromkeys(stats.index.get_level_values(0)):
            for subset, metric, stat in stats.columns:
                if stat != "mean":
                    continue
                values = stats.loc[stage][(subset, metric, "mean")].dropna()
                if values.empty:
                    continue
                badness = _badness(metric, values)
                best = badness.idxmin()
                rows.append(
                    {
                        "stage": stage,
                        "subset": SUBSET_NAMES[subset],
                        "metric": METRIC_NAMES[metric],
                        "best model": best,
                        "its mean": values[best],
                    }
                )
        return pd.DataFrame(rows).set_index(["stage", "subset", "metric"])

    def against(self, model: str) -> pd.DataFrame:
        """Where `model` is not the best: its fold mean beside the best other model's."""
        stats = self.stats()
        leaders = self.leaders()
        rows = []
        for (stage, subset, metric), best in leaders.iterrows():
            if best["best model"] == model:
                continue
            key = next(k for k, v in SUBSET_NAMES.items() if v == subset)
            name = next(k for k, v in METRIC_NAMES.items() if v == metric)
            rows.append(
                {
                    "stage": stage,
                    "subset": subset,
                    "metric": metric,
                    model: stats.loc[(stage, model), (key, name, "mean")],
                    "best model": best["best model"],
                    "its mean": best["its mean"],
                }
            )
        return pd.DataFrame(rows).set_index(["stage", "subset", "metric"])

    def means(self, stage: str, subset: str, metrics: Sequence[str]) -> pd.DataFrame:
        """Mean of each metric per model for one stage and subset (numbers, for plots)."""
        stats = self.stats().loc[stage]
        return pd.DataFrame({m: stats[(subset, m, "mean")] for m in metrics})


def compare(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    contenders: Iterable[Contender],
    anomalous: Iterable[str],
    repeats: int = 3,
    seed: int = SEED,
    progress: bool = False,
) -> Comparison:
    """Cross-validate every contender on the same folds (5 x `repeats`, stratified, `seed`)."""
    folds, oof, seconds = [], {}, {}
    for contender in contenders:
        start = time.perf_counter()
        cv = cross_validate(
            frame,
            revenue,
            contender.fit,
            anomalous,
            repeats=repeats,
            seed=seed,
            progress=progress,
            description=contender.name,
        )
        seconds[contender.name] = time.perf_counter() - start
        rows = cv.folds.assign(model=contender.name, role=contender.role)
        if not contender.intervals:  # NaN bounds would read as 0% coverage
            rows["coverage_80"] = np.nan
        folds.append(rows)
        oof[contender.name] = cv.oof
    return Comparison(pd.concat(folds, ignore_index=True), oof, seconds)


def summary_table(summary: dict) -> pd.DataFrame:
    """A card-shaped summary {stage: {subset: {metric: {mean, std}}}} as metrics x (stage, subset).

    The notebook shows the chosen model's cross-validation with it, and the tests compare that
    output with the committed model card through it.
    """
    columns = {}
    for stage in STAGE_ORDER:
        for subset in SUBSETS:
            values = summary.get(stage, {}).get(subset)
            if values is None:
                continue
            columns[(stage, SUBSET_NAMES[subset])] = {
                METRIC_NAMES.get(m, m): mean_std(v["mean"], v["std"]) for m, v in values.items()
            }
    table = pd.DataFrame(columns)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["stage", "subset"])
    return table
