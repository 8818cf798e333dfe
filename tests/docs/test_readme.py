"""The README matches the code: every setting is documented, every make target it names exists,
and the metrics table quotes the committed model card."""

from __future__ import annotations

import json
import re

import pytest

from adapters.settings import Settings

from support.paths import MODEL_DIR, ROOT

README = (ROOT / "README.md").read_text()
CARD = json.loads((MODEL_DIR / "model_card.json").read_text())


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in README, name


def test_every_make_target_named_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)`", README)) | set(
        re.findall(r"^make ([a-z-]+) ", README, re.M)
    )
    assert named and named <= targets, named - targets


def test_the_bundle_version_quoted_is_the_committed_one():
    assert f"`{CARD['version']}`" in README


ROWS = {  # README row label -> (stage, subset)
    ("early events", "all"): ("early_events", "all"),
    ("early events", "outside `pe`"): ("early_events", "excl_anomalous"),
    ("install", "all"): ("install", "all"),
    ("install", "outside `pe`"): ("install", "excl_anomalous"),
}
COLUMNS = ("mae", "r2", "spearman", "gini", "decile_mape", "total_ratio", "coverage_80")


@pytest.mark.parametrize("label", sorted(ROWS))
def test_metrics_table_quotes_the_card(label):
    stage, subset = ROWS[label]
    line = next(
        row for row in README.splitlines() if row.startswith(f"| {label[0]} | {label[1]} |")
    )
    quoted = [float(cell) for cell in line.strip("|").split("|")[2:]]
    for metric, value in zip(COLUMNS, quoted, strict=True):
        actual = CARD["cv"]["metrics"][stage][subset][metric]["mean"]
        digits = len(str(value).split(".")[1]) if "." in str(value) else 0
        assert value == pytest.approx(actual, abs=0.6 * 10**-digits), (label, metric, actual)
