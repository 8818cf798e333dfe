"""Start a few long-running commands, show their output with a name prefix, and stop them all.

Each command runs in a process group of its own, so a Ctrl-C in the terminal reaches only the
launcher, which then stops the services in order: SIGTERM to each (gunicorn drains its requests,
the stream worker finishes its batch, rq its job), SIGKILL to whatever is left in a group after
the grace period, so no grandchild (gunicorn workers, rq's scheduler) outlives `make run`. A
service still running then also loses the descendants that left its group (rq's work horse calls
setpgrp()), found from its process tree before it is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import psutil

log = logging.getLogger(__name__)

STOP_SECONDS = 20.0
"""Grace period of a service after SIGTERM (rq finishes its current job within it)."""


@dataclass
class Service:
    name: str
    argv: Sequence[str]
    process: subprocess.Popen | None = None
    pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal is still a member
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _descendants(pid: int) -> list[psutil.Process]:
    """Every process below `pid`, whatever its process group; empty once `pid` is gone."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


class ProcessSupervisor:
    """The services started by one launcher, stopped together."""

    def __init__(self, output: TextIO | None = None, stop_seconds: float = STOP_SECONDS):
        self.output = output or sys.stdout
        self.stop_seconds = stop_seconds
        self.services: list[Service] = []
        self._write_lock = threading.Lock()
        self._width = 6

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Service:
        service = Service(name, list(argv))
        self._width = max(self._width, len(name))
        service.process = subprocess.Popen(
            service.argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        service.pump = threading.Thread(
            target=self._pump, args=(service,), name=f"output-{name}", daemon=True
        )
        service.pump.start()
        self.services.append(service)
        return service

    def _pump(self, service: Service) -> None:
        """Copy a service's output line by line, prefixed with its name."""
        assert service.process is not None and service.process.stdout is not None
        with service.process.stdout as lines:
            for raw in lines:
                self.say(raw.decode("utf-8", "replace").rstrip("\n"), service.name)

    def say(self, text: str, name: str = "run") -> None:
        with self._write_lock:
            for line in text.splitlines() or [""]:
                self.output.write(f"{name:>{self._width}} | {line}\n")
            self.output.flush()

    def exited(self) -> Service | None:
        """A service that has stopped by itself, if any."""
        return next((s for s in self.services if not s.running), None)

    def stop(self) -> None:
        """SIGTERM every service (in start order), wait, then SIGKILL what is left of each group."""
        for service in self.services:
            if service.running:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_seconds
        for service in self.services:
            self._wait(service, deadline)
        for service in self.services:
            pgid = service.process.pid
            if _group_alive(pgid):  # the leader is gone but a grandchild is not
                _signal_group(pgid, signal.SIGTERM)
                self._wait_group(pgid, time.monotonic() + 2)
            if _group_alive(pgid):
                log.warning("%s: killing what is left of its process group", service.name)
                _signal_group(pgid, signal.SIGKILL)
                self._wait_group(pgid, time.monotonic() + 5)
            if service.pump is not None:
                service.pump.join(timeout=2)

    def _wait(self, service: Service, deadline: float) -> None:
        try:
            service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: SIGKILL", service.name, self.stop_seconds)
            strays = _descendants(service.process.pid)  # now: the kill makes them orphans
            _signal_group(service.process.pid, signal.SIGKILL)
            for stray in strays:  # psutil checks it is still the same process
                with contextlib.suppress(psutil.Error):
                    stray.kill()
            service.process.wait(timeout=5)

    @staticmethod
    def _wait_group(pgid: int, deadline: float) -> None:
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
