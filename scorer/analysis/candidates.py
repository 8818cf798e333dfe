"""Baselines and candidate models, compared with the chosen one under scorer's CV protocol.

Every fitted candidate offers `predict_batch(frame)` with the columns of `Predictor.predict_batch`
(predicted_revenue, lower, upper, stage), so `scorer.evaluate.cross_validate` scores it exactly
like the production model. Candidates give no intervals (NaN): only the chosen model calibrates
them. The boosted candidates use scorer's feature pipeline and the chosen model's tree settings, so
they differ from it in the objective (and the offset) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ..data import validate_frame
from ..features import EVENTS_FEATURES, INSTALL_FEATURES, FeaturePipeline
from ..normalize import map_unique
from ..predictor import Estimate
from ..quality import country_rates
from ..schema import STAGE_EVENTS, STAGE_INSTALL
from ..train import StageParams, TrainingConfig


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the total weight lies."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def as_predictions(mean: np.ndarray, has_events: np.ndarray, index=None) -> pd.DataFrame:
    """The `Predictor.predict_batch` columns for a candidate without intervals."""
    stage = np.where(has_events, STAGE_EVENTS, STAGE_INSTALL)
    estimate = Estimate(np.asarray(mean, float), np.nan, np.nan, stage)
    return pd.DataFrame(estimate._asdict(), index=index)


@dataclass
class MeanBaseline:
    """Everybody is worth the training mean, with or without events."""

    mean: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, revenue: np.ndarray) -> MeanBaseline:
        return cls(float(np.mean(revenue)))

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        has_events = validate_frame(frame)["event_2"].notna().to_numpy()
        return as_predictions(np.full(len(frame), self.mean), has_events, frame.index)


@dataclass
class CountryRateBaseline:
    """`event_2` x the country's revenue per event_2; at install, the country's revenue per user.

    Unseen countries take the user-weighted median over countries (robust to one extreme rate).
    """

    rate: dict[str, float]
    per_user: dict[str, float]
    default_rate: float
    default_per_user: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, revenue: np.ndarray) -> CountryRateBaseline:
        table = country_rates(frame, revenue)
        rated = table[table.event_2 > 0]
        rate = rated.rate
        per_user = table.revenue / table.users
        return cls(
            rate.to_dict(),
            per_user.to_dict(),
            weighted_median(rate.to_numpy(), rated.users.to_numpy(float)),
            weighted_median(per_user.to_numpy(), table.users.to_numpy(float)),
        )

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        clean = validate_frame(frame)
        country = map_unique(clean["country"], "country")
        event_2 = clean["event_2"].to_numpy(float)
        has_events = ~np.isnan(event_2)
        rate = country.map(self.rate).fillna(self.default_rate).to_numpy(float)
        per_user = country.map(self.per_user).fillna(self.default_per_user).to_numpy(float)
        mean = np.where(has_events, rate * np.nan_to_num(event_2), per_user)
        return as_predictions(mean, has_events, frame.index)


@dataclass(frozen=True)
class Recipe:
    """How a boosted candidate uses scorer's features: objective, link, offset, zeros."""

    objective: dict[str, Any]
    log_link: bool = True
    offset: bool = True
    """Start from the exposure x country-rate offset (install: the revenue-per-user prior)."""
    structural_zeros: bool = True
    """Users with no ad exposure are predicted 0 and left out of the early-events fit."""


def tweedie(power: float, offset: bool = True) -> Recipe:
    return Recipe({"objective": "reg:tweedie", "tweedie_variance_power": power}, offset=offset)


SQUARED_ERROR = Recipe(
    {"objective": "reg:squarederror"}, log_link=False, offset=False, structural_zeros=False
)
"""The usual first attempt: squared error on raw revenue, every row, no offset."""
POISSON = Recipe({"objective": "count:poisson"})


def xgb_params(
    stage: StageParams, objective: dict, config: TrainingConfig, names: tuple[str, ...]
) -> dict:
    """The chosen model's tree settings with another objective."""
    params = stage.xgb_params(config.seed, config.threads, names)
    params.pop("tweedie_variance_power")
    params["objective"] = "reg:squarederror"
    params.update(objective)
    return params


def stage_rows(features: dict[str, np.ndarray], structural_zeros: bool) -> dict[str, np.ndarray]:
    """Rows each stage model is fitted on (and predicts): the production choice by default."""
    events = (
        features["has_events"] & ~features["zero"]
        if structural_zeros
        else np.ones_like(features["has_events"])
    )
    return {STAGE_EVENTS: events, STAGE_INSTALL: np.ones_like(features["has_events"])}


STAGE_KEYS = {
    STAGE_EVENTS: ("events", EVENTS_FEATURES),
    STAGE_INSTALL: ("install", INSTALL_FEATURES),
}


