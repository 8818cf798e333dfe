"""`python -m ops smoke`: a round trip through a running system, for `make run` and compose.

It waits for /readyz, then scores a user through every path (POST /predict; POST /events;
an event XADDed straight onto the stream when --redis-url is given; a batch job), reads each
user's prediction back through GET /users/<id>/prediction, and, with --database-url, finds
their rows in the predictions table. With --mlflow-uri it also registers the committed bundle
in that tracking server, promotes it and loads it back through MODEL_URI.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import click
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from scorer.prediction import View, view_model
from scorer.schema import STAGE_EVENTS

PredictionAnswer = view_model(View.ANSWER, "PredictionAnswer", "One /predict answer.")

RECORD = {"country": "us", "platform": "ios", "source": "Organic", "event_1": 2, "event_2": 5}


class SmokeFailure(AssertionError):
    """The system did not do what the smoke check expects."""


class Api:
    """A tiny JSON client of the API (stdlib only, every call bounded in time)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload or b"null")
            except ValueError:
                return error.code, payload.decode("utf-8", "replace")


def poll(what: str, probe, timeout: float, interval: float = 0.25):
    """Call `probe()` until it returns something truthy; SmokeFailure after `timeout` s.
    OSError (connection refused while a server starts) counts as "not yet"."""

    def give_up(state) -> None:
        last = state.outcome.exception() or state.outcome.result()
        raise SmokeFailure(f"{what}: nothing after {timeout:.0f} s (last: {last!r})")

    retrying = Retrying(
        retry=retry_if_exception_type(OSError) | retry_if_result(lambda found: not found),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry_error_callback=give_up,
    )
    return retrying(probe)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def run_smoke(
    api: Api,
    redis_url: str | None = None,
    database_url: str | None = None,
    timeout: float = 60.0,
    say=print,
) -> dict[str, str]:
    """The round trip; returns {user_id: source} of the users it scored. Raises SmokeFailure."""
    poll("GET /readyz 200", lambda: api.call("GET", "/readyz")[0] == 200, timeout)
    say("ready: GET /readyz 200")
    tag = uuid.uuid4().hex[:10]
    users = {f"smoke-{tag}-{kind}": kind for kind in ("api", "event", "stream", "batch")}
    by_kind = {kind: user for user, kind in users.items()}

    status, body = api.call("POST", "/predict", {"user_id": by_kind["api"], **RECORD})
    expect(status == 200, f"POST /predict answered {status}: {body}")
    answer = PredictionAnswer.model_validate(body)  # the /predict contract, field by field
    expect(answer.predicted_revenue >= 0 and answer.stage == STAGE_EVENTS, f"odd: {body}")
    event_ids = {by_kind["api"]: answer.request_id}
    say(f"POST /predict 200: {answer.predicted_revenue:.4f} ({answer.model_version})")

    event_ids[by_kind["event"]] = f"smoke-{tag}-e1"
    event = {"user_id": by_kind["event"], "event_id": event_ids[by_kind["event"]], **RECORD}
    status, body = api.call("POST", "/events", event)
    expect(status == 202 and body["count"] == 1, f"POST /events answered {status}: {body}")
    say(f"POST /events 202: stream id {body['ids'][0]}")

    if redis_url:
        _push_event(redis_url, by_kind["stream"], f"smoke-{tag}-s1")
        event_ids[by_kind["stream"]] = f"smoke-{tag}-s1"
        say("XADD installs: 1 event")
    else:
        del users[by_kind.pop("stream")]

    status, body = api.call("POST", "/batch-jobs", [{"user_id": by_kind["batch"], **RECORD}])
    expect(status == 202, f"POST /batch-jobs answered {status}: {body}")
    job_id = body["id"]
    job = poll(
        f"batch job {job_id} finished",
        lambda: _finished(api.call("GET", f"/batch-jobs/{job_id}")[1]),
        timeout,
    )
    expect(job["counts"].get("inserted") == 1, f"batch job counts: {job['counts']}")
    event_ids[by_kind["batch"]] = f"{job_id}:0"
    say(f"batch job {job_id}: finished, {job['counts']}")

    for user, kind in users.items():
        expected_source = "api" if kind == "api" else "batch" if kind == "batch" else "stream"
        found = poll(
            f"GET /users/{user}/prediction",
            lambda user=user: _prediction(api, user),
            timeout,
        )
        expect(found["source"] == expected_source, f"{user}: source {found['source']}")
        say(f"GET /users/{user}/prediction 200: source {found['source']}")

    if database_url:
        rows = poll(
            "rows in the predictions table",
            lambda: _rows_complete(database_url, event_ids),
            timeout,
        )
        for event_id, user_id, source in rows:
            say(f"predictions row: event_id={event_id} user_id={user_id} source={source}")
    return {user: ("stream" if kind == "event" else kind) for user, kind in users.items()}


