"""GET /monitoring/drift: the predictions stored in the window against the bundle's training
distribution, equal to `scorer.drift` on the same inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from adapters.store import PredictionStore
from scorer.domain import TrainingDomain
from scorer.drift import ANY, drift_report
from scorer.synth import synthetic_records

from support.rows import prediction_row


def _store(app, frame: pd.DataFrame, created_at: datetime) -> None:
    rows = [
        prediction_row(
            f"u{index}",
            f"{created_at:%Y%m%d}-{index}",
            0.1,
            created_at,
            source="api",
            input={k: (None if v != v else v) for k, v in record.items()},
        )
        for index, record in enumerate(frame.to_dict("records"))
    ]
    PredictionStore(app.extensions["d7"].engine).save_many(rows)


@pytest.fixture
def training():
    return synthetic_records(3000, seed=11).drop(columns="revenue")


def test_the_report_is_scorer_drift_of_the_window(make_app, fake_predictor, training):
    predictor = fake_predictor
    predictor.domain = TrainingDomain.fit(training)
    app = make_app(predictor=predictor)
    now = datetime.now(UTC)
    recent = synthetic_records(400, seed=12).drop(columns="revenue")
    recent.loc[recent.index[:100], "country"] = "zz"
    _store(app, recent, now)
    _store(app, training.iloc[:300], now - timedelta(days=3))  # outside the default window
    body = app.test_client().get("/monitoring/drift").get_json()
    assert body["available"] and body["predictions"] == 400
    expected = drift_report(predictor.domain, recent).set_index("feature")
    got = {row["feature"]: row for row in body["features"]}
    assert set(got) == set(expected.index)
    for feature, row in expected.iterrows():
        if row.psi == row.psi:
            assert got[feature]["psi"] == pytest.approx(row.psi)
    assert got["country"]["unseen_share"] == pytest.approx(0.25)
    assert got[ANY]["psi"] is None
    since = (now - timedelta(days=3)).date().isoformat()
    wider = app.test_client().get(f"/monitoring/drift?since={since}").get_json()
    assert wider["predictions"] == 700


def test_a_bundle_without_distribution_reports_drift_unavailable(client):
    body = client.get("/monitoring/drift").get_json()
    assert body["available"] is False and body["features"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=2026-12-02&until=2026-12-01", "since"), ("until=tomorrow", "until"), ("x=1", "x")],
)
def test_bad_parameters_are_named(client, query, field):
    response = client.get(f"/monitoring/drift?{query}")
    assert response.status_code == 422
    assert field in [detail["field"] for detail in response.get_json()["details"]]
