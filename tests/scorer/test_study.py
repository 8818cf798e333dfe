"""Where the notebook finds its data, and how two model cards are compared."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorer.analysis import study
from scorer.synth import synthetic_records
from scorer.train import TrainingConfig


def test_the_data_path_comes_from_the_environment(tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("x\n")
    assert study.dataset_path({"D7_DATA": str(data)}) == data
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset.csv").write_text("x\n")
    assert study.dataset_path({}, root=tmp_path) == tmp_path / "data" / "dataset.csv"
    assert study.dataset_path({"D7_DATA": "train.csv"}, root=tmp_path) == data


def test_a_missing_data_set_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(study.MissingDataError) as error:
        study.dataset_path({"D7_DATA": str(tmp_path / "nowhere.csv")})
    message = str(error.value)
    assert str(tmp_path / "nowhere.csv") in message and "D7_DATA" in message
    assert "../shared/data/dataset.csv" in message


def test_the_project_root_holds_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    assert study.project_root(tmp_path / "notebooks") == tmp_path.resolve()
    assert (study.project_root(Path(__file__).parent) / "scorer").is_dir()


def test_load_training_finds_the_anomalous_country(tmp_path):
    frame = synthetic_records(2000, seed=5)
    frame.loc[frame.country == "de", "revenue"] *= 1e5
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    data = study.load_training(path)
    assert data.anomalous == ["de"] and "revenue" not in data.frame
    assert np.array_equal(data.outside_anomalous(), (frame.country != "de").to_numpy())


def card():
    metrics = {"mae": {"mean": 1.0, "std": 0.1}, "gini": {"mean": 0.99, "std": 0.001}}
    return {
        "version": "d7-abc",
        "data": {"sha256": "0" * 64, "rows": 10},
        "anomalous_countries": ["pe"],
        "features": {"install": ["ios"]},
        "config": {"seed": 1},
        "trained_at": "today",
        "cv": {"protocol": "5-fold x 3", "metrics": {"early_events": {"all": metrics}}},
    }


def test_identical_cards_agree_on_every_entry():
    differences = study.card_differences(card(), json.loads(json.dumps(card())))
    assert differences.equal.all() and len(differences) == 6 + 4


def test_a_changed_number_or_identity_is_reported():
    other = copy.deepcopy(card())
    other["cv"]["metrics"]["early_events"]["all"]["gini"]["std"] = 0.002
    other["version"] = "d7-def"
    other["trained_at"] = "yesterday"  # not an identity entry
    differences = study.card_differences(card(), other).set_index("entry")
    assert set(differences.index[~differences.equal]) == {
        "version",
        "cv.early_events.all.gini.std",
    }


def test_the_tuned_settings_beside_the_configuration():
    config = TrainingConfig()
    table = pd.DataFrame(
        [
            {
                "stage": "early_events",
                "param_max_depth": 6,
                "param_rounds": 200,
                "param_k_rate": config.k_rate,
                "excl_anomalous_gini": 0.9,
                **{
                    f"{s}_{m}": 0.5
                    for s, m in (
                        ("all", "mae"),
                        ("all", "r2"),
                        ("excl_anomalous", "spearman"),
                        ("excl_anomalous", "decile_mape"),
                        ("excl_anomalous", "total_ratio"),
                        ("all", "total_ratio"),
                    )
                },
            },
            {
                "stage": "install",
                "param_max_depth": 9,
                "param_tweedie_variance_power": 1.5,
                "excl_anomalous_gini": 0.3,
            },
        ]
    )
    choice = study.tuning_choice(table, config).set_index(["stage", "setting"])
    assert choice.loc[("early_events", "max_depth"), "TrainingConfig"] == config.events.max_depth
    assert choice.loc[("early_events", "k_rate"), "equal"]
    assert not choice.loc[("install", "max_depth"), "equal"]  # the table says 9
    assert ("install", "k_revenue") not in choice.index  # not in this table
