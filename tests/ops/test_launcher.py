"""What `make run` decides before it starts anything: which servers, which commands, what it
tells the user."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from adapters.settings import Settings
from ops.launcher import banner, commands, plan, port_free, service_env

LAUNCH_VARIABLES = ("REDIS_URL", "DATABASE_URL", "PORT", "API_KEY", "WEB_CONCURRENCY")


@pytest.fixture
def environment(monkeypatch):
    """Settings read from exactly these environment variables (of those the launcher uses)."""

    def settings(**variables: str) -> Settings:
        for name in LAUNCH_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return Settings()

    return settings


def test_without_urls_it_embeds_redis_and_keeps_the_table_in_sqlite(tmp_path, environment):
    chosen = plan(environment(), tmp_path / "run", "127.0.0.1", None, 2)
    assert chosen.redis_url is None
    assert chosen.database_url == f"sqlite:///{tmp_path / 'run' / 'predictions.db'}"
    assert (chosen.port, chosen.base_url) == (8000, "http://127.0.0.1:8000")


def test_servers_given_in_the_environment_win(tmp_path, environment):
    environ = {
        "REDIS_URL": "redis://cache:6379/2",
        "DATABASE_URL": "postgresql+psycopg2://app@db/app",
        "PORT": "9100",
    }
    settings = environment(**environ)
    chosen = plan(settings, Path("run"), "0.0.0.0", None, 3)
    assert (chosen.redis_url, chosen.database_url) == (
        environ["REDIS_URL"],
        environ["DATABASE_URL"],
    )
    assert (chosen.port, chosen.base_url) == (9100, "http://127.0.0.1:9100")
    assert plan(settings, Path("run"), "127.0.0.1", 9200, 1).port == 9200


def test_api_processes_follow_web_concurrency_unless_given(tmp_path, environment):
    assert (
        plan(environment(WEB_CONCURRENCY="3"), tmp_path, "127.0.0.1", None, None).api_workers == 3
    )
    assert plan(environment(WEB_CONCURRENCY="3"), tmp_path, "127.0.0.1", None, 1).api_workers == 1


def test_every_service_gets_the_same_servers(tmp_path, environment):
    chosen = plan(environment(API_KEY="k"), tmp_path, "127.0.0.1", 8123, 2)
    env = service_env({"API_KEY": "k", "PATH": "/bin"}, chosen, "redis://127.0.0.1:7000/0")
    assert env["REDIS_URL"] == "redis://127.0.0.1:7000/0"
    assert env["DATABASE_URL"] == chosen.database_url and env["PORT"] == "8123"
    assert env["API_KEY"] == "k" and env["PATH"] == "/bin"
    argv = dict(commands(chosen, python="py"))
    assert argv == {
        "api": ["py", "-m", "api", "--host", "127.0.0.1", "--port", "8123", "--workers", "2"],
        "worker": ["py", "-m", "worker", "run"],
        "rq": ["py", "-m", "worker", "rq"],
    }
    assert commands(chosen)[0][1][0] == sys.executable


def test_the_banner_says_where_things_are_and_how_to_try_them(tmp_path, environment):
    chosen = plan(environment(), tmp_path, "127.0.0.1", 8124, 2)
    text = banner(chosen, "redis://127.0.0.1:7001/0", True, Settings(api_key="secret"))
    assert "http://127.0.0.1:8124" in text
    assert "curl -s -X POST http://127.0.0.1:8124/predict" in text
    assert "X-API-Key: secret" in text
    assert "in memory" in text and str(tmp_path / "predictions.db") in text
    external = banner(chosen, "redis://:pw@cache:6379/0", False, Settings(api_key=None))
    assert "pw" not in external and "in memory" not in external


def test_a_busy_port_is_detected():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_free("127.0.0.1", busy.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unusable_servers_stop_the_launch_with_one_line(tmp_path, monkeypatch, capsys):
    from ops.launcher import run

    monkeypatch.setenv("REDIS_URL", f"redis://:secret@127.0.0.1:{closed_port()}/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert run(Settings(), tmp_path, "127.0.0.1", closed_port(), 1) == 2
    out = capsys.readouterr().out
    assert "REDIS_URL=redis://:***@127.0.0.1:" in out and "unreachable" in out
    assert "secret" not in out

    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing/dir/predictions.db")
    assert run(Settings(), tmp_path, "127.0.0.1", closed_port(), 1) == 2
    assert "DATABASE_URL=sqlite:///" in capsys.readouterr().out