def _finished(job: dict) -> dict | None:
    if job.get("status") == "failed":
        raise SmokeFailure(f"batch job failed: {job.get('error')}")
    return job if job.get("status") == "finished" else None


def _prediction(api: Api, user: str) -> dict | None:
    status, body = api.call("GET", f"/users/{user}/prediction")
    return body if status == 200 else None


def _push_event(redis_url: str, user_id: str, event_id: str) -> None:
    from adapters import connections
    from adapters.settings import Settings
    from adapters.stream import encode_install_event
    from adapters.stream_partitions import PartitionedStream, StreamLayout

    settings = Settings(redis_url=redis_url)
    client = connections.redis_client(settings, connections.COMMAND)
    try:
        layout = StreamLayout.of(settings)
        installs = PartitionedStream(
            client, settings.installs_stream, layout, settings.stream_maxlen
        )
        stream = installs.for_user(user_id)
        stream.append(encode_install_event({"user_id": user_id, **RECORD}, event_id))
    finally:
        client.close()


def _rows_complete(database_url: str, event_ids: dict[str, str]) -> list[tuple] | None:
    """The rows of `event_ids` (user -> event_id), once every one of them is there."""
    from sqlalchemy import select

    from adapters import connections
    from adapters.orm import predictions

    engine = connections.engine_for_url(database_url, connections.COMMAND)
    try:
        query = select(predictions.c.event_id, predictions.c.user_id, predictions.c.source).where(
            predictions.c.event_id.in_(list(event_ids.values()))
        )
        with engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
    finally:
        engine.dispose()
    found = {(user_id, event_id) for event_id, user_id, _ in rows}
    return rows if found == set(event_ids.items()) else None


def mlflow_round_trip(tracking_uri: str, bundle_dir: str, cache_dir: str, say=print) -> str:
    """Register `bundle_dir` in the tracking server, promote it, and load it back by alias."""
    from adapters import registry
    from adapters.model_source import load_predictor
    from adapters.settings import Settings

    client = registry.mlflow_client(tracking_uri)
    registered = registry.log_and_register(client, bundle_dir)
    registry.promote(client, registered.version)
    uri = f"models:/{registered.name}@{registry.CHAMPION}"
    loaded = load_predictor(
        Settings(model_uri=uri, mlflow_tracking_uri=tracking_uri, model_cache_dir=cache_dir)
    )
    expect(loaded.source["version"] == registered.version, f"loaded {loaded.source}")
    say(f"MLflow: {uri} -> version {registered.version}, model {loaded.predictor.version}")
    return registered.version


@click.command("smoke")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="Base URL of the API.")  # fmt: skip
@click.option("--api-key", help="X-API-Key (when the API requires one).")
@click.option("--redis-url", help="Also XADD an event straight onto the install-events stream.")
@click.option("--database-url", help="Also find the rows in the predictions table.")
@click.option("--mlflow-uri", help="Also register, promote and load back the bundle there.")
@click.option("--bundle", default="models/d7", show_default=True, help="Bundle for --mlflow-uri.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for each step.")  # fmt: skip
def command(
    url: str,
    api_key: str | None,
    redis_url: str | None,
    database_url: str | None,
    mlflow_uri: str | None,
    bundle: str,
    timeout: float,
) -> None:
    """Round trip through a running system (exit status 0: passed)."""
    api = Api(url, api_key)
    try:
        run_smoke(api, redis_url, database_url, timeout)
        if mlflow_uri:
            import tempfile

            with tempfile.TemporaryDirectory() as cache_dir:
                mlflow_round_trip(mlflow_uri, bundle, cache_dir)
    except SmokeFailure as failure:
        print(f"SMOKE FAILED: {failure}")
        raise SystemExit(1) from None
    print("smoke check passed")
