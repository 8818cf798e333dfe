"""Container health checks: what each one calls healthy and unhealthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import fakeredis
import pytest

from adapters.heartbeat import MAX_AGE_SECONDS, ROLES, Heartbeat
from adapters.jobs import batch_queue
from adapters.settings import Settings
from ops import health
from worker.jobs import RQ_BEAT_SECONDS, HeartbeatWorker

from support.paths import ROOT


@pytest.fixture
def settings(tmp_path):
    return Settings(heartbeat_dir=str(tmp_path / "beats"))


def set_back(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.mark.parametrize("role", ROLES)
def test_a_role_is_healthy_while_its_heartbeat_is_fresh(settings, role, capsys):
    assert health.check(role, max_age_seconds=60, settings=settings) == 1
    assert capsys.readouterr().out == (
        f"{role} unhealthy: RuntimeError: no heartbeat yet"
        f" ({Heartbeat.of(settings, role).path} does not exist)\n"
    )
    Heartbeat.of(settings, role).beat()
    assert health.check(role, max_age_seconds=60, settings=settings) == 0
    assert capsys.readouterr().out.startswith(f"{role}: last heartbeat ")
    set_back(Heartbeat.of(settings, role).path, 61)
    with pytest.raises(RuntimeError, match=r"last heartbeat 6\d s ago \(limit 60 s\)"):
        health.check_heartbeat(settings, role, max_age_seconds=60)


def test_the_other_roles_heartbeat_does_not_count(settings):
    Heartbeat.of(settings, "rq").beat()
    with pytest.raises(RuntimeError, match="no heartbeat yet"):
        health.check_heartbeat(settings, "worker", max_age_seconds=60)


def test_the_rq_worker_beats_at_each_of_rqs_heartbeats_and_wakes_often_enough(settings):
    client = fakeredis.FakeRedis()
    heartbeat = Heartbeat.of(settings, "rq")
    worker = HeartbeatWorker(
        [batch_queue(client, settings.rq_queue)], connection=client, heartbeat=heartbeat
    )
    assert worker.work(burst=True) is False  # nothing to do, but it registered and beat
    assert heartbeat.age() < 5
    assert "rq: last heartbeat" in health.check_heartbeat(settings, "rq", MAX_AGE_SECONDS)
    # idle (a blocking dequeue) or busy (watching its job), it beats well within the limit
    assert worker.dequeue_timeout == worker.job_monitoring_interval == RQ_BEAT_SECONDS
    assert RQ_BEAT_SECONDS * 3 <= MAX_AGE_SECONDS


def test_the_health_command_imports_no_heavy_library():
    """It runs under the healthcheck's timeout on a busy host: start-up must stay short."""
    heavy = ("numpy", "pandas", "scipy", "sklearn", "crepes", "mlflow", "sqlalchemy", "redis")
    probe = f"import sys, ops.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class Healthz(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_args):
        pass


def test_api_check_calls_healthz():
    server = HTTPServer(("127.0.0.1", 0), Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert health.check_api(Settings(port=server.server_port)) == "api: /healthz ok"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_server_is_unhealthy_with_one_line(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    assert health.check("api", max_age_seconds=60, settings=Settings(port=port)) == 1
    assert capsys.readouterr().out.startswith("api unhealthy: URLError")
