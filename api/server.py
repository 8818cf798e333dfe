"""Running the app under gunicorn, sized for the machine (`python -m api`).

Each worker process builds its own app after the fork (no --preload: the model, the Redis pools
and the publisher thread must not be shared across a fork) with one inference thread. Metrics
of all workers are added up through a shared directory (PROMETHEUS_MULTIPROC_DIR).

This module must not import prometheus_client, the app or the model at import time: the
environment is prepared first, in the master process, and the workers inherit it.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from gunicorn.app.base import BaseApplication

from adapters.settings import Settings

log = logging.getLogger("api.server")

ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Inference is single-threaded per process: parallelism comes from the worker processes."""
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MEMORY_DIR = "/dev/shm"
"""Where the files written on every request go when it exists (Linux, containers): the metrics
files, which every worker maps into memory, and gunicorn's worker heartbeat files. On a disk
the kernel writes their dirty pages back now and then, and a write to a page under writeback
waits for it: a latency spike."""


def memory_dir() -> str | None:
    return MEMORY_DIR if os.path.isdir(MEMORY_DIR) and os.access(MEMORY_DIR, os.W_OK) else None


def cores() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def default_workers(settings: Settings | None = None) -> int:
    """WEB_CONCURRENCY if set, else one process per core.

    Inference is CPU-bound and single-threaded, so a process per core uses the machine, and a
    process's second request thread covers the time the other waits on Redis or Postgres. More
    processes than cores make them take turns on a core, which lengthens the latency tail for
    no gain in throughput (docs/api.md, Performance).
    """
    settings = settings if settings is not None else Settings()
    return settings.web_concurrency or cores()


def prepare_environment() -> Path | None:
    """One inference thread per process and a fresh metrics directory; returns the directory
    if it was created here (to be removed at exit)."""
    for name in ONE_THREAD:
        os.environ[name] = "1"
    configured = os.environ.get(METRICS_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # values of a previous run
            stale.unlink()
        return None
    directory = Path(tempfile.mkdtemp(prefix="d7-api-metrics-", dir=memory_dir()))
    os.environ[METRICS_ENV] = str(directory)
    return directory


def _worker_exit(server, worker) -> None:
    """Send what the worker still buffers before it goes (graceful stop, SIGTERM)."""
    app = getattr(worker, "wsgi", None)
    services = getattr(app, "extensions", {}).get("d7") if app is not None else None
    if services is not None:
        services.close()


def _post_worker_init(worker) -> None:
    """Once the worker has built its app: start the request threads, each with its cache
    connection, then take what is loaded out of the garbage collector's reach."""
    _start_request_threads(worker)
    freeze_loaded_objects()


def freeze_loaded_objects() -> None:
    """Collect the start-up garbage, then freeze every object left (model, modules, app).

    A loaded worker holds about 190,000 objects that live as long as it does; a full collection
    scans them all and stops the process for over 100 ms (bench/gc_pause.py), which a busy
    server meets every few thousand requests as a latency spike. Frozen objects are never
    scanned again; the collector still handles everything created afterwards.
    """
    gc.collect()
    gc.freeze()


def _start_request_threads(worker) -> None:
    pool = getattr(worker, "tpool", None)  # the gthread worker's thread pool
    if pool is None:
        return
    from api.services import EXTENSION  # in the worker, after the environment is prepared

    services = worker.wsgi.extensions.get(EXTENSION)

    def start_thread() -> None:
        if services is not None:
            services.connect_thread()
        time.sleep(0.01)  # holds this thread, so that the next submit starts another

    started = [pool.submit(start_thread) for _ in range(worker.cfg.threads)]
    for future in started:
        future.result()


def _child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class ApiServer(BaseApplication):
    """gunicorn serving `api.app:create_app()`, loaded in each worker."""

    def __init__(self, options: dict, created_metrics_dir: Path | None = None):
        self.options = options
        self.created_metrics_dir = created_metrics_dir
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: one per machine
            self.cfg.set("control_socket_disable", True)
        self.cfg.set("worker_exit", _worker_exit)
        self.cfg.set("child_exit", _child_exit)
        self.cfg.set("post_worker_init", _post_worker_init)
        self.cfg.set("on_exit", self._on_exit)

    def _on_exit(self, server) -> None:
        if self.created_metrics_dir is not None:
            shutil.rmtree(self.created_metrics_dir, ignore_errors=True)

    def load(self):
        from api.app import create_app

        return create_app()


def gunicorn_options(
    bind: str,
    workers: int,
    threads: int,
    access_log: bool,
    log_level: str,
    worker_class: str = "gthread",
) -> dict:
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "preload_app": False,
        "keepalive": 5,
        "timeout": 30,
        "graceful_timeout": 30,
        "worker_tmp_dir": memory_dir(),
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": log_level,
    }
