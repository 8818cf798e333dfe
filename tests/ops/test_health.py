"""Container health checks: what each one calls healthy and unhealthy."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import fakeredis
import pytest
from rq import Worker

from adapters.jobs import batch_queue
from adapters.settings import Settings
from ops import health


@pytest.fixture
def client():
    return fakeredis.FakeRedis(decode_responses=True)


def read_as(client, settings: Settings, consumer: str) -> None:
    client.xgroup_create(settings.installs_stream, settings.consumer_group, mkstream=True)
    client.xreadgroup(settings.consumer_group, consumer, {settings.installs_stream: ">"}, count=1)


def test_worker_is_healthy_while_its_consumer_keeps_reading(client):
    settings = Settings()
    read_as(client, settings, f"{socket.gethostname()}-1")
    assert "read" in health.check_worker(settings, max_idle_seconds=60, client=client)
    with pytest.raises(RuntimeError, match="idle for"):
        health.check_worker(settings, max_idle_seconds=-1, client=client)


def test_worker_of_another_host_does_not_count(client):
    settings = Settings()
    read_as(client, settings, "some-other-host-1")
    with pytest.raises(RuntimeError, match="no consumer"):
        health.check_worker(settings, max_idle_seconds=60, client=client)


def test_rq_worker_is_healthy_while_registered():
    client = fakeredis.FakeRedis()
    settings = Settings()
    worker = Worker([batch_queue(client, settings.rq_queue)], connection=client)
    with pytest.raises(RuntimeError, match="no rq worker"):
        health.check_rq(settings, client=client)
    worker.register_birth()
    assert worker.name in health.check_rq(settings, client=client)
    worker.register_death()
    with pytest.raises(RuntimeError, match="no rq worker"):
        health.check_rq(settings, client=client)


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


def test_an_unreachable_server_is_unhealthy_with_one_line(monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    assert health.check("worker", max_idle_seconds=60) == 1
    assert capsys.readouterr().out.startswith("worker unhealthy: ConnectionError")
