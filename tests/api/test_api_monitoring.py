"""POST /outcomes and GET /monitoring/calibration: validation (unit, fakeredis + SQLite), and the
whole loop against the real Redis and Postgres with the real model: installs in over HTTP,
outcomes in over HTTP and over the stream, and a report whose figures equal `scorer.metrics`
computed independently on the same users."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from adapters.outcomes import encode_outcome
from adapters.settings import Settings
from adapters.store import make_engine
from adapters.stream import EventStream
from api.app import create_app
from scorer import metrics
from scorer.synth import synthetic_records

from support import paths
from support.api import assert_refused_naming

MODEL_DIR = str(paths.MODEL_DIR)


# --- unit ----------------------------------------------------------------------------------


def test_one_outcome_or_a_batch_is_appended_to_the_outcomes_stream(client, fake_client):
    one = client.post("/outcomes", json={"user_id": "u-1", "revenue": 0.42})
    assert one.status_code == 202 and one.get_json()["count"] == 1
    batch = [
        {"user_id": "u-2", "revenue": 0, "install_date": "2026-11-20"},
        {"user_id": "u-3", "revenue": 1.5, "install_date": "2026-11-21"},
    ]
    assert client.post("/outcomes", json={"outcomes": batch}).get_json()["count"] == 2
    entries = [fields for _, fields in fake_client.xrange("outcomes")]
    assert entries[0] == {b"user_id": b"u-1", b"revenue": b"0.42", b"install_date": b""}
    assert entries[2] == {b"user_id": b"u-3", b"revenue": b"1.5", b"install_date": b"2026-11-21"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u-1", "revenue": -1}, "revenue"),
        ({"user_id": "u-1"}, "revenue"),
        ({"revenue": 1}, "user_id"),
        ({"user_id": "  ", "revenue": 1}, "user_id"),
        ({"user_id": "u-1", "revenue": 1, "install_date": "20-11-2026"}, "install_date"),
        ({"user_id": "u-1", "revenue": 1, "country": "us"}, "country"),
        ({"outcomes": [{"user_id": "u", "revenue": 1}, {"user_id": "v", "revenue": "x"}]},
         "outcomes.1.revenue"),
        ({"outcomes": []}, "outcomes"),
    ],
)  # fmt: skip
def test_bad_outcomes_are_refused_naming_the_field(client, fake_client, body, field):
    assert_refused_naming(client.post("/outcomes", json=body), field)
    assert fake_client.xlen("outcomes") == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("by=country,colour", "by.1"),
        ("since=yesterday", "since"),
        ("until=2026-02-30", "until"),
        ("since=2026-11-20&until=2026-11-01", "since"),
        ("since=1066-10-14", "since"),
        ("window=7", "window"),
    ],
)
def test_bad_report_parameters_are_refused_naming_them(client, query, field):
    response = client.get(f"/monitoring/calibration?{query}")
    assert response.status_code == 422
    assert [detail["field"] for detail in response.get_json()["details"]] == [field]


def test_an_empty_window_is_an_empty_report(client):
    response = client.get("/monitoring/calibration?since=2026-11-01&until=2026-11-30&by=country")
    assert response.status_code == 200
    report = response.get_json()
    assert report["by"] == ["country", "stage"]
    assert report["segments"] == [] and report["deciles"] == []
    assert set(report["totals"].values()) == {0}


def test_the_document_describes_the_report_parameters(client):
    document = client.get("/openapi.json").get_json()
    parameters = document["paths"]["/monitoring/calibration"]["get"]["parameters"]
    by = next(parameter for parameter in parameters if parameter["name"] == "by")
    assert by["in"] == "query" and by["style"] == "form" and by["explode"] is False
    assert set(by["schema"]["items"]["enum"]) >= {"country", "stage", "install_date"}
    assert {parameter["name"] for parameter in parameters} == {"since", "until", "by"}


# --- integration: the loop, end to end -------------------------------------------------------


@pytest.fixture(scope="module")
def predictor():
    from scorer.predictor import Predictor

    return Predictor.load(MODEL_DIR)


def records(count, seed):
    frame = synthetic_records(count, seed=seed)
    revenue = frame.pop("revenue").to_numpy(float)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for i, row in enumerate(rows):
        row["user_id"] = f"loop-{seed}-{i}"
    return rows, revenue


def independent_report(database_url, actual: dict[str, float]) -> pd.DataFrame:
    """The figures per country and stage, from the predictions table and the known outcomes,
    with `scorer.metrics` only."""
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text(
                "SELECT user_id, stage, input->>'country' AS country, predicted_revenue, lower,"
                " upper FROM predictions"
            )
        ).mappings()
        frame = pd.DataFrame([dict(row) for row in rows])
    engine.dispose()
    frame = frame[frame.user_id.isin(actual)].assign(actual=frame.user_id.map(actual))
    expected = []
    for (country, stage), group in frame.groupby(["country", "stage"]):
        y, p = group.actual.to_numpy(), group.predicted_revenue.to_numpy()
        expected.append(
            {
                "country": country,
                "stage": stage,
                "users": len(group),
                "predicted_sum": p.sum(),
                "actual_sum": y.sum(),
                "ratio": metrics.total_ratio(y, p),
                "coverage": metrics.uncertain_coverage(y, group.lower, group.upper),
                "gini": metrics.normalized_gini(y, p),
            }
        )
    return pd.DataFrame(expected)


def test_the_report_matches_scorer_metrics_on_the_same_users(
    redis_client, redis_url, database_url, predictor
):
    from worker.wiring import build_worker

    settings = Settings(redis_url=redis_url, database_url=database_url, model_dir=MODEL_DIR)
    app = create_app(settings, predictor=predictor, redis=redis_client, start_publisher=False)
    client = app.test_client()
    engine = make_engine(database_url)
    worker = build_worker(settings, predictor, redis_client, engine, consumer="loop")
    installs, revenue = records(600, seed=41)
    for start in range(0, len(installs), 200):
        response = client.post("/events", json={"events": installs[start : start + 200]})
        assert response.status_code == 202
    worker.run(until_empty=True)

    today = datetime.now(UTC).date().isoformat()
    actual = {row["user_id"]: float(value) for row, value in zip(installs, revenue, strict=True)}
    users = list(actual)
    by_http, by_stream, silent = users[:450], users[450:560], users[560:]
    outcome = {user: {"user_id": user, "revenue": actual[user], "install_date": today}
               for user in users}  # fmt: skip
    for start in range(0, len(by_http), 150):
        body = {"outcomes": [outcome[user] for user in by_http[start : start + 150]]}
        assert client.post("/outcomes", json=body).status_code == 202
    assert (
        client.post("/outcomes", json={"outcomes": [outcome[u] for u in by_http[:40]]}).status_code
        == 202
    )
    wrong = dict(outcome[by_http[0]], revenue=actual[by_http[0]] + 100)  # sent, then corrected
    assert client.post("/outcomes", json=wrong).status_code == 202
    stream = EventStream(redis_client, settings.outcomes_stream)
    stream.append_many(encode_outcome(outcome[user]) for user in by_stream)
    stream.append(encode_outcome({"user_id": "nobody-1", "revenue": 2.0, "install_date": today}))
    worker.run(until_empty=True)
    assert client.post("/outcomes", json=outcome[by_http[0]]).status_code == 202  # the fix
    worker.run(until_empty=True)
    expected = independent_report(database_url, {u: actual[u] for u in by_http + by_stream})

    later = [dict(row, event_2=(row["event_2"] or 0) + 50, event_3=5) for row in installs[:30]]
    assert client.post("/events", json={"events": later}).status_code == 202
    worker.run(until_empty=True)  # predictions made after the outcome: not matched
    engine.dispose()

    response = client.get(f"/monitoring/calibration?since={today}&until={today}&by=country")
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    app.extensions["d7"].close()
    assert report["totals"] == {
        "matched": len(by_http) + len(by_stream),
        "no_prediction": 1,
        "overdue": 0,
        "awaiting": len(silent),
    }
    segments = pd.DataFrame(report["segments"])
    judged = segments[segments.stage.notna()].set_index(["country", "stage"]).sort_index()
    expected = expected.set_index(["country", "stage"]).sort_index()
    assert list(judged.index) == list(expected.index)
    for column in ("users", "predicted_sum", "actual_sum", "ratio", "coverage", "gini"):
        np.testing.assert_allclose(
            judged[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9,
            err_msg=column,
        )  # fmt: skip
    assert (judged.too_small == (judged.users < report["min_users"])).all()
    assert judged.awaiting.sum() == len(silent)
    deciles = pd.DataFrame(report["deciles"])
    assert deciles.groupby(["country", "stage"]).users.sum().sort_index().tolist() == (
        expected.users.tolist()
    )
