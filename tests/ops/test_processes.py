"""The launcher's process handling: output prefixed by service, and a stop that leaves no
process behind, grandchildren included, even one that ignores SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import sys
import time

import psutil
import pytest

from ops.processes import ProcessSupervisor

STUBBORN_FAMILY = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('grandchild up', flush=True); time.sleep(600)"])
print(f"parent {os.getpid()} child {child.pid}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leaves its child behind
time.sleep(600)
"""

ESCAPING_CHILD = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # waits for its child, as rq waits for its horse
child = os.fork()
if child == 0:
    os.setpgrp()  # as rq's work horse does: a process group of its own
    print(f"horse {os.getpid()} up", flush=True)
    time.sleep(600)
    os._exit(0)
os.waitpid(child, 0)
"""


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_output(output: io.StringIO, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while text not in output.getvalue():
        assert time.monotonic() < deadline, f"no {text!r} in {output.getvalue()!r}"
        time.sleep(0.05)
    return output.getvalue()


@pytest.mark.slow  # starts and stops a process tree
def test_stop_leaves_no_process_behind():
    output = io.StringIO()
    services = ProcessSupervisor(output, stop_seconds=3)
    service = services.start("family", [sys.executable, "-c", STUBBORN_FAMILY], os.environ)
    wait_for_output(output, "grandchild up")
    family = psutil.Process(service.process.pid).children(recursive=True)
    assert len(family) == 1
    assert os.getpgid(service.process.pid) == service.process.pid  # a group of its own

    started = time.monotonic()
    services.stop()

    assert time.monotonic() - started < 15
    assert service.process.returncode == 0
    for process in family:
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert "family | grandchild up" in output.getvalue()


def test_a_service_that_exits_is_reported():
    services = ProcessSupervisor(io.StringIO(), stop_seconds=1)
    services.start("quick", [sys.executable, "-c", "print('bye')"], os.environ)
    deadline = time.monotonic() + 15
    while services.exited() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert services.exited().name == "quick"
    services.stop()


@pytest.mark.slow  # starts and stops a process tree
def test_stop_kills_a_child_that_left_the_process_group():
    """rq's work horse calls setpgrp(): a SIGKILL of its parent's group misses it, so the
    launcher would report "stopped" with the horse still running its job."""
    output = io.StringIO()
    services = ProcessSupervisor(output, stop_seconds=1)
    service = services.start("rq", [sys.executable, "-c", ESCAPING_CHILD], os.environ)
    horses: list[psutil.Process] = []
    try:
        wait_for_output(output, " up")
        horses = psutil.Process(service.process.pid).children()
        (horse,) = horses
        assert f"horse {horse.pid} up" in output.getvalue()
        assert os.getpgid(horse.pid) != os.getpgid(service.process.pid)

        services.stop()

        assert service.process.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 5  # killed, then reaped by init (its parent is gone)
        while not gone(horse):
            assert time.monotonic() < deadline, f"the horse is still running: {horse}"
            time.sleep(0.05)
    finally:
        services.stop()
        for horse in horses:
            if horse.is_running():
                horse.kill()
