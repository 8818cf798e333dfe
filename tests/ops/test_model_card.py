"""`python -m ops model card`: the committed bundle's CV metrics, as the docs quote them."""

import json

from click.testing import CliRunner

from ops.cli import cli

from support.paths import MODEL_DIR


def test_card_prints_every_stage_and_subset_with_the_card_values():
    result = CliRunner().invoke(cli, ["model", "card", "--bundle", str(MODEL_DIR)])
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    header = out[3].split()
    for stage, subsets in card["cv"]["metrics"].items():
        for subset, values in subsets.items():
            row = next(line.split() for line in out if line.split()[:2] == [stage, subset])
            spearman = float(row[header.index("spearman")])
            assert spearman == float(format(values["spearman"]["mean"], ".4g"))
    assert card["version"] in out[0]


def test_card_prints_the_interval_coverage_per_segment_and_the_worst():
    result = CliRunner().invoke(cli, ["model", "card", "--bundle", str(MODEL_DIR)])
    assert result.exit_code == 0
    out = result.stdout
    entry = json.loads((MODEL_DIR / "model_card.json").read_text())["intervals"]
    for row in entry["segments"]:
        line = next(
            line
            for line in out.splitlines()
            if line.split()[:2] == [row["stage"], row["kind"]]
            and line.split()[-3:-2] == [str(row["users"])]
            and f" {row['name']} " in line
        )
        assert f"{row['coverage']:.3f}" in line and str(row["users"]) in line
    worst = entry["worst"]
    assert f"{worst['name']} ({worst['users']} users): coverage {worst['coverage']:.3f}" in out
