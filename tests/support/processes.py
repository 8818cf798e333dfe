"""Helpers of the tests that start processes: a free port, a process's log, a line awaited in it."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

STARTUP_SECONDS = 120
"""How long a started service may take to print the line a test waits for."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_text(process) -> str:
    """What a process started with a `log_path` attribute (the worker tests' `spawn`) wrote."""
    return Path(process.log_path).read_text()


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen) -> re.Match:
    """The first match of `pattern` in the log of `process`; fails if it exits or takes longer
    than STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        assert process.poll() is None, f"exited early:\n{log.read_text()[-3000:]}"
        time.sleep(0.25)
    raise AssertionError(f"no {pattern!r} after {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")
