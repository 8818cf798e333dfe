"""Two-part candidates: P(revenue > 0) x E[revenue | revenue > 0], on scorer's features.

The probability is a logistic booster. The positive part is a gamma booster (log link) or a
lognormal one: squared error on log revenue, the positive half of the zero-inflated lognormal loss,
whose mean is exp(mu + sigma^2 / 2). Both positive parts start from scorer's offset, like the
chosen model. sigma^2 is measured per platform on out-of-fold residuals (an inner 2-fold split):
in-sample residuals of boosted trees understate it, and the mean depends on it exponentially.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import KFold

from ..data import validate_frame
from ..features import FeaturePipeline
from ..schema import STAGE_EVENTS, STAGE_INSTALL
from ..train import StageParams, TrainingConfig
from .candidates import STAGE_KEYS, as_predictions, stage_rows, xgb_params

KINDS = ("gamma", "lognormal")
SIGMA_FOLDS = 2


@dataclass
class TwoParts:
    """One stage: the probability of any revenue and the model of positive revenue."""

    probability: xgb.Booster | None
    """None when the training rows were all positive or all zero (then `constant` applies)."""
    constant: float
    positive: xgb.Booster | None
    sigma2: dict[float, float] = field(default_factory=dict)
    """Lognormal only: residual variance of log revenue per platform code (the `ios` feature)."""


def _log_mu(booster: xgb.Booster, features: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(features, predict_type="margin").astype(float) + offset


@dataclass(frozen=True)
class _StageFit:
    """How one stage's boosters are trained: its parameters, the run's config, feature names."""

    params: StageParams
    config: TrainingConfig
    names: tuple[str, ...]

    def settings(self, objective: str) -> dict:
        return xgb_params(self.params, {"objective": objective}, self.config, self.names)

    def train(self, settings: dict, matrix: xgb.DMatrix) -> xgb.Booster:
        return xgb.train(settings, matrix, self.params.rounds)

    def probability(self, features: np.ndarray, positive: np.ndarray) -> xgb.Booster:
        settings = self.settings("binary:logistic")
        settings.pop("base_score")
        labels = xgb.DMatrix(features, label=positive.astype(float), feature_names=list(self.names))
        return self.train(settings, labels)

    def positive(
        self, kind: str, features: np.ndarray, revenue: np.ndarray, offset: np.ndarray
    ) -> xgb.Booster:
        names = list(self.names)
        if kind == "gamma":
            matrix = xgb.DMatrix(features, label=revenue, base_margin=offset, feature_names=names)
            return self.train(self.settings("reg:gamma"), matrix)
        matrix = xgb.DMatrix(features, label=np.log(revenue) - offset, feature_names=names)
        settings = self.settings("reg:squarederror")
        settings.pop("base_score")
        return self.train(settings, matrix)

    def oof_sigma2(
        self, features: np.ndarray, revenue: np.ndarray, offset: np.ndarray
    ) -> dict[float, float]:
        """Variance of out-of-fold log residuals, per platform code (pooled where a code is rare)."""
        residual = np.zeros(len(revenue))
        folds = KFold(SIGMA_FOLDS, shuffle=True, random_state=self.config.seed)
        for train, test in folds.split(features):
            booster = self.positive("lognormal", features[train], revenue[train], offset[train])
            residual[test] = np.log(revenue[test]) - _log_mu(booster, features[test], offset[test])
        platform = features[:, self.names.index("ios")]
        pooled = float(np.mean(residual**2))
        return {
            float(code): float(np.mean(residual[platform == code] ** 2))
            if (platform == code).sum() >= 30
            else pooled
            for code in np.unique(platform)
        } | {"pooled": pooled}


@dataclass
class HurdleCandidate:
    pipeline: FeaturePipeline
    kind: str
    parts: dict[str, TwoParts] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, revenue: np.ndarray, kind: str, config: TrainingConfig
    ) -> HurdleCandidate:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        revenue = np.asarray(revenue, float)
        pipeline = FeaturePipeline.fit(frame, revenue, config.k_rate, config.k_revenue)
        model = cls(pipeline, kind)
        features = pipeline.build_frame(frame)
        rows = stage_rows(features, structural_zeros=True)
        for stage, params in ((STAGE_EVENTS, config.events), (STAGE_INSTALL, config.install)):
            key, names = STAGE_KEYS[stage]
            matrix, target = features[key][rows[stage]], revenue[rows[stage]]
            offset = features[f"{key}_offset"][rows[stage]]
            fit = _StageFit(params, config, names)
            model.parts[stage] = cls._fit_stage(kind, fit, matrix, target, offset)
        return model

    @staticmethod
    def _fit_stage(kind: str, fit: _StageFit, matrix, revenue, offset) -> TwoParts:
        positive = revenue > 0
        share = float(positive.mean()) if len(revenue) else 0.0
        probability = fit.probability(matrix, positive) if 0.0 < share < 1.0 else None
        if not positive.any():
            return TwoParts(None, 0.0, None)
        part = (matrix[positive], revenue[positive], offset[positive])
        booster = fit.positive(kind, *part)
        sigma2 = fit.oof_sigma2(*part) if kind == "lognormal" else {}
        return TwoParts(probability, share, booster, sigma2)

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = self.pipeline.build_frame(validate_frame(frame))
        has_events = features["has_events"]
        mean = np.zeros(len(frame))
        for stage, rows in ((STAGE_EVENTS, has_events), (STAGE_INSTALL, ~has_events)):
            if rows.any():
                key, names = STAGE_KEYS[stage]
                matrix, offset = features[key][rows], features[f"{key}_offset"][rows]
                mean[rows] = self._stage_mean(self.parts[stage], names, matrix, offset)
        mean[features["zero"]] = 0.0
        return as_predictions(mean, has_events, frame.index)

    def _stage_mean(
        self, parts: TwoParts, names: tuple[str, ...], matrix: np.ndarray, offset: np.ndarray
    ) -> np.ndarray:
        if parts.positive is None:
            return np.zeros(len(matrix))
        probability = (
            np.full(len(matrix), parts.constant)
            if parts.probability is None
            else parts.probability.inplace_predict(matrix).astype(float)
        )
        log_mu = _log_mu(parts.positive, matrix, offset)
        if self.kind == "lognormal":
            platform = matrix[:, names.index("ios")]
            sigma2 = pd.Series(platform).map(parts.sigma2).fillna(parts.sigma2["pooled"])
            log_mu = log_mu + sigma2.to_numpy(float) / 2.0
        return probability * np.exp(log_mu)
