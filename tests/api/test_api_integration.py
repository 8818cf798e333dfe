"""The API against the machine's real Redis (TEST_REDIS_DB) and Postgres (a schema of its own),
with the real model bundle: the fallback to Postgres and refill, the streams, readiness, and the
production server (`python -m api`) with several worker processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from adapters.settings import Settings
from adapters.store import PredictionStore, make_engine
from adapters.stream import decode_install_event, decode_scored
from adapters.stream_partitions import StreamLayout
from api.app import create_app

from support import paths
from support.processes import free_port
from support.rows import prediction_row

MODEL_DIR = str(paths.MODEL_DIR)
RECORD = {
    "user_id": "int-1",
    "country": "es",
    "platform": "android",
    "source": "Organic",
    "device_family": "Samsung Galaxy Phone",
    "os_version": "10",
    "event_1": 0,
    "event_2": 14,
    "event_3": 1,
}


@pytest.fixture
def real_app(redis_client, redis_url, database_url):
    app = create_app(
        Settings(redis_url=redis_url, database_url=database_url, model_dir=MODEL_DIR),
        start_publisher=False,
    )
    yield app
    app.extensions["d7"].close()


@pytest.fixture(params=["single", "cluster"])
def any_redis_app(request, redis_url, database_url):
    """(app, Redis client) on the single Redis (one partition) or on the local Redis Cluster
    (two partitions per stream kind; rq on the single Redis)."""
    settings = Settings(redis_url=redis_url, database_url=database_url, model_dir=MODEL_DIR)
    if request.param == "single":
        client = request.getfixturevalue("redis_client")
    else:
        cluster = request.getfixturevalue("redis_cluster")
        client = request.getfixturevalue("redis_cluster_client")
        settings = settings.model_copy(
            update={
                "redis_url": cluster.url,
                "redis_cluster": True,
                "rq_redis_url": redis_url,
                "stream_partitions": 2,
            }
        )
    app = create_app(settings, start_publisher=False)
    yield app, client
    app.extensions["d7"].close()


def partition_of(app, base: str, user_id: str) -> str:
    """The stream of `user_id` of kind `base` under the app's settings."""
    layout = StreamLayout.of(app.extensions["d7"].settings)
    return layout.name(base, layout.index_of(user_id))


def row(user_id: str, event_id: str, revenue: float, when: datetime) -> dict:
    return prediction_row(
        user_id, event_id, revenue, when, input={"country": "es"}, model_version="v-pg"
    )


def test_cache_miss_reads_postgres_and_refills_redis(any_redis_app, database_url):
    real_app, redis_client = any_redis_app
    engine = make_engine(database_url)
    store = PredictionStore(engine)
    store.save_many(
        [
            row("int-9", "e1", 1.0, datetime(2024, 1, 1, tzinfo=UTC)),
            row("int-9", "e2", 3.0, datetime(2024, 3, 1, tzinfo=UTC)),
        ]
    )
    client = real_app.test_client()
    response = client.get("/users/int-9/prediction")
    assert response.status_code == 200
    body = response.get_json()
    assert body["predicted_revenue"] == 3.0 and body["model_version"] == "v-pg"
    assert json.loads(redis_client.get("prediction:int-9")) == body
    assert 0 < redis_client.ttl("prediction:int-9") <= 691200
    with engine.begin() as connection:  # now only the cache has it
        connection.exec_driver_sql("DELETE FROM predictions")
    engine.dispose()
    assert client.get("/users/int-9/prediction").get_json() == body
    assert client.get("/users/int-unknown/prediction").status_code == 404


