"""The model-development notebook: committed executed and clean, runnable top to bottom on the
data (skipped with the reason when the data set is absent, required under REQUIRE_DATA=1), and
showing the very numbers of the committed model card."""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path

import nbformat
import pytest

from scorer.analysis import study
from scorer.analysis.comparison import summary_table
from support.paths import MODEL_DIR, ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CHOSEN_TAG = "chosen-model-cv"
"""Tag of the cell that shows the chosen model's cross-validation (the model card's numbers)."""
MAX_BYTES = 5_000_000
execute = runpy.run_path(str(ROOT / "notebooks" / "execute.py"))["execute"]


@pytest.fixture(scope="module")
def dataset() -> Path:
    try:
        return study.dataset_path(root=ROOT)
    except study.MissingDataError as error:
        if os.environ.get("REQUIRE_DATA") == "1":
            pytest.fail(f"REQUIRE_DATA=1 but {error}", pytrace=False)
        pytest.skip(str(error))


def outputs(notebook, kinds=("execute_result", "display_data", "stream", "error")):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type in kinds:
                    yield cell, output


def chosen_model_text(notebook) -> str:
    """The text of the tagged cell's result: the chosen model's CV table as printed."""
    tagged = [c for c in notebook.cells if CHOSEN_TAG in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"one cell must be tagged {CHOSEN_TAG!r}"
    results = [o for o in tagged[0].outputs if o.output_type == "execute_result"]
    assert len(results) == 1
    return results[0].data["text/plain"]


def assert_shows_the_card(text: str, card: dict) -> None:
    """Every 'mean ± std' cell of the card's CV table is printed, and nothing else is."""
    expected = summary_table(card["cv"]["metrics"]).to_numpy().ravel()
    missing = [cell for cell in expected if cell not in text]
    assert not missing, f"not shown: {missing}"
    assert text.count("±") == sum(cell.count("±") for cell in expected)


def test_there_is_a_numbered_notebook():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_executed_in_order_without_errors(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for _, o in outputs(notebook, ("error",))]
    assert not [o.text for _, o in outputs(notebook, ("stream",)) if o.name == "stderr"]
    for _, output in outputs(notebook, ("execute_result", "display_data")):
        assert "image/svg+xml" not in output.data


def test_committed_notebooks_are_small():
    assert sum(p.stat().st_size for p in NOTEBOOKS) < MAX_BYTES


def test_committed_notebook_shows_the_committed_model_card():
    """Catches a notebook left stale after models/d7 was retrained (re-run `make notebook`)."""
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    assert_shows_the_card(chosen_model_text(notebook), study.load_card(MODEL_DIR))


@pytest.mark.slow  # starts a notebook kernel
def test_a_missing_data_set_stops_the_notebook_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv(study.DATA_ENV, str(tmp_path / "absent.csv"))
    with pytest.raises(Exception) as error:
        execute(NOTEBOOKS[0], write=False)
    assert "MissingDataError" in str(error.value) and "absent.csv" in str(error.value)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_and_reproduces_the_model_card(dataset, tmp_path, monkeypatch):
    """The whole story on the real data (a few minutes): no cell fails, and the model it trains
    through `scorer` is the committed one, number for number."""
    monkeypatch.setenv(study.DATA_ENV, str(dataset))
    monkeypatch.setenv("D7_NOTEBOOK_BUNDLE", str(tmp_path / "bundle"))
    start = time.perf_counter()
    notebook = execute(NOTEBOOKS[0], write=False)
    print(f"{NOTEBOOKS[0].name} executed in {time.perf_counter() - start:.0f} s")
    assert not [o for _, o in outputs(notebook, ("error",))]
    differences = study.card_differences(
        study.load_card(tmp_path / "bundle"), study.load_card(MODEL_DIR)
    )
    assert differences.equal.all(), differences[~differences.equal].to_string()
    assert_shows_the_card(chosen_model_text(notebook), study.load_card(MODEL_DIR))
