"""The model bundle's life cycle on files: train one, predict a CSV with it, evaluate it.

These are the bodies of the CLI commands, kept importable so the notebook and tests call the
very code the command line runs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .coverage import card_entry, segment_coverage
from .data import file_sha256, read_records
from .evaluate import SUBSETS, cross_validate, predict_both_stages, stage_metrics
from .features import EVENTS_FEATURES, INSTALL_FEATURES
from .flags import FLAG_SEPARATOR
from .prediction import FLAGS_FIELD, View, view_fields
from .predictor import Estimate, Predictor
from .quality import rate_anomalies
from .schema import EVENT_WINDOW_DAYS, STAGE_EVENTS, STAGE_INSTALL, TARGET
from .train import TrainingConfig, fit_predictor

LIBRARIES = ("xgboost-cpu", "numpy", "pandas", "scikit-learn", "scipy")
PREDICT_CHUNK = 100_000
CSV_FIELDS = view_fields(View.CSV)
CV_FOLDS = 5
EVENT_WINDOW = (
    f"event_1, event_2 and event_3 must be counted over the same first {EVENT_WINDOW_DAYS} days "
    "after install as the revenue (revenue is close to rate x (event_2 + event_3)); counts of a "
    "shorter window, such as day 1 only, give an under-prediction that the answer does not mark"
)
"""What the early-events stage assumes of its inputs, as the model card states it."""


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


BUNDLE_FORMAT = 3
"""What a bundle holds, bumped whenever that changes with the same data and settings (1: ratio
intervals per stage x platform; 2: Mondrian intervals per segment and the training domain that
the flags read; 3: the training distribution of each input, for drift), so that two different
bundles never share a version."""


def model_version(data_sha256: str, config: TrainingConfig) -> str:
    """Deterministic id: the same data, settings and bundle format give the same version."""
    settings = json.dumps(config.to_dict(), sort_keys=True)
    digest = hashlib.sha256(f"{data_sha256}{settings}{BUNDLE_FORMAT}".encode())
    return f"d7-{digest.hexdigest()[:12]}"


def train_bundle(
    data: str | Path,
    out: str | Path,
    config: TrainingConfig | None = None,
    repeats: int = 3,
    progress: bool = True,
) -> dict:
    """Cross-validate, fit on all rows, and write the bundle with its model card to `out`."""
    config = config or TrainingConfig()
    frame = read_records(data, require_target=True)
    revenue = frame.pop(TARGET).to_numpy()
    anomalous = rate_anomalies(frame, revenue)
    cv = cross_validate(
        frame,
        revenue,
        lambda f, r: fit_predictor(f, r, config, config.threads),
        anomalous,
        folds=CV_FOLDS,
        repeats=repeats,
        seed=config.seed,
        progress=progress,
    )
    sha = file_sha256(data)
    card: dict = {
        "version": model_version(sha, config),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"file": Path(data).name, "sha256": sha, "rows": int(len(frame))},
        "target": "revenue in the first 7 days after install (mean prediction)",
        "stages": {
            STAGE_INSTALL: "attributes only (no event counts)",
            STAGE_EVENTS: "attributes and event counts (event_2 known)",
        },
        "event_window": EVENT_WINDOW,
        "anomalous_countries": anomalous,
        "cv": {
            "protocol": f"{CV_FOLDS}-fold x {repeats} repeated stratified CV, seed {config.seed}",
            "subsets": {
                "all": "every user",
                "excl_anomalous": f"users outside {', '.join(anomalous) or 'no country'}",
            },
            "metrics": cv.summary(),
        },
        "features": {STAGE_EVENTS: list(EVENTS_FEATURES), STAGE_INSTALL: list(INSTALL_FEATURES)},
        "config": config.to_dict(),
        "libraries": _library_versions(),
    }
    if progress:
        print("fitting the final model on every row ...", flush=True)
    predictor = fit_predictor(frame, revenue, config, config.threads)
    coverage = segment_coverage(frame, revenue, cv.held_out, predictor.intervals)
    card["intervals"] = card_entry(coverage, config.coverage)
    predictor.card = card = _finite(card)
    predictor.save(out)
    return card


def predict_file(
    model: str | Path, data: str | Path, out: str | Path, progress: bool = True
) -> int:
    """Write the CSV view of a prediction (`user_id,predicted_revenue,lower,upper,stage,
    model_version,flags`, the flags joined by `|`) for every input row."""
    predictor = Predictor.load(model)
    frame = read_records(data)
    parts = []
    for start in tqdm(
        range(0, len(frame), PREDICT_CHUNK), disable=not progress, desc="predicting", unit="chunk"
    ):
        chunk = frame.iloc[start : start + PREDICT_CHUNK]
        parts.append(predictor.predict_batch(chunk))
    predicted = pd.concat(parts) if parts else pd.DataFrame(columns=Estimate._fields)
    columns = {name: predicted[name].to_numpy() for name in Estimate._fields}
    columns.update(user_id=frame["user_id"].to_numpy(), model_version=predictor.version)
    columns[FLAGS_FIELD] = [FLAG_SEPARATOR.join(flags) for flags in columns[FLAGS_FIELD]]
    result = pd.DataFrame({info.public(View.CSV): columns[info.name] for info in CSV_FIELDS})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    return len(result)


def evaluate_file(model: str | Path, data: str | Path) -> dict:
    """Metrics of a bundle on a labelled CSV, per stage, on all users and outside anomalies."""
    predictor = Predictor.load(model)
    frame = read_records(data, require_target=True)
    revenue = frame.pop(TARGET).to_numpy()
    anomalous = predictor.card.get("anomalous_countries", [])
    metrics = stage_metrics(frame, revenue, predict_both_stages(predictor, frame), anomalous)
    return {
        "model_version": predictor.version,
        "rows": int(len(frame)),
        "anomalous_countries": anomalous,
        "subsets": list(SUBSETS),
        "metrics": _finite(metrics),
    }


def _finite(value):
    """JSON has no NaN: metrics that are undefined on a file (e.g. R2 of a constant) become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
