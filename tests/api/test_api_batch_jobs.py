"""POST /batch-jobs (JSON list, CSV body, CSV upload) and GET /batch-jobs/<id>, on fakeredis; and
one job run to completion by a burst rq worker against the real Redis and Postgres."""

from __future__ import annotations

import io
import json

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from adapters.store import PredictionStore, make_engine

from support.paths import MODEL_DIR

RECORDS = [{"user_id": "b-1", "country": "es", "event_2": 3}, {"country": "fr"}]
CSV = (
    "user_id,country,platform,event_1,event_2,event_3,revenue\n"
    "c-1,es,android,0,12,1,0.05\n"
    "c-2,fr,ios,,,,0\n"
)


def queued_records(fake_client, job_id: str) -> list[dict]:
    return Job.fetch(job_id, connection=fake_client).args[0]


@pytest.mark.parametrize("body", [RECORDS, {"records": RECORDS}])
def test_json_records_are_queued(client, fake_client, body):
    response = client.post("/batch-jobs", json=body)
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status"] == "queued" and accepted["records"] == 2
    assert accepted["ignored_columns"] == []
    assert response.headers["Location"] == accepted["status_url"] == f"/batch-jobs/{accepted['id']}"
    queued = queued_records(fake_client, accepted["id"])
    assert [r["user_id"] for r in queued] == ["b-1", None]
    assert queued[0]["event_2"] == 3.0 and queued[1]["event_2"] is None
    assert Queue("batch-scoring", connection=fake_client).count == 1


def test_status_of_a_queued_job(client):
    job_id = client.post("/batch-jobs", json=RECORDS).get_json()["id"]
    status = client.get(f"/batch-jobs/{job_id}").get_json()
    assert status["id"] == job_id and status["status"] == "queued"
    assert status["progress"] == {"done": 0, "total": 2}


def test_csv_body_keeps_record_columns_only(client, fake_client):
    response = client.post("/batch-jobs", data=CSV, content_type="text/csv")
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["records"] == 2 and accepted["ignored_columns"] == ["revenue"]
    first, second = queued_records(fake_client, accepted["id"])
    assert first["user_id"] == "c-1" and first["event_2"] == 12.0 and "revenue" not in first
    assert second["event_1"] is None and second["platform"] == "ios"


def test_csv_upload(client, fake_client):
    data = {"file": (io.BytesIO(("\ufeff" + CSV).encode()), "installs.csv")}
    response = client.post("/batch-jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == 202
    assert len(queued_records(fake_client, response.get_json()["id"])) == 2


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"json": []}, 422, "records"),
        ({"json": {"rows": RECORDS}}, 422, "body"),
        ({"json": [{"event_1": -1}, {"colour": "red"}]}, 422, "records.0.event_1"),
        ({"data": "a,b\n1,2\n", "content_type": "text/csv"}, 422, "file"),
        ({"data": "country\n", "content_type": "text/csv"}, 422, "records"),
        ({"data": b"country\n\xff\xfe\n", "content_type": "text/csv"}, 400, None),
        ({"data": "[{", "content_type": "application/json"}, 400, None),
        ({"data": "x", "content_type": "text/plain"}, 415, None),
        ({"data": {"other": "x"}, "content_type": "multipart/form-data"}, 422, "file"),
    ],
)
def test_bad_requests(client, fake_client, kwargs, status, field):
    response = client.post("/batch-jobs", **kwargs)
    assert response.status_code == status, response.get_json()
    if field:
        assert response.get_json()["details"][0]["field"] == field
    assert Queue("batch-scoring", connection=fake_client).count == 0


def test_record_count_limit(make_app):
    client = make_app(batch_job_max_records=3).test_client()
    assert client.post("/batch-jobs", json=[{}] * 3).status_code == 202
    response = client.post("/batch-jobs", json=[{}] * 4)
    assert (
        response.status_code == 422 and "at most 3" in response.get_json()["details"][0]["message"]
    )


def test_byte_limit_is_its_own(make_app):
    """A batch may be larger than MAX_BODY_BYTES, up to BATCH_JOB_MAX_BYTES."""
    client = make_app(max_body_bytes=100, batch_job_max_bytes=4000).test_client()
    assert client.post("/batch-jobs", json=[{"country": "es"}] * 50).status_code == 202
    response = client.post("/batch-jobs", json=[{"country": "es"}] * 500)
    assert response.status_code == 413


@pytest.mark.parametrize("job_id", ["no-such-job", "a,b", "x" * 200])
def test_unknown_job_is_404(client, job_id):
    response = client.get(f"/batch-jobs/{job_id}")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_redis_down_is_503(client, redis_server):
    redis_server.connected = False
    assert client.post("/batch-jobs", json=RECORDS).status_code == 503
    assert client.get("/batch-jobs/abc").status_code == 503


def test_job_runs_to_completion(make_app, redis_client, redis_url, database_url, monkeypatch):
    """A burst rq worker runs the queued job: rows in Postgres (source batch), cache filled,
    status finished with counts."""
    for name, value in {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "MODEL_DIR": str(MODEL_DIR),
    }.items():
        monkeypatch.setenv(name, value)
    client = make_app(redis=redis_client, database_url=database_url, model_dir=str(MODEL_DIR))
    client = client.test_client()
    job_id = client.post("/batch-jobs", data=CSV, content_type="text/csv").get_json()["id"]
    queue = Queue("batch-scoring", connection=redis_client)
    assert SimpleWorker([queue], connection=redis_client).work(burst=True, max_jobs=1)
    status = client.get(f"/batch-jobs/{job_id}").get_json()
    assert status["status"] == "finished", status
    assert status["progress"] == {"done": 2, "total": 2}
    assert status["counts"]["inserted"] == 2 and status["counts"]["invalid"] == 0
    engine = make_engine(database_url)
    assert PredictionStore(engine).count(source="batch") == 2
    engine.dispose()
    cached = json.loads(redis_client.get("prediction:c-1"))
    assert cached["source"] == "batch"
    assert client.get("/users/c-1/prediction").get_json() == cached
