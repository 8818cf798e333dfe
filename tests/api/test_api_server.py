"""`python -m api` configuration: sizing, one inference thread, metrics directory, no preload."""

from __future__ import annotations

import os
from pathlib import Path

from api import server


def test_workers_follow_the_cores_unless_configured(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    assert server.default_workers() == 4
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert server.default_workers() == 2


def test_environment_one_thread_and_a_fresh_metrics_dir(monkeypatch, tmp_path):
    for name in (*server.ONE_THREAD, server.METRICS_ENV):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores the variable afterwards
        monkeypatch.delenv(name)
    created = server.prepare_environment()
    try:
        assert all(os.environ[name] == "1" for name in server.ONE_THREAD)
        assert os.environ[server.METRICS_ENV] == str(created) and created.is_dir()
        if server.memory_dir() is not None:  # in memory, not on a disk with writeback
            assert created.parent == Path(server.MEMORY_DIR)
    finally:
        created.rmdir()


def test_a_configured_metrics_dir_is_emptied_of_old_values(monkeypatch, tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv(server.METRICS_ENV, str(tmp_path))
    assert server.prepare_environment() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_gunicorn_options_never_preload():
    options = server.gunicorn_options("127.0.0.1:1", 3, 2, access_log=False, log_level="info")
    assert options["preload_app"] is False
    assert options["worker_class"] == "gthread"
    assert (options["workers"], options["threads"]) == (3, 2)
    assert options["worker_tmp_dir"] == server.memory_dir()  # heartbeat files in memory
    application = server.ApiServer(options)
    assert application.cfg.preload_app is False
    assert application.cfg.post_worker_init is server._post_worker_init
    assert application.cfg.worker_exit is server._worker_exit  # flushes the publisher
    assert application.cfg.child_exit is server._child_exit  # retires the metrics files