def test_cache_reads_use_one_connection_per_request_thread(real_app, redis_client):
    cached = row("int-t", "e-t", 2.0, datetime(2024, 1, 1, tzinfo=UTC))
    real_app.extensions["d7"].cache.set(cached)
    readers = real_app.extensions["d7"].cache.redis
    seen = []

    def read() -> None:
        response = real_app.test_client().get("/users/int-t/prediction")
        seen.append((response.status_code, readers.client()))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in seen] == [200, 200, 200]
    clients = [client for _, client in seen]
    assert len({id(client) for client in clients}) == 3
    assert all(client.connection is not None for client in clients)  # its own connection
    for client in clients:
        client.close()


def test_cache_reader_reconnects_after_losing_its_connection(real_app, redis_client):
    redis_client.set("prediction:int-k", b"{}")
    readers = real_app.extensions["d7"].cache.redis
    assert readers.get("prediction:int-k") == b"{}"
    redis_client.client_kill_filter(_id=readers.client().client_id())
    with pytest.raises(redis.exceptions.ConnectionError):
        readers.get("prediction:int-k")
    assert readers.get("prediction:int-k") == b"{}"  # a new connection
    redis_client.hset("prediction:int-h", "a", "1")
    with pytest.raises(redis.exceptions.ResponseError):  # an error reply is raised, not returned
        readers.get("prediction:int-h")
    assert readers.get("prediction:missing") is None


def test_predict_publishes_what_the_worker_decodes(any_redis_app):
    real_app, redis_client = any_redis_app
    client = real_app.test_client()
    answer = client.post("/predict", json=RECORD).get_json()
    assert answer["model_version"] == real_app.extensions["d7"].predictor.version
    assert answer["lower"] <= answer["predicted_revenue"] <= answer["upper"]
    assert real_app.extensions["d7"].publisher.flush()
    [(_, fields)] = redis_client.xrange(partition_of(real_app, "scored", "int-1"))
    stored = decode_scored(fields)
    assert stored["event_id"] == answer["request_id"] and stored["user_id"] == "int-1"
    assert stored["predicted_revenue"] == pytest.approx(answer["predicted_revenue"])
    assert stored["input"]["event_2"] == 14


def test_events_reach_the_install_stream(any_redis_app):
    real_app, redis_client = any_redis_app
    response = real_app.test_client().post("/events", json={**RECORD, "event_id": "ev-1"})
    assert response.status_code == 202
    [(entry_id, fields)] = redis_client.xrange(partition_of(real_app, "installs", "int-1"))
    assert response.get_json()["ids"] == [entry_id.decode()]
    assert decode_install_event(fields).event_id == "ev-1"


def test_outcomes_reach_their_users_partitions(any_redis_app):
    real_app, redis_client = any_redis_app
    users = [f"int-{i}" for i in range(8)]
    body = {"outcomes": [{"user_id": user, "revenue": 0.5} for user in users]}
    response = real_app.test_client().post("/outcomes", json=body)
    assert response.status_code == 202
    ids = iter(response.get_json()["ids"])
    for user in users:  # the answer's ids in the order sent, each in its user's partition
        entries = redis_client.xrange(partition_of(real_app, "outcomes", user))
        found = {fields[b"user_id"].decode(): entry_id.decode() for entry_id, fields in entries}
        assert found[user] == next(ids)
    layout = StreamLayout.of(real_app.extensions["d7"].settings)
    assert sum(redis_client.xlen(name) for name in layout.names("outcomes")) == len(users)
    assert len({partition_of(real_app, "outcomes", user) for user in users}) == layout.partitions


