"""The one `Predictor`: feature pipeline + install and early-events models + intervals + card.

The notebook, the CLI, the API, the worker and the tests all predict through this class. It has
a single-record path (`predict_one`, a flattened forest: microseconds) and a vectorised batch path
(`predict_batch`, XGBoost on one thread); both give identical numbers for the same input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xgboost as xgb

from .data import validate_frame
from .domain import UNREADABLE, Flagger, TrainingDomain
from .features import FeaturePipeline, per_distinct
from .flags import COUNTRY_POLICIES, FLAG_BY_DEFAULT, REPLACE_RATE
from .forest import FlatForest
from .intervals import MondrianIntervals, exposure
from .priors import SEPARATOR
from .schema import STAGE_EVENTS, STAGE_INSTALL

SMALL_BATCH = 48
"""Up to this many rows the flat forest beats XGBoost's per-call overhead (bench/predictor_bench)."""
CARD_FILE = "model_card.json"
PIPELINE_FILE = "pipeline.json"
MODEL_FILES = {STAGE_INSTALL: "install.ubj", STAGE_EVENTS: "early_events.ubj"}


class Estimate(NamedTuple):
    """What the model says of one prediction: the mean, its 80% interval, the stage that made
    them and its anomaly flags (the fields of the same names of `scorer.prediction.Prediction`;
    flags are None from models that do not flag, such as the analysis baselines)."""

    predicted_revenue: float
    lower: float
    upper: float
    stage: str
    flags: list[str] | None = None


MEAN = Estimate._fields[0]
"""The column of `predict_batch`'s frame holding the mean prediction."""


@runtime_checkable
class PredictorLike(Protocol):
    """What the API and the workers need of a predictor: `Predictor` below, or a test double.
    Its estimates carry the anomaly flags (`Estimate.flags`; a `flags` column from the batch)."""

    card: dict

    @property
    def version(self) -> str: ...

    def predict_one(self, record: Mapping[str, Any]) -> Estimate: ...

    def predict_batch(
        self, frame: pd.DataFrame | Mapping[str, Sequence], validated: bool = False
    ) -> pd.DataFrame: ...


def prior_countries(pipeline: FeaturePipeline) -> TrainingDomain:
    """The training domain of a bundle saved without one: only its countries, which the
    revenue prior (fitted on every training user) knows."""
    countries = {key for key in pipeline.revenue_prior.table if SEPARATOR not in key}
    return TrainingDomain({"country": frozenset(countries) - UNREADABLE})


