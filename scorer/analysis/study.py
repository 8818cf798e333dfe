"""What the model-development notebook needs to start and to check itself: where the data set
is, the training frame, and how a freshly trained model card compares with the committed one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import read_records
from ..evaluate import outside
from ..quality import rate_anomalies
from ..schema import STAGE_EVENTS, STAGE_INSTALL, TARGET
from ..train import TrainingConfig
from ..tuning import choose

DATA_ENV = "D7_DATA"
"""Environment variable naming the training CSV (relative paths start at the project root)."""
DEFAULT_DATA = "data/dataset.csv"
CARD_KEYS = ("version", "data", "anomalous_countries", "features", "config")
"""Card entries that must be equal between two trainings of the same code on the same data."""


class MissingDataError(FileNotFoundError):
    """The training data set is not where the notebook looks for it."""


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder holding pyproject.toml, from `start` (default: the working folder) up."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def dataset_path(environ: dict | None = None, root: Path | None = None) -> Path:
    """The data set named by D7_DATA (default data/dataset.csv); a clear error if it is missing."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get(DATA_ENV) or DEFAULT_DATA)
    if not path.is_absolute():
        path = (root or project_root()) / path
    if not path.is_file():
        raise MissingDataError(
            f"data set not found at {path}: copy ../shared/data/dataset.csv to data/dataset.csv "
            f"or set {DATA_ENV} to the path of the training CSV"
        )
    return path


@dataclass
class TrainingData:
    frame: pd.DataFrame
    """Validated install records (the data contract), without the target."""
    revenue: np.ndarray
    anomalous: list[str]
    """Countries whose revenue per event_2 is far outside the others' (scorer.quality)."""
    path: Path

    def outside_anomalous(self) -> np.ndarray:
        """Rows of users outside the anomalous countries."""
        return outside(self.frame, self.anomalous)


def load_training(path: str | Path) -> TrainingData:
    """Read and validate the training CSV, as `python -m scorer train` does."""
    frame = read_records(path, require_target=True)
    revenue = frame.pop(TARGET).to_numpy()
    return TrainingData(frame, revenue, rate_anomalies(frame, revenue), Path(path))


def _flat_metrics(card: dict) -> dict[tuple, float]:
    out = {}
    for stage, subsets in card["cv"]["metrics"].items():
        for subset, values in subsets.items():
            for metric, stats in values.items():
                for stat, value in stats.items():
                    out[(stage, subset, metric, stat)] = value
    return out


def card_differences(card: dict, reference: dict) -> pd.DataFrame:
    """How a newly trained card differs from a reference one (e.g. models/d7/model_card.json).

    One row per identity entry (version, data, ...) and per CV metric; `equal` says whether they
    agree exactly (the same code on the same data with the same seed gives identical numbers).
    """
    rows = [
        {
            "entry": key,
            "card": json.dumps(card.get(key)),
            "reference": json.dumps(reference.get(key)),
        }
        for key in (*CARD_KEYS, "cv.protocol")
    ]
    rows[-1].update(card=card["cv"]["protocol"], reference=reference["cv"]["protocol"])
    mine, theirs = _flat_metrics(card), _flat_metrics(reference)
    for key in sorted(set(mine) | set(theirs)):
        rows.append(
            {"entry": "cv." + ".".join(key), "card": mine.get(key), "reference": theirs.get(key)}
        )
    table = pd.DataFrame(rows)
    table["equal"] = [a == b for a, b in zip(table.card, table.reference, strict=True)]
    return table


def tuning_choice(table: pd.DataFrame, config: TrainingConfig) -> pd.DataFrame:
    """The settings `scorer.tuning.choose` picks from a tuning table (models/tuning.csv) beside
    those of `config`: the defaults of `TrainingConfig` are set from the table by hand."""
    rows = []
    for stage, params in ((STAGE_EVENTS, config.events), (STAGE_INSTALL, config.install)):
        winner = choose(table, stage)
        for column, value in winner.items():
            if not str(column).startswith("param_") or pd.isna(value):
                continue
            name = str(column).removeprefix("param_")
            current = getattr(config if name.startswith("k_") else params, name)
            rows.append(
                {
                    "stage": stage,
                    "setting": name,
                    "chosen by tune": value,
                    "TrainingConfig": current,
                }
            )
    result = pd.DataFrame(rows)
    result["equal"] = np.isclose(
        result["chosen by tune"].astype(float), result["TrainingConfig"].astype(float)
    )
    return result


def load_card(model_dir: str | Path) -> dict:
    return json.loads((Path(model_dir) / "model_card.json").read_text())
