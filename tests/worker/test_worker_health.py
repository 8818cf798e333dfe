"""The workers' liveness: their loops keep their heartbeat files fresh while idle, and a loop
that stops turning goes stale, as `python -m ops health worker | rq` judges them."""

import os
import signal
import subprocess
import sys
import time

import pytest

from adapters.heartbeat import Heartbeat
from ops import health
from worker.jobs import RQ_BEAT_SECONDS

from support.paths import ROOT
from support.streams import push_installs, synthetic_installs, wait_for


def set_back(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_every_turn_of_the_stream_loop_beats(make_unit_worker, unit_settings, fake_redis, tmp_path):
    settings = unit_settings.model_copy(update={"heartbeat_dir": str(tmp_path / "beats")})
    heartbeat = Heartbeat(Heartbeat.of(settings, "worker").path, every=0)
    worker = make_unit_worker()
    worker.heartbeat = heartbeat
    worker.run(until_empty=True)  # empty streams: the loop only reads, finds nothing, stops
    assert "worker: last heartbeat" in health.check_heartbeat(settings, "worker", 5)
    push_installs(fake_redis, settings, synthetic_installs(10, seed=51))
    set_back(heartbeat.path, 100)
    outcome = worker.run(until_empty=True)
    assert outcome.inserted == 10 and heartbeat.age() < 5


@pytest.mark.slow  # two worker processes, and a wait for the idle rq worker's next beat
def test_idle_workers_stay_healthy_and_a_hung_one_does_not(
    redis_client, service_settings, spawn, tmp_path
):
    """Nothing to read and no job: the stream worker blocks in XREADGROUP (which, on Redis 7.0,
    does not reset the consumer's idle time) and the rq worker in its dequeue, yet both keep
    their heartbeats fresh; once the stream worker's process is stopped, it turns unhealthy."""
    settings = service_settings.model_copy(
        update={"heartbeat_dir": str(tmp_path / "beats"), "worker_block_ms": 500}
    )
    stream_worker = spawn(settings, "run", "--consumer", "idle")
    rq_worker = spawn(settings, "rq")
    beats = {role: Heartbeat.of(settings, role) for role in ("worker", "rq")}
    wait_for(lambda: all(b.path.exists() for b in beats.values()), 90, "both first heartbeats")
    set_back(beats["rq"].path, 100)  # as if the rq worker had been silent for 100 s
    max_age = 5.0  # a turn of the idle stream loop: 0.5 s blocked, a beat at most every 1 s
    for _ in range(12):
        assert health.check("worker", max_age, settings) == 0
        time.sleep(0.5)
    wait_for(lambda: beats["rq"].age() < 50, RQ_BEAT_SECONDS + 15, "the idle rq worker's beat")
    command = [sys.executable, "-m", "ops", "health", "worker", "--max-age", str(max_age)]
    env = {**os.environ, "HEARTBEAT_DIR": settings.heartbeat_dir}
    answer = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0 and answer.stdout.startswith("worker: last heartbeat"), answer
    stream_worker.send_signal(signal.SIGSTOP)  # a hung loop
    try:
        wait_for(lambda: health.check("worker", max_age, settings) == 1, 15, "worker unhealthy")
    finally:
        stream_worker.send_signal(signal.SIGCONT)
    wait_for(lambda: health.check("worker", max_age, settings) == 0, 10, "worker healthy again")
    for process in (stream_worker, rq_worker):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