class Predictor:
    def __init__(
        self,
        pipeline: FeaturePipeline,
        boosters: dict[str, xgb.Booster],
        intervals: MondrianIntervals | None = None,
        card: dict | None = None,
        domain: TrainingDomain | None = None,
        anomalous_country_policy: str = FLAG_BY_DEFAULT,
    ):
        """`domain`: the training categories and count ranges (None: no unseen or range flags);
        `anomalous_country_policy`: what to do with a user of an anomalous country (see
        `scorer.flags.COUNTRY_POLICIES`)."""
        if anomalous_country_policy not in COUNTRY_POLICIES:
            raise ValueError(
                f"anomalous_country_policy must be one of {', '.join(COUNTRY_POLICIES)}, "
                f"not {anomalous_country_policy!r}"
            )
        self.pipeline = pipeline
        self.boosters = boosters
        for booster in boosters.values():
            booster.set_param({"nthread": 1})
        self.forests = {stage: FlatForest(booster) for stage, booster in boosters.items()}
        self.intervals = intervals
        self.domain = domain
        self.anomalous_country_policy = anomalous_country_policy
        self.card = card or {}

    @property
    def card(self) -> dict:
        return self._card

    @card.setter
    def card(self, card: dict) -> None:
        """The model card; its `anomalous_countries` are flagged (or their rate replaced)."""
        self._card = card
        self.replaces_rate = self.anomalous_country_policy == REPLACE_RATE
        self.flagger = Flagger(
            self.domain or prior_countries(self.pipeline),
            card.get("anomalous_countries", ()),
            replaced=self.replaces_rate,
        )

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))

    # --- one record -----------------------------------------------------------------------
    def predict_one(self, record: Mapping[str, Any]) -> Estimate:
        """Predict one validated record (keys of `schema.RECORD_COLUMNS`; missing = unknown)."""
        flags = self.flagger.flags_one(record)
        # the country's flag comes first (declaration order) when there is one
        if self.replaces_rate and flags and flags[0] == self.flagger.country_flag:
            record = {**record, "country": None}  # the priors' top: the typical country's rate
        stage, row, offset, zero = self.pipeline.build_row(record)
        if zero:
            return Estimate(0.0, 0.0, 0.0, stage, flags)
        margin = self.forests[stage].margin_one(row)
        mean = float(np.exp(margin + offset))
        lower, upper = self._bounds_one(stage, record, mean)
        return Estimate(mean, lower, upper, stage, flags)

    def _bounds_one(
        self, stage: str, record: Mapping[str, Any], mean: float
    ) -> tuple[float, float]:
        if self.intervals is None:
            return math.nan, math.nan
        exposed = exposure(record.get("event_2"), record.get("event_3"))
        segment = self.intervals.segment_one(
            stage, record.get("country"), record.get("platform"), exposed
        )
        return self.intervals.bounds_one(segment, mean)

    # --- many records ---------------------------------------------------------------------
    def predict_batch(
        self, frame: pd.DataFrame | Mapping[str, Sequence], validated: bool = False
    ) -> pd.DataFrame:
        """Predict every row of a frame of install records: one column per `Estimate` field.

        The frame is checked against the data contract unless `validated` says it already was
        (by `scorer.data.validate_frame`, or built from `InstallRecord`s with every column).
        """
        clean = frame if validated else validate_frame(frame)
        flags = self.flagger.flags_frame(clean)
        if self.replaces_rate and self.flagger.anomalous:
            anomalous = per_distinct(clean["country"].to_numpy(), self.flagger.is_anomalous, bool)
            if anomalous.any():  # the priors' top: the typical country's rate
                clean = clean.assign(country=np.where(anomalous, None, clean["country"]))
        features = self.pipeline.build_frame(clean)
        mean = self._means(features)
        has_events = features["has_events"]
        stage = np.where(has_events, STAGE_EVENTS, STAGE_INSTALL)
        if self.intervals is None:
            lower = upper = np.full(len(mean), np.nan)
        else:
            segments = self.intervals.segments(
                has_events,
                clean["country"].to_numpy(),
                clean["platform"].to_numpy(),
                clean["event_2"].to_numpy(float),
                clean["event_3"].to_numpy(float),
            )
            lower, upper = self.intervals.bounds(segments, mean)
        index = frame.index if isinstance(frame, pd.DataFrame) else None
        return pd.DataFrame(Estimate(mean, lower, upper, stage, flags)._asdict(), index=index)

    def _means(self, features: dict[str, np.ndarray]) -> np.ndarray:
        has_events = features["has_events"]
        mean = np.zeros(len(has_events))
        for stage, rows in ((STAGE_EVENTS, has_events), (STAGE_INSTALL, ~has_events)):
            if not rows.any():
                continue
            key = "events" if stage == STAGE_EVENTS else "install"
            matrix = features[key][rows]
            if len(matrix) <= SMALL_BATCH:
                margin = self.forests[stage].margins(matrix)
            else:
                margin = self.boosters[stage].inplace_predict(matrix, predict_type="margin")
            mean[rows] = np.exp(margin.astype(np.float64) + features[f"{key}_offset"][rows])
        mean[features["zero"]] = 0.0
        return mean

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for stage, booster in self.boosters.items():
            booster.save_model(directory / MODEL_FILES[stage])
        state = {"pipeline": self.pipeline.to_dict()}
        if self.intervals is not None:
            state["intervals"] = self.intervals.to_dict()
        if self.domain is not None:
            state["domain"] = self.domain.to_dict()
        (directory / PIPELINE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        (directory / CARD_FILE).write_text(json.dumps(self.card, indent=2) + "\n")
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, anomalous_country_policy: str = FLAG_BY_DEFAULT
    ) -> Predictor:
        """Load a bundle written by `save` (the committed one lives in models/d7); a bundle
        saved without a training domain loads too, and flags only unseen countries (from its
        priors) and anomalous ones."""
        directory = Path(directory)
        if not (directory / PIPELINE_FILE).is_file():
            raise FileNotFoundError(f"no model bundle in {directory} (missing {PIPELINE_FILE})")
        state = json.loads((directory / PIPELINE_FILE).read_text())
        boosters = {}
        for stage, name in MODEL_FILES.items():
            booster = xgb.Booster()
            booster.load_model(directory / name)
            boosters[stage] = booster
        intervals = state.get("intervals")
        domain = state.get("domain")
        card_path = directory / CARD_FILE
        return cls(
            FeaturePipeline.from_dict(state["pipeline"]),
            boosters,
            MondrianIntervals.from_dict(intervals) if intervals else None,
            json.loads(card_path.read_text()) if card_path.is_file() else {},
            TrainingDomain.from_dict(domain) if domain else None,
            anomalous_country_policy,
        )
