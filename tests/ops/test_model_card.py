"""`python -m ops model card`: the committed bundle's CV metrics, as the docs quote them."""

import json

from click.testing import CliRunner
from conftest import MODEL_DIR

from ops.cli import cli


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
