"""The install stage once more, with tie-robust metrics: the chosen Tweedie model against a
two-part model, P(any ad exposure | attributes) x E[revenue | exposure, attributes], and against
segment means (country x platform x source), by repeated CV and on a split by row order.

The data set has no dates, so the row-order split (first 75% of the rows to train, the rest to
test) is only a stand-in for time: it tells whether the models hold on users they did not see in
the order the file was written, not how fast revenue drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from .. import metrics
from ..data import validate_frame
from ..evaluate import cross_validate, drop_events, outside
from ..features import INSTALL_FEATURES, FeaturePipeline
from ..normalize import map_unique
from ..predictor import MEAN
from ..schema import STAGE_INSTALL
from ..train import TrainingConfig, fit_models
from .candidates import as_predictions, weighted_median, xgb_params

SEGMENT_COLUMNS = ("country", "platform", "source")
MIN_SEGMENT_USERS = 30
"""Segment means need this many training users (else the country's, else everybody's); the
calibration error is measured on segments with this many held-out users."""
TRAIN_SHARE = 0.75


def _segments(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: map_unique(frame[c], c).to_numpy() for c in SEGMENT_COLUMNS})


@dataclass
class SegmentMeans:
    """Mean revenue per country x platform x source; smaller segments take their country's, and
    small countries the users-weighted median of the country means (robust to one extreme)."""

    cells: dict[tuple, float]
    countries: dict[str, float]
    overall: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, revenue: np.ndarray) -> SegmentMeans:
        data = _segments(frame).assign(revenue=np.asarray(revenue, float))
        cells = data.groupby(list(SEGMENT_COLUMNS)).revenue.agg(["mean", "size"])
        countries = data.groupby("country").revenue.agg(["mean", "size"])
        return cls(
            cells["mean"][cells["size"] >= MIN_SEGMENT_USERS].to_dict(),
            countries["mean"][countries["size"] >= MIN_SEGMENT_USERS].to_dict(),
            weighted_median(countries["mean"].to_numpy(), countries["size"].to_numpy(float)),
        )

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        keys = _segments(validate_frame(frame))
        mean = [
            self.cells.get(tuple(row), self.countries.get(row[0], self.overall))
            for row in keys.itertuples(index=False)
        ]
        return as_predictions(np.asarray(mean), np.zeros(len(frame), bool), frame.index)


@dataclass
class TwoPartInstall:
    """P(any ad exposure) by a logistic booster x revenue of exposed users by a Tweedie one,
    both on the install features, the second from the revenue-per-user prior as offset."""

    pipeline: FeaturePipeline
    exposed: xgb.Booster
    revenue: xgb.Booster

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, revenue: np.ndarray, config: TrainingConfig
    ) -> TwoPartInstall:
        revenue = np.asarray(revenue, float)
        pipeline = FeaturePipeline.fit(frame, revenue, config.k_rate, config.k_revenue)
        features = pipeline.build_frame(drop_events(frame))
        exposure = frame["event_2"].to_numpy(float) + frame["event_3"].to_numpy(float)
        any_exposure = np.where(np.isnan(exposure), revenue > 0, exposure > 0)
        names = list(INSTALL_FEATURES)
        settings = xgb_params(
            config.install, {"objective": "binary:logistic"}, config, tuple(names)
        )
        settings.pop("base_score")
        labels = xgb.DMatrix(
            features["install"], label=any_exposure.astype(float), feature_names=names
        )
        exposed = xgb.train(settings, labels, config.install.rounds)
        rows = any_exposure
        matrix = xgb.DMatrix(
            features["install"][rows],
            label=revenue[rows],
            base_margin=features["install_offset"][rows],
            feature_names=names,
        )
        settings = config.install.xgb_params(config.seed, config.threads, tuple(names))
        return cls(pipeline, exposed, xgb.train(settings, matrix, config.install.rounds))

    def predict_batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = self.pipeline.build_frame(drop_events(validate_frame(frame)))
        matrix = features["install"]
        probability = self.exposed.inplace_predict(matrix).astype(float)
        margin = self.revenue.inplace_predict(matrix, predict_type="margin").astype(float)
        mean = probability * np.exp(margin + features["install_offset"])
        return as_predictions(mean, np.zeros(len(frame), bool), frame.index)


def install_models(config: TrainingConfig) -> dict:
    """name -> fit(frame, revenue): the three install-stage models compared."""
    return {
        "chosen: Tweedie + offset": lambda f, r: fit_models(f, r, config, config.threads),
        "two-part: P(exposure) x revenue": lambda f, r: TwoPartInstall.fit(f, r, config),
        "segment means (country x platform x source)": SegmentMeans.fit,
    }


def calibration_error(frame: pd.DataFrame, y_true, y_pred) -> float:
    """Users-weighted mean |total predicted / total true - 1| over the country x platform x
    source segments with at least MIN_SEGMENT_USERS users and some revenue."""
    data = _segments(frame).assign(true=np.asarray(y_true, float), pred=np.asarray(y_pred, float))
    table = data.groupby(list(SEGMENT_COLUMNS)).agg(
        users=("true", "size"), true=("true", "sum"), pred=("pred", "sum")
    )
    table = table[(table.users >= MIN_SEGMENT_USERS) & (table.true > 0)]
    return float(np.average((table.pred / table.true - 1).abs(), weights=table.users))


def _scores(frame, revenue, predicted, anomalous) -> dict[str, float]:
    keep = outside(frame, anomalous)
    return {
        "gini": metrics.normalized_gini(revenue[keep], predicted[keep]),
        "spearman": metrics.spearman(revenue[keep], predicted[keep]),
        "total_ratio": metrics.total_ratio(revenue[keep], predicted[keep]),
        "segment_calibration_error": calibration_error(frame[keep], revenue[keep], predicted[keep]),
    }


def compare_install(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    anomalous: list[str],
    config: TrainingConfig,
    repeats: int = 3,
) -> pd.DataFrame:
    """One row per model and evaluation, users outside the anomalous countries: tie-robust Gini,
    Spearman and total ratio (CV: mean over folds, as in the model card), and the segment
    calibration error (CV: each repeat's held-out predictions pooled, then the mean)."""
    revenue = np.asarray(revenue, float)
    rows = []
    for name, fit in install_models(config).items():
        cv = cross_validate(frame, revenue, fit, anomalous, repeats=repeats, progress=False)
        folds = cv.folds[(cv.folds.stage == STAGE_INSTALL) & (cv.folds.subset == "excl_anomalous")]
        held = cv.held_out[cv.held_out.stage == STAGE_INSTALL]
        keep = outside(frame, anomalous)
        errors = []
        for _, one in held.groupby("repeat"):  # every user once per repeat
            users = one.row.to_numpy()
            inside = keep[users]
            errors.append(
                calibration_error(
                    frame.iloc[users[inside]],
                    revenue[users[inside]],
                    one.predicted_revenue.to_numpy()[inside],
                )
            )
        rows.append(
            {"model": name, "evaluation": f"5-fold x {repeats} CV"}
            | {m: float(folds[m].mean()) for m in ("gini", "spearman", "total_ratio")}
            | {"gini_std": float(folds["gini"].std(ddof=1))}
            | {"segment_calibration_error": float(np.mean(errors))}
        )
        cut = int(len(frame) * TRAIN_SHARE)
        model = fit(frame.iloc[:cut].reset_index(drop=True), revenue[:cut])
        test = frame.iloc[cut:].reset_index(drop=True)
        predicted = model.predict_batch(drop_events(test))[MEAN].to_numpy()
        rows.append(
            {"model": name, "evaluation": "row order: first 75% -> last 25%"}
            | _scores(test, revenue[cut:], predicted, anomalous)
        )
    return pd.DataFrame(rows).set_index(["evaluation", "model"]).sort_index()
