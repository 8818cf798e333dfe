"""Choosing the hyper-parameters by cross-validation: `python -m scorer tune`.

Each stage model is tuned on its own small grid under the same repeated stratified CV protocol as
the model card. The early-events setting is the one whose worst metric is furthest inside the
product's target table (`EVENTS_TARGETS`): every metric's margin is measured as a share of its
allowed range, and the smallest margin counts, so a setting cannot trade a target it barely meets
for a gain where there is room to spare. The install setting is the one with the best Gini outside
the anomalous countries, the only thing an attribute-only model is for. Ties go to the smaller
model. Intervals do not change these metrics, so tuning fits the models without them (4x faster).
The choice is printed and written as a CSV; the defaults of `TrainingConfig` are set from it by
hand, in a reviewed commit.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .data import read_records
from .evaluate import cross_validate
from .quality import rate_anomalies
from .schema import STAGE_EVENTS, STAGE_INSTALL, TARGET
from .train import TrainingConfig, fit_models

EVENTS_GRID = {
    "max_depth": (4, 5, 6),
    "tweedie_variance_power": (1.5, 1.8),
    "k_rate": (0.1, 1.0),
}
INSTALL_GRID = {"tweedie_variance_power": (1.5, 1.8), "max_depth": (3, 4), "k_revenue": (50.0,)}
EVENTS_TARGETS = {  # column: (target, best possible); the margin is (value - target) / (best - target)
    "all_mae": (3.0, 0.0),
    "all_r2": (0.985, 1.0),
    "excl_anomalous_gini": (0.996, 1.0),
    "excl_anomalous_spearman": (0.978, 1.0),
    "excl_anomalous_decile_mape": (0.05, 0.0),
    "excl_anomalous_total_ratio": (0.03, 0.0),  # distance from 1
    "all_total_ratio": (0.10, 0.0),  # distance from 1
}


def target_margins(rows: pd.DataFrame) -> pd.DataFrame:
    """Each metric's margin to its target, as a share of the range between target and best."""
    margins = {}
    for column, (target, best) in EVENTS_TARGETS.items():
        values = rows[column]
        if column.endswith("total_ratio"):
            values = (values - 1).abs()
        margins[column] = (values - target) / (best - target)
    return pd.DataFrame(margins, index=rows.index)


def _settings(grid: dict) -> list[dict]:
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def _configure(base: TrainingConfig, stage: str, setting: dict) -> TrainingConfig:
    prior = {k: v for k, v in setting.items() if k.startswith("k_")}
    params = {k: v for k, v in setting.items() if not k.startswith("k_")}
    field = "events" if stage == STAGE_EVENTS else "install"
    stage_params = dataclasses.replace(getattr(base, field), **params)
    return dataclasses.replace(base, **prior, **{field: stage_params})


def _row(stage: str, setting: dict, summary: dict) -> dict:
    row = {"stage": stage, **{f"param_{k}": v for k, v in setting.items()}}
    for subset, metrics in summary[stage].items():
        for name, value in metrics.items():
            row[f"{subset}_{name}"] = value["mean"]
    return row


def choose(table: pd.DataFrame, stage: str) -> pd.Series:
    """The winning row of one stage's table (see the module docstring for the rule)."""
    rows = table[table.stage == stage].copy()
    if stage == STAGE_INSTALL:
        rows["score"] = -rows["excl_anomalous_gini"]
    else:
        rows["score"] = -target_margins(rows).min(axis=1)
    size = rows.filter(like="param_rounds").sum(axis=1) if "param_rounds" in rows else 0
    rows["size"] = size + rows.filter(like="param_max_depth").sum(axis=1)
    return rows.sort_values(["score", "size"]).iloc[0]


def tune(
    data: str | Path, out: str | Path | None = None, repeats: int = 3, progress: bool = True
) -> pd.DataFrame:
    """Cross-validate every setting of both grids; return (and write to `out`) the table."""
    frame = read_records(data, require_target=True)
    revenue = frame.pop(TARGET).to_numpy()
    anomalous = rate_anomalies(frame, revenue)
    base = TrainingConfig()
    runs = [(STAGE_EVENTS, s) for s in _settings(EVENTS_GRID)]
    runs += [(STAGE_INSTALL, s) for s in _settings(INSTALL_GRID)]
    rows = []
    for stage, setting in tqdm(runs, desc="settings", disable=not progress, unit="setting"):
        config = _configure(base, stage, setting)
        cv = cross_validate(
            frame,
            revenue,
            lambda f, r, c=config: fit_models(f, r, c, c.threads),
            anomalous,
            repeats=repeats,
            seed=config.seed,
            progress=False,
        )
        rows.append(_row(stage, setting, cv.summary()))
    table = pd.DataFrame(rows)
    winners = {stage: choose(table, stage).name for stage in (STAGE_EVENTS, STAGE_INSTALL)}
    table["chosen"] = table.index.isin(winners.values())
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, float_format="%.6g")
    return table