@dataclass
class BoostedCandidate:
    """Both stage models fitted with a `Recipe` on scorer's features."""

    pipeline: FeaturePipeline
    recipe: Recipe
    boosters: dict[str, xgb.Booster] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        revenue: np.ndarray,
        recipe: Recipe,
        config: TrainingConfig,
        pipeline: FeaturePipeline | None = None,
    ) -> BoostedCandidate:
        """Fit on the training rows; a given `pipeline` replaces the one fitted on them."""
        revenue = np.asarray(revenue, float)
        pipeline = pipeline or FeaturePipeline.fit(frame, revenue, config.k_rate, config.k_revenue)
        model = cls(pipeline, recipe)
        features = pipeline.build_frame(frame)
        rows = stage_rows(features, recipe.structural_zeros)
        for stage, params in ((STAGE_EVENTS, config.events), (STAGE_INSTALL, config.install)):
            key, names = STAGE_KEYS[stage]
            matrix = xgb.DMatrix(
                features[key][rows[stage]], label=revenue[rows[stage]], feature_names=list(names)
            )
            if recipe.offset:
                matrix.set_base_margin(features[f"{key}_offset"][rows[stage]])
            settings = xgb_params(params, recipe.objective, config, names)
            if not recipe.offset:
                settings.pop("base_score")  # XGBoost estimates the intercept
            model.boosters[stage] = xgb.train(settings, matrix, params.rounds)
        return model

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = self.pipeline.build_frame(validate_frame(frame))
        mean = np.zeros(len(frame))
        has_events = features["has_events"]
        for stage, rows in ((STAGE_EVENTS, has_events), (STAGE_INSTALL, ~has_events)):
            if rows.any():
                mean[rows] = self._stage_mean(stage, features, rows)
        if self.recipe.structural_zeros:
            mean[features["zero"]] = 0.0
        if not self.recipe.log_link:
            mean = np.maximum(mean, 0.0)  # revenue is never negative
        return as_predictions(mean, has_events, frame.index)

    def _stage_mean(self, stage: str, features: dict, rows: np.ndarray) -> np.ndarray:
        key, _ = STAGE_KEYS[stage]
        booster = self.boosters[stage]
        if not self.recipe.offset:
            return booster.inplace_predict(features[key][rows]).astype(float)
        margin = booster.inplace_predict(features[key][rows], predict_type="margin")
        return np.exp(margin.astype(float) + features[f"{key}_offset"][rows])


def contenders(config: TrainingConfig) -> list[Contender]:
    """Baselines, candidates and the chosen model, in the order the comparison shows them."""
    from ..train import fit_predictor
    from .hurdle import HurdleCandidate  # the hurdle family lives in its own module

    chosen_power = config.events.tweedie_variance_power

    def boosted(recipe: Recipe) -> Callable:
        return lambda f, r: BoostedCandidate.fit(f, r, recipe, config)

    def hurdle(kind: str) -> Callable:
        return lambda f, r: HurdleCandidate.fit(f, r, kind, config)

    variants = [p for p in (1.2, 1.5, 1.8) if abs(p - chosen_power) > 1e-9]
    return [
        Contender("mean", "baseline", MeanBaseline.fit),
        Contender("event_2 x country rate", "baseline", CountryRateBaseline.fit),
        Contender("GBM squared error, raw revenue", "baseline", boosted(SQUARED_ERROR)),
        Contender(
            f"Tweedie p={chosen_power:g}, no offset",
            "candidate",
            boosted(tweedie(chosen_power, offset=False)),
        ),
        Contender("Poisson + offset", "candidate", boosted(POISSON)),
        *[
            Contender(f"Tweedie p={p:g} + offset", "candidate", boosted(tweedie(p)))
            for p in variants
        ],
        Contender("hurdle: logistic x gamma + offset", "candidate", hurdle("gamma")),
        Contender("zero-inflated lognormal + offset", "candidate", hurdle("lognormal")),
        Contender(
            f"chosen: Tweedie p={chosen_power:g} + offset + intervals",
            "chosen",
            lambda f, r: fit_predictor(f, r, config, config.threads),
            intervals=True,
        ),
    ]


def leakage_contenders(
    frame: pd.DataFrame, revenue: np.ndarray, config: TrainingConfig
) -> list[Contender]:
    """The chosen objective with its priors fitted inside each fold (as in production) and,
    for contrast, fitted once on every row, held-out users included: the leak to avoid."""
    power = config.events.tweedie_variance_power
    leaky = FeaturePipeline.fit(frame, revenue, config.k_rate, config.k_revenue)
    return [
        Contender(
            "priors fitted inside each fold",
            "candidate",
            lambda f, r: BoostedCandidate.fit(f, r, tweedie(power), config),
        ),
        Contender(
            "priors fitted on all rows (leaky)",
            "candidate",
            lambda f, r: BoostedCandidate.fit(f, r, tweedie(power), config, pipeline=leaky),
        ),
    ]


@dataclass(frozen=True)
class Contender:
    """A named way to fit a model from (training frame, revenue), and what it offers."""

    name: str
    role: str
    """baseline, candidate or chosen."""
    fit: Callable[[pd.DataFrame, np.ndarray], Any]
    intervals: bool = False
