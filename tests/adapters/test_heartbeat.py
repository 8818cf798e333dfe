"""Heartbeat files: touched by a beat (at most every `every` seconds), aged by their mtime."""

import logging
import os
import time

import pytest

from adapters.heartbeat import ROLES, Heartbeat
from adapters.settings import Settings


def set_back(path, seconds: float) -> None:
    """Make `path` look last touched `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_beat_creates_the_file_and_its_directory(tmp_path):
    heartbeat = Heartbeat(tmp_path / "beats" / "worker.heartbeat")
    with pytest.raises(FileNotFoundError):
        heartbeat.age()
    heartbeat.beat()
    assert heartbeat.path.is_file()
    assert heartbeat.age() < 5


def test_beats_closer_than_every_touch_the_file_once(tmp_path):
    heartbeat = Heartbeat(tmp_path / "worker.heartbeat", every=60)
    heartbeat.beat()
    set_back(heartbeat.path, 100)
    heartbeat.beat()  # within 60 s of the first: not written
    assert heartbeat.age() >= 100
    eager = Heartbeat(heartbeat.path, every=0)
    eager.beat()
    assert eager.age() < 5


def test_a_file_that_cannot_be_written_is_logged_once_and_never_raises(tmp_path, caplog):
    (tmp_path / "not-a-directory").write_text("")
    heartbeat = Heartbeat(tmp_path / "not-a-directory" / "worker.heartbeat", every=0)
    with caplog.at_level(logging.WARNING, logger="adapters.heartbeat"):
        heartbeat.beat()
        heartbeat.beat()
    (record,) = caplog.records
    assert record.message.startswith(f"heartbeat {heartbeat.path} not written: ")
    with pytest.raises(OSError):
        heartbeat.age()


def test_each_role_has_its_file_in_heartbeat_dir(tmp_path):
    settings = Settings(heartbeat_dir=str(tmp_path))
    paths = {Heartbeat.of(settings, role).path for role in ROLES}
    assert paths == {tmp_path / "worker.heartbeat", tmp_path / "rq.heartbeat"}
    with pytest.raises(ValueError, match="not one of worker, rq"):
        Heartbeat.of(settings, "api")
