"""Redis down: /predict still answers, unsent entries wait in a bounded buffer and are re-sent
when Redis returns; what is dropped is counted in /metrics and logged."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.stream import EventStream, decode_scored
from api.publisher import PublishCounters, StreamPublisher


class Recorder(PublishCounters):
    def __init__(self):
        self.sent = self.failures = 0
        self.drops: dict[str, int] = {}
        self.size = 0

    def published(self, count):
        self.sent += count

    def failed(self):
        self.failures += 1

    def dropped(self, count, reason):
        self.drops[reason] = self.drops.get(reason, 0) + count

    def buffered(self, size):
        self.size = size


def entry(number: int) -> dict[str, str]:
    return {"event_id": f"e-{number}", "n": str(number)}


def sent_ids(client, stream="scored") -> list[str]:
    return [fields[b"event_id"].decode() for _, fields in client.xrange(stream)]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def publisher(fake_client, recorder):
    return StreamPublisher(fake_client, "scored", 1000, capacity=5, counters=recorder)


def test_publish_only_buffers_and_flush_sends_in_order(publisher, fake_client, recorder):
    publisher.publish([entry(1), entry(2)])
    publisher.publish([entry(3)])
    assert fake_client.exists("scored") == 0  # nothing on the request path
    assert publisher.flush()
    assert sent_ids(fake_client) == ["e-1", "e-2", "e-3"]
    assert recorder.sent == 3 and publisher.pending == 0 and recorder.size == 0


def test_warm_up_encodes_and_compiles_but_sends_nothing(fake_client, recorder):
    encoded = []

    def encode(item):
        encoded.append(item)
        return item

    publisher = StreamPublisher(fake_client, "scored", 1000, 5, recorder, encode=encode)
    publisher.warm_up(entry(1))
    assert encoded == [entry(1)]
    assert fake_client.exists("scored") == 0 and publisher.pending == 0 and recorder.sent == 0
    script = EventStream(fake_client, "scored").prepare()  # the SHA1 of the same script
    assert fake_client.script_exists(script) == [True]


def test_warm_up_with_redis_down_only_logs(fake_client, redis_server, recorder, caplog):
    redis_server.connected = False
    publisher = StreamPublisher(fake_client, "scored", 1000, 5, recorder)
    with caplog.at_level(logging.WARNING, logger="api.publisher"):
        publisher.warm_up(entry(1))
    assert "script not loaded" in caplog.text


def test_redis_down_keeps_entries_then_resends_them(publisher, fake_client, redis_server, recorder):
    redis_server.connected = False
    publisher.publish([entry(1), entry(2)])
    assert not publisher.flush()
    assert publisher.pending == 2 and recorder.failures == 1
    publisher.publish([entry(3)])
    assert not publisher.flush()
    redis_server.connected = True
    assert publisher.flush()
    assert sent_ids(fake_client) == ["e-1", "e-2", "e-3"]
    assert recorder.drops == {}


def test_full_buffer_drops_the_oldest_and_counts_them(
    publisher, fake_client, redis_server, recorder, caplog
):
    redis_server.connected = False
    for number in range(1, 9):
        publisher.publish([entry(number)])
    assert publisher.pending == 5
    assert recorder.drops == {"buffer_full": 3}
    with caplog.at_level(logging.WARNING, logger="api.publisher"):
        publisher.flush()
    assert "3 dropped" in caplog.text and "5 entries buffered" in caplog.text
    redis_server.connected = True
    publisher.flush()
    assert sent_ids(fake_client) == ["e-4", "e-5", "e-6", "e-7", "e-8"]


def test_a_batch_larger_than_the_buffer_keeps_its_newest(publisher, redis_server, recorder):
    redis_server.connected = False
    publisher.publish([entry(n) for n in range(12)])
    assert publisher.pending == 5 and recorder.drops == {"buffer_full": 7}


def test_entries_redis_rejects_are_counted_not_retried(publisher, fake_client, recorder):
    fake_client.set("scored", "not a stream")  # XADD on it fails with WRONGTYPE
    publisher.publish([entry(1), entry(2)])
    assert publisher.flush()
    assert recorder.drops == {"rejected": 2} and publisher.pending == 0


def test_items_that_cannot_be_encoded_are_dropped_and_counted(fake_client, recorder):
    def encode(item):
        if item["n"] == "2":
            raise ValueError("not a finite number: nan")
        return item

    publisher = StreamPublisher(fake_client, "scored", 1000, 10, recorder, encode=encode)
    publisher.publish([entry(1), entry(2), entry(3)])
    assert publisher.flush()
    assert sent_ids(fake_client) == ["e-1", "e-3"]
    assert recorder.drops == {"unencodable": 1} and recorder.sent == 2


def test_background_thread_resends_when_redis_returns(fake_client, redis_server, recorder):
    publisher = StreamPublisher(fake_client, "scored", 1000, capacity=100, counters=recorder)
    publisher.start()
    try:
        redis_server.connected = False
        publisher.publish([entry(1)])
        wait_for(lambda: recorder.failures >= 1)
        publisher.publish([entry(2)])
        redis_server.connected = True
        wait_for(lambda: len(sent_ids(fake_client)) == 2, seconds=10)
        assert sent_ids(fake_client) == ["e-1", "e-2"]
    finally:
        publisher.close(timeout=5)


def test_close_sends_what_is_left(fake_client, recorder):
    publisher = StreamPublisher(fake_client, "scored", 1000, capacity=100, counters=recorder)
    publisher.publish([entry(1)])
    publisher.close()
    assert sent_ids(fake_client) == ["e-1"]


def test_close_counts_what_cannot_be_sent(fake_client, redis_server, recorder):
    publisher = StreamPublisher(fake_client, "scored", 1000, capacity=100, counters=recorder)
    redis_server.connected = False
    publisher.publish([entry(1)])
    publisher.close()
    assert recorder.drops == {"shutdown": 1}


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def metric(client, name: str, **labels) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_predict_answers_while_redis_is_down_and_publishes_later(
    make_app, fake_client, redis_server
):
    app = make_app()
    client, publisher = app.test_client(), app.extensions["d7"].publisher
    redis_server.connected = False
    ids = [
        client.post("/predict", json={"user_id": f"u-{i}"}).get_json()["request_id"]
        for i in range(3)
    ]
    assert all(ids)
    assert not publisher.flush()
    assert metric(client, "api_stream_buffered") == 3
    assert metric(client, "api_stream_publish_failures_total") == 1
    redis_server.connected = True
    assert publisher.flush()
    rows = [decode_scored(fields) for _, fields in fake_client.xrange("scored")]
    assert [row["event_id"] for row in rows] == ids
    assert metric(client, "api_stream_buffered") == 0
    assert metric(client, "api_stream_published_total") == 3


def test_drops_show_in_metrics(make_app, redis_server):
    app = make_app(publish_buffer_size=2)
    client = app.test_client()
    redis_server.connected = False
    for _ in range(5):
        assert client.post("/predict", json={"country": "US"}).status_code == 200
    assert metric(client, "api_stream_dropped_total", reason="buffer_full") == 3
    assert metric(client, "api_stream_buffered") == 2


def test_publisher_thread_is_not_on_the_request_path(make_app, redis_server):
    """With Redis down (connections refused) and the thread running, requests stay fast."""
    client = make_app(start_publisher=True).test_client()
    redis_server.connected = False
    started = time.perf_counter()
    for _ in range(20):
        assert client.post("/predict", json={"country": "US"}).status_code == 200
    assert time.perf_counter() - started < 2.0
    redis_server.connected = True


def test_unreachable_real_address_fails_fast(make_app):
    """A real client on a closed port: refused at once, buffered, request answered."""
    import redis

    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    app = make_app(redis=down)
    response = app.test_client().post("/predict", json={"country": "US"})
    assert response.status_code == 200
    assert not app.extensions["d7"].publisher.flush()
    assert app.extensions["d7"].publisher.pending == 1
