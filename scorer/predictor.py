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
from .features import FeaturePipeline
from .forest import FlatForest
from .intervals import MondrianIntervals, exposure
from .schema import STAGE_EVENTS, STAGE_INSTALL

SMALL_BATCH = 48
"""Up to this many rows the flat forest beats XGBoost's per-call overhead (bench/predictor_bench)."""
CARD_FILE = "model_card.json"
PIPELINE_FILE = "pipeline.json"
MODEL_FILES = {STAGE_INSTALL: "install.ubj", STAGE_EVENTS: "early_events.ubj"}


class Estimate(NamedTuple):
    """The numbers of one prediction: the mean, its 80% interval and the stage that made them
    (the fields of the same names of `scorer.prediction.Prediction`)."""

    predicted_revenue: float
    lower: float
    upper: float
    stage: str


MEAN = Estimate._fields[0]
"""The column of `predict_batch`'s frame holding the mean prediction."""


@runtime_checkable
class PredictorLike(Protocol):
    """What the API and the workers need of a predictor: `Predictor` below, or a test double."""

    card: dict

    @property
    def version(self) -> str: ...

    def predict_one(self, record: Mapping[str, Any]) -> Estimate: ...

    def predict_batch(
        self, frame: pd.DataFrame | Mapping[str, Sequence], validated: bool = False
    ) -> pd.DataFrame: ...


class Predictor:
    def __init__(
        self,
        pipeline: FeaturePipeline,
        boosters: dict[str, xgb.Booster],
        intervals: MondrianIntervals | None = None,
        card: dict | None = None,
    ):
        self.pipeline = pipeline
        self.boosters = boosters
        for booster in boosters.values():
            booster.set_param({"nthread": 1})
        self.forests = {stage: FlatForest(booster) for stage, booster in boosters.items()}
        self.intervals = intervals
        self.card = card or {}

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))

    # --- one record -----------------------------------------------------------------------
    def predict_one(self, record: Mapping[str, Any]) -> Estimate:
        """Predict one validated record (keys of `schema.RECORD_COLUMNS`; missing = unknown)."""
        stage, row, offset, zero = self.pipeline.build_row(record)
        if zero:
            return Estimate(0.0, 0.0, 0.0, stage)
        margin = self.forests[stage].margin_one(row)
        mean = float(np.exp(margin + offset))
        lower, upper = self._bounds_one(stage, record, mean)
        return Estimate(mean, lower, upper, stage)

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
        return pd.DataFrame(Estimate(mean, lower, upper, stage)._asdict(), index=index)

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
        (directory / PIPELINE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        (directory / CARD_FILE).write_text(json.dumps(self.card, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        """Load a bundle written by `save` (the committed one lives in models/d7)."""
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
        card_path = directory / CARD_FILE
        return cls(
            FeaturePipeline.from_dict(state["pipeline"]),
            boosters,
            MondrianIntervals.from_dict(intervals) if intervals else None,
            json.loads(card_path.read_text()) if card_path.is_file() else {},
        )
