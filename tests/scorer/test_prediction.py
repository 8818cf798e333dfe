"""`scorer.prediction`: the one declaration of a prediction, and the modules allowed to spell its
field names out."""

from __future__ import annotations

import ast
from pathlib import Path

from scorer.prediction import FIELDS, PUBLIC, View, view_names
from scorer.predictor import Estimate

from support.contract import ANSWER_FIELDS, CSV_COLUMNS
from support.paths import ROOT

PACKAGES = ("scorer", "adapters", "api", "worker", "ops", "bench", "notebooks")
ALLOWED = {
    "scorer/prediction.py",  # the declaration
    "scorer/predictor.py",  # produces the numbers (`Estimate`)
    "adapters/migrations/versions/",  # frozen history: each migration spells what it made
    "scorer/evaluate.py",  # the metrics that read them
}
SHARED = {
    "user_id": "a column of the install record",
    "source": "a column of the install record (the install's media source)",
    "event_id": "the metadata field of an install event",
    "stage": "the model stage, a key of the model card and of metric labels",
    "input": "too common a word to mean a prediction",
    "model_version": "the bundle's version in the model card, the registry and /model",
}
"""Field names that other contracts use too: they cannot be told apart by spelling alone."""
SCANNED = {
    name
    for info in FIELDS
    for name in (info.name, *info.spec.renamed.values())
    if name not in SHARED
}


def modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def literal_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    } & SCANNED


def test_the_scan_sees_the_declaration_and_the_frozen_migration():
    assert {"predicted_revenue", "lower", "upper", "created_at", "scored_at"} <= SCANNED
    assert literal_names(ROOT / "scorer/prediction.py") >= {"scored_at"}
    migration = ROOT / "adapters/migrations/versions/0001_create_predictions.py"
    assert literal_names(migration) >= {"predicted_revenue", "lower", "upper", "created_at"}


def test_prediction_field_names_are_literals_in_at_most_four_modules():
    found = {}
    for path in modules():
        names = literal_names(path)
        if names:
            found[str(path.relative_to(ROOT))] = sorted(names)
    outside = {
        path: names
        for path, names in found.items()
        if not any(path == allowed or path.startswith(allowed) for allowed in ALLOWED)
        or path.endswith("/")
    }
    assert not outside, f"derive these from scorer.prediction instead: {outside}"
    assert len(ALLOWED) <= 4


def test_estimate_fields_are_prediction_fields():
    names = {info.name for info in FIELDS}
    assert set(Estimate._fields) <= names
    for view in PUBLIC:
        assert set(Estimate._fields) <= set(view_names(view)), view


def test_public_views_keep_the_contract_order():
    assert view_names(View.ANSWER) == ANSWER_FIELDS
    assert view_names(View.CSV) == CSV_COLUMNS
