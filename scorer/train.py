"""Fitting a `Predictor` from a training frame: pipeline, both stage models, intervals.

Intervals need honest (out-of-fold) predictions, so fitting runs a small inner K-fold on the
training rows first, then fits the final models on all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold

from .domain import TrainingDomain
from .features import EVENTS_FEATURES, INSTALL_FEATURES, MONOTONE_INCREASING, FeaturePipeline
from .intervals import MondrianIntervals
from .predictor import MEAN, Predictor
from .quality import rate_anomalies
from .schema import STAGE_EVENTS, STAGE_INSTALL

SEED = 20261126
"""The one seed of every random step (folds, subsampling), so training is deterministic."""


@dataclass(frozen=True)
class StageParams:
    """XGBoost settings of one stage model."""

    rounds: int
    eta: float
    max_depth: int
    min_child_weight: float
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    tweedie_variance_power: float

    def xgb_params(self, seed: int, threads: int, features: tuple[str, ...]) -> dict:
        return {
            "monotone_constraints": "("
            + ",".join("1" if name in MONOTONE_INCREASING else "0" for name in features)
            + ")",
            "objective": "reg:tweedie",
            "tweedie_variance_power": self.tweedie_variance_power,
            "eta": self.eta,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "base_score": 1.0,  # margin 0: the offset carries the level
            "tree_method": "hist",
            "seed": seed,
            "nthread": threads,
        }


@dataclass(frozen=True)
class TrainingConfig:
    """Every choice of the model. The stage settings and the prior strengths are the winners of
    `python -m scorer tune` (its table is models/tuning.csv); the rest are fixed by design."""

    events: StageParams = field(
        default_factory=lambda: StageParams(200, 0.05, 6, 1.0, 1.0, 1.0, 1.0, 1.8)
    )
    install: StageParams = field(
        default_factory=lambda: StageParams(100, 0.05, 4, 5.0, 0.8, 1.0, 1.0, 1.5)
    )
    k_rate: float = 1.0
    k_revenue: float = 50.0
    interval_folds: int = 3
    coverage: float = 0.8
    seed: int = SEED
    threads: int = 2
    """Training threads, fixed so that every machine builds the same trees."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        data = dict(data)
        data["events"] = StageParams(**data["events"])
        data["install"] = StageParams(**data["install"])
        return cls(**data)


def strata(frame: pd.DataFrame, revenue: np.ndarray, anomalous: tuple[str, ...] = ()) -> np.ndarray:
    """Stratification labels: zero revenue, quartiles of positive revenue, anomalous countries."""
    revenue = np.asarray(revenue, float)
    label = np.zeros(len(revenue), dtype=int)
    positive = revenue > 0
    if positive.sum() >= 4:
        ranks = pd.Series(revenue[positive]).rank(method="first").to_numpy()
        label[positive] = 1 + np.minimum((ranks - 1) * 4 // positive.sum(), 3).astype(int)
    if anomalous:
        country = frame["country"].astype(str).str.strip().str.lower().to_numpy()
        label += 10 * np.isin(country, anomalous)
    return label


def _fit_booster(
    params: StageParams,
    features: np.ndarray,
    revenue: np.ndarray,
    offset: np.ndarray,
    seed: int,
    threads: int,
    names: tuple[str, ...],
) -> xgb.Booster:
    matrix = xgb.DMatrix(features, label=revenue, base_margin=offset, feature_names=list(names))
    return xgb.train(params.xgb_params(seed, threads, names), matrix, params.rounds)


def fit_models(
    frame: pd.DataFrame, revenue: np.ndarray, config: TrainingConfig, threads: int = 1
) -> Predictor:
    """Pipeline and both stage models on all given rows, without intervals."""
    revenue = np.asarray(revenue, float)
    pipeline = FeaturePipeline.fit(frame, revenue, config.k_rate, config.k_revenue)
    features = pipeline.build_frame(frame)
    events_rows = features["has_events"] & ~features["zero"]
    boosters = {
        STAGE_EVENTS: _fit_booster(
            config.events,
            features["events"][events_rows],
            revenue[events_rows],
            features["events_offset"][events_rows],
            config.seed,
            threads,
            EVENTS_FEATURES,
        ),
        STAGE_INSTALL: _fit_booster(
            config.install,
            features["install"],
            revenue,
            features["install_offset"],
            config.seed,
            threads,
            INSTALL_FEATURES,
        ),
    }
    return Predictor(pipeline, boosters, domain=TrainingDomain.fit(frame))


def out_of_fold(
    frame: pd.DataFrame, revenue: np.ndarray, config: TrainingConfig, threads: int = 1
) -> dict[str, np.ndarray]:
    """Inner K-fold predictions of both stages for every training row."""
    revenue = np.asarray(revenue, float)
    folds = StratifiedKFold(config.interval_folds, shuffle=True, random_state=config.seed)
    events, install = np.zeros(len(frame)), np.zeros(len(frame))
    without_events = frame.assign(event_1=np.nan, event_2=np.nan, event_3=np.nan)
    for train, test in folds.split(frame, strata(frame, revenue)):
        model = fit_models(frame.iloc[train], revenue[train], config, threads)
        events[test] = model.predict_batch(frame.iloc[test])[MEAN].to_numpy()
        install[test] = model.predict_batch(without_events.iloc[test])[MEAN].to_numpy()
    return {STAGE_EVENTS: events, STAGE_INSTALL: install}


def fit_predictor(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    config: TrainingConfig | None = None,
    threads: int = 1,
    card: dict | None = None,
) -> Predictor:
    """The full predictor: models on all rows, intervals from inner out-of-fold predictions."""
    config = config or TrainingConfig()
    revenue = np.asarray(revenue, float)
    oof = out_of_fold(frame, revenue, config, threads)
    has_events = frame["event_2"].notna().to_numpy()
    both = np.r_[has_events, np.zeros(len(frame), bool)]  # the events rows, then every row

    def twice(column: str) -> np.ndarray:
        values = frame[column].to_numpy()
        return np.r_[values[has_events], values]

    intervals = MondrianIntervals.fit(
        both,
        twice("country"),
        twice("platform"),
        twice("event_2").astype(float),
        twice("event_3").astype(float),
        np.r_[revenue[has_events], revenue],
        np.r_[oof[STAGE_EVENTS][has_events], oof[STAGE_INSTALL]],
        config.coverage,
        tuple(rate_anomalies(frame, revenue)),
    )
    predictor = fit_models(frame, revenue, config, threads)
    predictor.intervals = intervals
    predictor.card = card or {}
    return predictor
