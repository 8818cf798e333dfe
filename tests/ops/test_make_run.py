"""End to end: `make run` serves predictions through every path and Ctrl-C (SIGINT to the
terminal's process group) stops every process it started. Once with the embedded Redis and
SQLite, once pointed at the machine's real Redis and Postgres through REDIS_URL / DATABASE_URL."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from ops.smoke import Api, run_smoke

from support.paths import ROOT
from support.processes import free_port, wait_for_line

SERVICE_ENV = ("REDIS_URL", "DATABASE_URL", "MODEL_URI", "MODEL_DIR", "PORT", "API_KEY")


def make_run(tmp_path: Path, servers: dict[str, str]):
    """Run `make run` like a terminal would (its own session, SIGINT to the whole group),
    smoke-check it, stop it; returns (log text, processes it had started, their commands)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_ENV}
    env.update(servers)
    log = tmp_path / "make-run.log"
    run_args = f"--port {port} --data-dir {tmp_path / 'run'} --api-workers 1"
    with open(log, "wb") as output:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"RUN_ARGS={run_args}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    family: list[psutil.Process] = []
    try:
        found = wait_for_line(log, r"Redis\s+(redis://\S+)", make)
        family = psutil.Process(make.pid).children(recursive=True)
        database_url = (
            servers.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'run' / 'predictions.db'}"
        )
        run_smoke(Api(f"http://127.0.0.1:{port}"), found[1], database_url, 60, say=lambda _: None)
        family = psutil.Process(make.pid).children(recursive=True)  # now with rq's work horses gone
        commands = "\n".join(" ".join(process.cmdline()) for process in family)
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        make.wait(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)
        for process in family:
            if process.is_running():
                process.kill()
    return log.read_text(errors="replace"), family, commands


def assert_all_gone(family: list[psutil.Process]) -> None:
    left = [
        f"{p.pid} {' '.join(p.cmdline())}"
        for p in family
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, left


@pytest.mark.slow
def test_make_run_embedded_serves_and_ctrl_c_stops_everything(tmp_path):
    log, family, commands = make_run(tmp_path, {})
    assert "(embedded, in memory" in log and "Ctrl-C stops everything." in log
    assert "curl -s -X POST http://127.0.0.1:" in log
    assert (tmp_path / "run" / "predictions.db").is_file()
    for started in ("-m ops run", "-m api", "-m worker run", "-m worker rq"):
        assert started in commands
    assert_all_gone(family)
    assert "run | stopped" in log


@pytest.mark.slow
def test_make_run_uses_the_servers_it_is_given(tmp_path, redis_client, redis_url, database_url):
    log, family, _ = make_run(tmp_path, {"REDIS_URL": redis_url, "DATABASE_URL": database_url})
    assert f"Redis     {redis_url}" in log and "embedded" not in log
    assert not (tmp_path / "run" / "predictions.db").exists()
    # entries-added counts what was ever appended: the workers trim what they acknowledged
    assert redis_client.xinfo_stream("installs")["entries-added"] >= 1
    assert redis_client.xinfo_stream("scored")["entries-added"] >= 1
    assert_all_gone(family)
