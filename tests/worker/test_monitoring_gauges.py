"""The monitoring gauges: computed by the job from stored predictions and outcomes (equal to
`scorer.metrics` on the same users), kept in Redis, scheduled once per interval, exposed by the
API's /metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import fakeredis
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rq import Queue

from adapters.gauges import (
    GAUGES,
    REFRESH_JOB,
    REFRESHED,
    GaugeBoard,
    GaugeCollector,
    schedule_refresh,
)
from adapters.migrations import upgrade_database
from adapters.outcomes import OutcomeStore
from adapters.settings import Settings
from adapters.store import PredictionStore, make_engine
from adapters.stream import EventStream
from adapters.stream_partitions import StreamLayout
from scorer import metrics
from scorer.domain import TrainingDomain
from scorer.synth import synthetic_records
from worker.monitoring import complete_cohorts, gauge_samples

from support.rows import prediction_row

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url):
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def _prediction(index: int, record: dict, made: datetime, predicted: float) -> dict:
    return prediction_row(
        f"u{index}",
        f"e{index}-{made:%j}",
        predicted,
        made,
        source="api",
        input={key: (None if value != value else value) for key, value in record.items()},
        lower=predicted / 4,
        model_version="v1",
    )


def test_the_gauges_are_the_report_of_the_last_complete_cohorts(engine):
    rng = np.random.default_rng(5)
    users = synthetic_records(300, seed=21)
    users["country"] = np.where(np.arange(300) % 3 == 0, "es", "fr")
    predicted = rng.gamma(1.0, 0.5, 300)
    actual = rng.gamma(1.0, 0.6, 300)
    since, until = complete_cohorts(NOW.date())
    made = datetime(until.year, until.month, until.day, 9, tzinfo=UTC)
    records = users.drop(columns="revenue").to_dict("records")
    rows = [_prediction(i, records[i], made, predicted[i]) for i in range(250)]
    before = made - timedelta(days=1)  # over OVERDUE_AFTER_DAYS ago: these 50 are overdue
    rows += [_prediction(i, records[i], before, predicted[i]) for i in range(250, 300)]
    late = made + timedelta(days=20)  # today: drift compares these, calibration does not see them
    rows += [_prediction(1000 + i, records[i], NOW - timedelta(hours=1), 1.0) for i in range(150)]
    PredictionStore(engine).save_many(rows)
    outcomes = [
        {"user_id": f"u{i}", "revenue": actual[i], "install_date": until} for i in range(250)
    ]
    OutcomeStore(engine).write(outcomes, now=made + timedelta(days=7))
    predictor = SimpleNamespace(
        intervals=SimpleNamespace(group_names=["other", "es"], countries={"es": 1}),
        domain=TrainingDomain.fit(users.drop(columns="revenue")),
    )
    redis = fakeredis.FakeRedis()
    settings = Settings()
    EventStream(redis, settings.installs_stream).append({"a": "1"})
    EventStream(redis, settings.dead_letter_stream).append({"a": "1"})
    assert late > NOW
    samples = gauge_samples(settings, redis, engine, predictor, NOW)

    ratio = {labels["country_group"]: value for labels, value in samples["d7_calibration_ratio"]}
    spanish = np.arange(250) % 3 == 0
    for group, chosen in (("es", spanish), ("other", ~spanish)):
        assert ratio[group] == pytest.approx(
            metrics.total_ratio(actual[:250][chosen], predicted[:250][chosen])
        )
    coverage = dict(
        (labels["country_group"], value) for labels, value in samples["d7_calibration_coverage"]
    )
    lower, upper = predicted[:250] / 4, predicted[:250] * 2
    assert coverage["es"] == pytest.approx(
        metrics.uncertain_coverage(actual[:250][spanish], lower[spanish], upper[spanish])
    )
    users_by_group = {
        labels["country_group"]: value for labels, value in samples["d7_calibration_users"]
    }
    assert users_by_group == {"es": spanish.sum(), "other": (~spanish).sum()}
    assert samples["d7_outcomes_overdue"] == [({}, 50.0)]  # 50 users never got one
    psi = {labels["feature"]: value for labels, value in samples["d7_input_psi"]}
    assert set(psi) >= {"country", "event_2"} and psi["country"] < 0.1  # same users as training
    lag = {labels["stream"]: value for labels, value in samples["d7_stream_lag"]}
    assert lag[settings.installs_stream] == 1.0  # no group yet: every entry waits
    assert [value for _, value in samples["d7_stream_pending"]] == [0.0, 0.0, 0.0]
    assert samples["d7_dead_letters"] == [({}, 1.0)]
    assert set(samples) <= set(GAUGES)


def test_lag_and_pending_cover_every_partition_of_every_stream_kind(engine):
    redis = fakeredis.FakeRedis()
    settings = Settings(stream_partitions=2)
    layout = StreamLayout.of(settings)
    for kind in (settings.installs_stream, settings.scored_stream, settings.outcomes_stream):
        stream = EventStream(redis, layout.name(kind, 1))
        stream.ensure_group(settings.consumer_group)
        stream.append({"a": "1"})
        stream.append({"a": "2"})
    redis.xreadgroup(settings.consumer_group, "w1", {layout.name("outcomes", 1): ">"}, count=1)
    for name in layout.names(settings.dead_letter_stream):
        EventStream(redis, name).append({"a": "1"})
    predictor = SimpleNamespace(intervals=None, domain=None)
    samples = gauge_samples(settings, redis, engine, predictor, NOW)
    lag = {labels["stream"]: value for labels, value in samples["d7_stream_lag"]}
    pending = {labels["stream"]: value for labels, value in samples["d7_stream_pending"]}
    names = [layout.name(kind, index) for kind in ("installs", "scored", "outcomes")
             for index in (0, 1)]  # fmt: skip
    assert set(lag) == set(pending) == set(names)
    assert lag == {name: (1.0 if name == "outcomes:{1}" else 2.0 if name.endswith("{1}") else 0.0)
                   for name in names}  # fmt: skip
    assert pending == {name: float(name == "outcomes:{1}") for name in names}
    assert samples["d7_dead_letters"] == [({}, 2.0)]  # both partitions' letters


def test_the_board_keeps_declared_gauges_and_the_collector_exposes_them():
    redis = fakeredis.FakeRedis()
    board = GaugeBoard(redis)
    with pytest.raises(ValueError, match="undeclared"):
        board.write({"d7_made_up": [({}, 1.0)]})
    registry = CollectorRegistry()
    registry.register(GaugeCollector(board))
    assert b"d7_" not in generate_latest(registry)  # nothing written yet: nothing exposed
    board.write(
        {"d7_input_psi": [({"feature": "country"}, 0.3), ({"feature": "x"}, float("nan"))]},
        now=123.0,
    )
    text = generate_latest(registry).decode()
    assert 'd7_input_psi{feature="country"} 0.3' in text and 'feature="x"' not in text
    assert f"{REFRESHED} 123.0" in text


def test_the_collector_survives_redis_being_down():
    server = fakeredis.FakeServer()
    registry = CollectorRegistry()
    registry.register(GaugeCollector(GaugeBoard(fakeredis.FakeRedis(server=server))))
    server.connected = False
    assert b"d7_" not in generate_latest(registry)


def test_the_refresh_is_enqueued_once_per_interval_across_replicas():
    redis = fakeredis.FakeRedis()
    queue = Queue("monitoring-test", connection=redis)
    assert schedule_refresh(redis, queue, 60)
    assert not schedule_refresh(redis, queue, 60)  # another replica, same interval
    assert [job.func_name for job in queue.jobs] == [REFRESH_JOB]
    redis.delete("monitoring:refresh-scheduled")  # the interval is over
    assert schedule_refresh(redis, queue, 60) and len(queue.jobs) == 2


def test_the_stream_worker_schedules_the_refresh_at_housekeeping(monkeypatch):
    from worker import consumer
    from worker.wiring import build_worker

    redis = fakeredis.FakeRedis()
    settings = Settings(database_url="sqlite://")
    worker = build_worker(
        settings, predictor=object(), client=redis, engine=make_engine("sqlite://")
    )
    # at each housekeeping, besides the partitions' maintenance, hourly
    assert sorted(chore.every_seconds for chore in worker.chores) == [
        consumer.HOUSEKEEPING_SECONDS,
        consumer.MAINTENANCE_SECONDS,
    ]
    for stream in worker.streams:
        stream.ensure_group(settings.consumer_group)
    monkeypatch.setattr(consumer, "HOUSEKEEPING_SECONDS", 0.0)
    worker._next_housekeeping = 0.0
    worker._housekeeping()
    assert [job.func_name for job in Queue(settings.rq_queue, connection=redis).jobs] == [
        REFRESH_JOB
    ]


def test_each_chore_runs_at_the_first_housekeeping_then_when_due(monkeypatch):
    from worker import consumer

    clock = [1000.0]
    monkeypatch.setattr(consumer.time, "monotonic", lambda: clock[0])
    runs = {"often": 0, "hourly": 0}
    chores = (
        consumer.Chore(lambda: runs.__setitem__("often", runs["often"] + 1)),
        consumer.Chore(lambda: runs.__setitem__("hourly", runs["hourly"] + 1), 3600.0),
    )
    worker = consumer.StreamWorker(None, [], "group", "w1", chores=chores)
    for _ in range(4):  # two hours, a housekeeping every half hour
        clock[0] += 1800.0
        worker._housekeeping()
    assert runs == {"often": 4, "hourly": 2}


def test_complete_cohorts_are_those_whose_outcomes_are_due():
    since, until = complete_cohorts(date(2026, 12, 20))
    assert until == date(2026, 12, 12) and (until - since).days == 6
