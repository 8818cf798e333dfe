"""The command line round trip: synth -> train -> predict -> evaluate, exactly as documented."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from scorer.bundle import train_bundle
from scorer.cli import cli

from support.contract import CSV_COLUMNS

pytestmark = pytest.mark.slow  # trains a bundle with cross-validation


def main(argv: list[str]):
    """Run the command line in this process; returns the click Result."""
    return CliRunner().invoke(cli, argv)


def predict_file(model: Path, data: Path, out: Path):
    """`predict --quiet` from `data` to `out` with the bundle at `model`."""
    return main(
        ["predict", "--model", str(model), "--data", str(data), "--out", str(out), "--quiet"]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_config):
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "train.csv"
    assert main(["synth", "--rows", "1500", "--out", str(data), "--seed", "3"]).exit_code == 0
    card = train_bundle(data, folder / "model", small_config, repeats=1, progress=False)
    return folder, data, card


def test_synth_writes_labelled_records(trained):
    folder, data, _ = trained
    frame = pd.read_csv(data)
    assert len(frame) == 1500 and frame.user_id.str.startswith("synthetic-").all()
    assert (frame.revenue >= 0).all()


def test_model_card_describes_the_bundle(trained):
    folder, _, card = trained
    saved = json.loads((folder / "model" / "model_card.json").read_text())
    assert saved == card
    for key in ("version", "trained_at", "data", "cv", "features", "libraries"):
        assert key in saved
    assert saved["data"]["rows"] == 1500 and len(saved["data"]["sha256"]) == 64
    assert "first 7 days after install" in saved["event_window"]
    assert saved["cv"]["metrics"]["early_events"]["all"]["mae"]["std"] >= 0


def test_predict_writes_every_row_and_ignores_revenue(trained, tmp_path):
    folder, data, card = trained
    raw = pd.read_csv(data).iloc[:300]
    raw.loc[:99, ["event_1", "event_2", "event_3"]] = None
    raw.loc[200, "country"] = "zz"  # never in training
    raw.loc[201, "event_2"] = pd.read_csv(data).event_2.max() + 1
    source = tmp_path / "in.csv"
    raw.drop(columns=["event_1", "event_2", "event_3"]).iloc[:50].to_csv(
        tmp_path / "attrs.csv", index=False
    )
    raw.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert predict_file(folder / "model", source, out).exit_code == 0
    result = pd.read_csv(out)
    assert list(result.columns) == list(CSV_COLUMNS)
    assert result["flags"].iloc[200] == "unseen_country"
    assert result["flags"].iloc[201] == "event_count_above_training"
    assert result["flags"].drop([200, 201]).isna().all()  # an empty cell: no flag
    assert len(result) == 300 and (result.model_version == card["version"]).all()
    assert (result.stage.iloc[:100] == "install").all() and (
        result.stage.iloc[100:] == "early_events"
    ).all()
    assert (
        predict_file(folder / "model", tmp_path / "attrs.csv", tmp_path / "attrs_out.csv").exit_code
        == 0
    )
    assert (pd.read_csv(tmp_path / "attrs_out.csv").stage == "install").all()


def test_evaluate_prints_metrics_as_json(trained):
    folder, data, _ = trained
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "scorer",
            "evaluate",
            "--model",
            str(folder / "model"),
            "--data",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(completed.stdout)
    assert report["rows"] == 1500
    assert set(report["metrics"]) == {"early_events", "install"}
    assert report["metrics"]["early_events"]["all"]["r2"] > 0.8


def test_bad_input_fails_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,country\nu1,es\n")
    result = main(
        ["predict", "--model", str(tmp_path), "--data", str(bad), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "error:" in result.stderr
