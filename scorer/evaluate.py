"""The evaluation protocol: every metric, per stage, overall and excluding anomalous countries,
under repeated stratified cross-validation (5 folds x 3 repeats, fixed seed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm.auto import tqdm

from . import metrics
from .schema import STAGE_EVENTS, STAGE_INSTALL
from .train import SEED, strata

SUBSETS = ("all", "excl_anomalous")
"""Every metric is reported on all users and on users outside the anomalous countries."""


def drop_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The same users as seen at install: no event counts yet."""
    return frame.assign(event_1=np.nan, event_2=np.nan, event_3=np.nan)


def outside(frame: pd.DataFrame, countries: Iterable[str]) -> np.ndarray:
    """Rows whose country is not one of `countries`."""
    country = frame["country"].astype(str).str.strip().str.lower()
    return ~country.isin(list(countries)).to_numpy()


def stage_metrics(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    predictions: dict[str, pd.DataFrame],
    anomalous: Iterable[str],
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per stage and subset: {stage: {subset: {metric: value}}}."""
    revenue = np.asarray(revenue, float)
    keep = {"all": np.ones(len(frame), bool), "excl_anomalous": outside(frame, anomalous)}
    result: dict[str, dict[str, dict[str, float]]] = {}
    for stage, predicted in predictions.items():
        result[stage] = {}
        for subset, rows in keep.items():
            result[stage][subset] = metrics.regression_metrics(
                revenue[rows],
                predicted["predicted_revenue"].to_numpy()[rows],
                predicted["lower"].to_numpy()[rows],
                predicted["upper"].to_numpy()[rows],
            )
    return result


def predict_both_stages(model, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Predictions with the event counts as given and as they would be at install."""
    return {
        STAGE_EVENTS: model.predict_batch(frame),
        STAGE_INSTALL: model.predict_batch(drop_events(frame)),
    }


@dataclass
class CrossValidation:
    folds: pd.DataFrame
    """One row per repeat, fold, stage and subset; one column per metric."""
    oof: pd.DataFrame
    """Out-of-fold predictions of the first repeat, both stages, aligned with the input rows."""
    held_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every held-out prediction of every repeat: repeat, stage, row (position in the input),
    predicted_revenue, lower, upper. Coverage per segment is measured on it."""

    def summary(self) -> dict:
        """{stage: {subset: {metric: {"mean", "std"}}}}, over the folds."""
        grouped = self.folds.drop(columns=["repeat", "fold"]).groupby(["stage", "subset"])
        mean, std = grouped.mean(), grouped.std(ddof=1)
        out: dict = {}
        for (stage, subset), row in mean.iterrows():
            out.setdefault(stage, {})[subset] = {
                name: {"mean": float(row[name]), "std": float(std.loc[(stage, subset), name])}
                for name in mean.columns
            }
        return out

    def table(self, stage: str = STAGE_EVENTS) -> pd.DataFrame:
        """Metrics (rows) by subset (columns) as 'mean +- std' strings, for reading."""
        summary = self.summary()[stage]
        return pd.DataFrame(
            {
                subset: {m: f"{v['mean']:.4g} ± {v['std']:.2g}" for m, v in values.items()}
                for subset, values in summary.items()
            }
        )


def cross_validate(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    fit: Callable[[pd.DataFrame, np.ndarray], object],
    anomalous: Iterable[str] = (),
    folds: int = 5,
    repeats: int = 3,
    seed: int = SEED,
    progress: bool = True,
    description: str = "cross-validation",
) -> CrossValidation:
    """Fit with `fit(train_frame, train_revenue)` and score on every held-out fold."""
    anomalous = tuple(anomalous)
    revenue = np.asarray(revenue, float)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    rows, oof, held_out = [], {}, []
    splits = list(splitter.split(frame, strata(frame, revenue, anomalous)))
    for number, (train, test) in enumerate(
        tqdm(splits, desc=description, disable=not progress, unit="fold")
    ):
        repeat, fold = divmod(number, folds)
        model = fit(frame.iloc[train].reset_index(drop=True), revenue[train])
        test_frame = frame.iloc[test].reset_index(drop=True)
        predictions = predict_both_stages(model, test_frame)
        scores = stage_metrics(test_frame, revenue[test], predictions, anomalous)
        for stage, subsets in scores.items():
            for subset, values in subsets.items():
                rows.append(
                    {"repeat": repeat, "fold": fold, "stage": stage, "subset": subset, **values}
                )
        for stage, predicted in predictions.items():
            held_out.append(
                pd.DataFrame(
                    {"repeat": repeat, "stage": stage, "row": test}
                    | {c: predicted[c].to_numpy() for c in ("predicted_revenue", "lower", "upper")}
                )
            )
        if repeat == 0:
            for stage, predicted in predictions.items():
                for column in ("predicted_revenue", "lower", "upper"):
                    oof.setdefault(f"{stage}_{column}", np.zeros(len(frame)))[test] = predicted[
                        column
                    ].to_numpy()
    return CrossValidation(
        pd.DataFrame(rows), pd.DataFrame(oof, index=frame.index), pd.concat(held_out)
    )
