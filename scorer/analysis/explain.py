"""Per-feature contributions to a `Predictor`'s predictions (SHAP values of the trees).

Both stage models predict `exp(offset + trees(x))`, so contributions live on the log scale: the
offset splits into its known parts (exposure and the country x platform prior), XGBoost's
`pred_contribs` (exact TreeSHAP) splits the trees' output per feature, and a user's row sums to the
log of the predicted revenue. exp(contribution) is the factor each part multiplies revenue by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from ..data import validate_frame
from ..features import EVENTS_FEATURES, INSTALL_FEATURES, FeaturePipeline
from ..predictor import Predictor
from ..schema import STAGE_EVENTS, STAGE_INSTALL

TREES_BASE = "trees: base value"
EXPOSURE = "offset: log exposure (event_2 + event_3)"
PRIOR = "offset: country x platform prior"


def contributions(predictor: Predictor, frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Log-scale contributions of every user the `stage` model answers, indexed like `frame`.

    Early-events stage: users with event_2 known and some exposure (structural zeros are 0 by rule,
    not by the trees). Install stage: every user, as if seen at install.
    """
    features = predictor.pipeline.build_frame(validate_frame(frame))
    if stage == STAGE_EVENTS:
        rows = features["has_events"] & ~features["zero"]
        matrix, names = features["events"][rows], EVENTS_FEATURES
        prior = matrix[:, names.index("prior_log_rate")].astype(float)
        offset = features["events_offset"][rows]
        parts = {EXPOSURE: offset - prior, PRIOR: prior}
    elif stage == STAGE_INSTALL:
        rows = np.ones(len(frame), bool)
        matrix, names = features["install"], INSTALL_FEATURES
        parts = {PRIOR: features["install_offset"]}
    else:
        raise ValueError(f"unknown stage {stage!r}")
    shap = predictor.boosters[stage].predict(
        xgb.DMatrix(matrix, feature_names=list(names)), pred_contribs=True
    )
    table = pd.DataFrame(shap[:, :-1], columns=list(names), index=frame.index[rows])
    table[TREES_BASE] = shap[:, -1]
    for name, values in parts.items():
        table[name] = values
    return table


def feature_values(predictor: Predictor, frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    """The model's inputs for the rows `contributions` explains (same index and columns)."""
    features = predictor.pipeline.build_frame(validate_frame(frame))
    if stage == STAGE_EVENTS:
        rows = features["has_events"] & ~features["zero"]
        table = pd.DataFrame(features["events"][rows], columns=list(EVENTS_FEATURES))
        table[EXPOSURE] = np.exp(features["events_offset"][rows] - table["prior_log_rate"])
        table[PRIOR] = table["prior_log_rate"]
    else:
        rows = np.ones(len(frame), bool)
        table = pd.DataFrame(features["install"], columns=list(INSTALL_FEATURES))
        table[PRIOR] = table["prior_log_revenue"]
    table.index = frame.index[rows]
    return table


def describe_records(pipeline: FeaturePipeline, records: dict[str, dict]) -> pd.DataFrame:
    """What the feature pipeline makes of a few named records: stage, offset, structural zero
    and every feature of that stage (columns of the other stage stay empty)."""
    rows = {}
    for name, record in records.items():
        stage, row, offset, zero = pipeline.build_row(record)
        names = EVENTS_FEATURES if stage == STAGE_EVENTS else INSTALL_FEATURES
        rows[name] = {"stage": stage, "offset": offset, "structural zero": zero}
        rows[name].update(zip(names, row.astype(float).tolist(), strict=True))
    return pd.DataFrame(rows).T


def prior_rates(pipeline: FeaturePipeline, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """The two fitted priors for (country, platform) pairs, as rates rather than logs; an unseen
    value falls back to its parent level (or the top of the hierarchy)."""
    rows = {
        pair: {
            "revenue per exposure event": np.exp(pipeline.rate_prior.lookup_one(pair)),
            "revenue per user": np.exp(pipeline.revenue_prior.lookup_one(pair)),
        }
        for pair in pairs
    }
    table = pd.DataFrame(rows).T
    table.index.names = ["country", "platform"]
    return table


def importance(contribs: pd.DataFrame) -> pd.DataFrame:
    """Global view: mean |log contribution| per part, and the typical factor exp(that)."""
    mean_abs = contribs.drop(columns=[TREES_BASE]).abs().mean().sort_values(ascending=False)
    return pd.DataFrame({"mean |log contribution|": mean_abs, "typical factor": np.exp(mean_abs)})


def tree_importance(contribs: pd.DataFrame) -> pd.DataFrame:
    """The trees' corrections only (the offset left out): what the features add to the prior."""
    return importance(contribs.drop(columns=[c for c in (EXPOSURE, PRIOR) if c in contribs]))


def explain_user(contribs: pd.DataFrame, values: pd.DataFrame, row) -> pd.DataFrame:
    """One user's contributions, largest first, with the input values and factors; the last
    line is the prediction itself (exp of the sum)."""
    contribution = contribs.loc[row]
    table = pd.DataFrame(
        {
            "value": values.loc[row].reindex(contribution.index),
            "log contribution": contribution,
            "factor": np.exp(contribution),
        }
    )
    table = table.reindex(table["log contribution"].abs().sort_values(ascending=False).index)
    total = float(contribution.sum())
    table.loc["= predicted revenue"] = [np.nan, total, np.exp(total)]
    return table


def example_users(contribs: pd.DataFrame, anomalous_rows: pd.Series) -> dict[str, object]:
    """A few users worth reading: the median prediction, the largest correction by the trees
    and, if any, a user of an anomalous country (`anomalous_rows`: bool, indexed like contribs)."""
    total = contribs.sum(axis=1)
    trees = contribs.drop(columns=[c for c in (EXPOSURE, PRIOR) if c in contribs]).sum(axis=1)
    normal = total[~anomalous_rows.reindex(total.index, fill_value=False)]
    picks = {
        "median prediction": (normal - normal.median()).abs().idxmin(),
        "largest correction by the trees": trees[normal.index].abs().idxmax(),
    }
    inside = total.index[anomalous_rows.reindex(total.index, fill_value=False)]
    if len(inside):
        picks["anomalous country"] = inside[0]
    return picks
