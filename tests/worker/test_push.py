"""`python -m worker push`: CSV rows onto the install-events stream."""

import csv
import time

import pytest

from adapters.stream import EventStream, decode_install_event
from scorer.schema import InstallRecord
from worker.push import push_csv

from support.streams import row_count, synthetic_installs


def write_csv(path, records, extra_columns=()):
    columns = [*records[0].keys(), *extra_columns]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for i, record in enumerate(records):
            writer.writerow({**record, **{name: f"{name}-{i}" for name in extra_columns}})
    return path


def test_every_row_becomes_one_valid_event(fake_redis, tmp_path):
    records = synthetic_installs(120, seed=31)
    path = write_csv(tmp_path / "installs.csv", records, extra_columns=["event_id", "revenue"])
    stream = EventStream(fake_redis, "installs")
    assert push_csv(stream, path, batch_size=50, progress=False) == 120
    entries = fake_redis.xrange("installs")
    assert len(entries) == 120
    event = decode_install_event(entries[7][1])
    assert event.event_id == "event_id-7" and event.sent_at
    assert "revenue" not in event.record
    assert InstallRecord(**event.record).model_dump() == InstallRecord(**records[7]).model_dump()


def test_rate_limits_the_pace(fake_redis, tmp_path):
    path = write_csv(tmp_path / "installs.csv", synthetic_installs(300, seed=32))
    start = time.monotonic()
    push_csv(EventStream(fake_redis, "installs"), path, rate=1000, progress=False)
    assert 0.25 <= time.monotonic() - start < 5
    assert fake_redis.xlen("installs") == 300


def test_a_file_without_record_columns_is_refused(fake_redis, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no install-record columns"):
        push_csv(EventStream(fake_redis, "installs"), path, progress=False)


def test_push_command_then_worker_persists_every_row(
    redis_client, service_settings, spawn, tmp_path, predictor
):
    path = write_csv(tmp_path / "installs.csv", synthetic_installs(700, seed=33))
    process = spawn(service_settings, "push", "--file", str(path), "--batch-size", "200")
    assert process.wait(timeout=60) == 0
    log = (tmp_path / "worker-0.log").read_text()
    assert "700 events pushed to installs" in log and "700/700" in log
    assert redis_client.xlen(service_settings.installs_stream) == 700

    from adapters.store import make_engine
    from worker.wiring import build_worker

    engine = make_engine(service_settings.database_url)
    build_worker(service_settings, predictor, redis_client, engine).run(until_empty=True)
    engine.dispose()
    assert row_count(service_settings.database_url) == 700