def test_readiness_with_real_and_unreachable_servers(real_app, redis_url, database_url):
    assert real_app.test_client().get("/readyz").status_code == 200
    down = create_app(
        Settings(
            redis_url="redis://127.0.0.1:1/0",
            database_url="postgresql+psycopg2://postgres@127.0.0.1:1/test",
            model_dir=MODEL_DIR,
        ),
        start_publisher=False,
    )
    response = down.test_client().get("/readyz")
    down.extensions["d7"].close()
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["model"] == "ok"
    assert checks["redis"].startswith("error") and checks["database"].startswith("error")


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    payload = json.dumps(body).encode() if body is not None else None
    connection.request(
        method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {}
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


@pytest.mark.slow
def test_production_server_sums_metrics_over_workers_and_flushes_on_stop(
    redis_client, redis_url, database_url, tmp_path
):
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "MODEL_DIR": MODEL_DIR,
        "WEB_CONCURRENCY": "2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = log_path.open("w")
    command = [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        command,
        cwd=paths.ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def server_log() -> str:
        return log_path.read_text()[-3000:]

    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"server exited:\n{server_log()}"
            assert time.monotonic() < deadline, f"server not ready in 90 s:\n{server_log()}"
            try:
                if call(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        ids = set()
        for index in range(30):  # a new connection each: both workers answer some
            status, data = call(port, "POST", "/predict", {**RECORD, "user_id": f"s-{index}"})
            assert status == 200
            ids.add(json.loads(data)["request_id"])
        status, data = call(port, "GET", "/metrics")
        counted = {}
        for family in text_string_to_metric_families(data.decode()):
            for sample in family.samples:
                if sample.name == "api_requests_total" and sample.labels["endpoint"] == "/predict":
                    counted[sample.labels["status"]] = sample.value
        assert counted.pop("200") == 30.0, server_log()
        assert set(counted.values()) <= {0.0}  # series created at start, never hit
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(timeout=90)
        log.close()
    assert code == 0, server_log()
    published = {decode_scored(f)["event_id"] for _, f in redis_client.xrange("scored")}
    assert published == ids, server_log()


def test_an_anomalous_country_is_flagged_in_the_answer_the_row_and_the_cache(
    real_app, redis_client, redis_url, database_url
):
    from worker.wiring import build_worker

    services = real_app.extensions["d7"]
    assert "pe" in services.predictor.card["anomalous_countries"]
    client = real_app.test_client()
    answer = client.post("/predict", json={**RECORD, "user_id": "int-pe", "country": "pe"})
    assert answer.get_json()["flags"] == ["anomalous_country_rate"]
    assert services.publisher.flush()
    settings = Settings(redis_url=redis_url, database_url=database_url, model_dir=MODEL_DIR)
    engine = make_engine(database_url)
    try:
        build_worker(settings, services.predictor, redis_client, engine).run(until_empty=True)
        [row] = [r for r in PredictionStore(engine).latest_for_users(["int-pe"])]
    finally:
        engine.dispose()
    assert (
        row["flags"] == ["anomalous_country_rate"]
        and row["event_id"] == answer.headers["X-Request-ID"]
    )
    cached = client.get("/users/int-pe/prediction").get_json()
    assert cached["flags"] == ["anomalous_country_rate"]
    assert cached["predicted_revenue"] == pytest.approx(answer.get_json()["predicted_revenue"])
    unseen = client.post("/predict", json={**RECORD, "country": "zz"}).get_json()
    assert unseen["flags"] == ["unseen_country"]  # the committed bundle knows its countries


def test_the_anomalous_country_policy_setting_changes_the_answer_and_the_flag(
    real_app, redis_url, database_url
):
    from worker.jobs import predictor_for

    pe_user = {**RECORD, "country": "pe"}
    as_is = real_app.test_client().post("/predict", json=pe_user).get_json()
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        model_dir=MODEL_DIR,
        anomalous_country_policy="typical_rate",
    )
    replacing = create_app(settings, start_publisher=False)
    try:
        replaced = replacing.test_client().post("/predict", json=pe_user).get_json()
    finally:
        replacing.extensions["d7"].close()
    assert as_is["flags"] == ["anomalous_country_rate"]
    assert replaced["flags"] == ["anomalous_country_rate_replaced"]
    assert replaced["predicted_revenue"] < as_is["predicted_revenue"] / 100
    rq_predictor = predictor_for(MODEL_DIR, None, "typical_rate")  # what the rq jobs score with
    assert rq_predictor.anomalous_country_policy == "typical_rate"
