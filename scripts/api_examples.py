"""Prints the answers of the example requests that README.md and docs/api.md show.

The API runs in process with the committed model, an in-memory Redis (fakeredis) and a SQLite
file, and the stream worker scores what it published before each lookup, as `make run` would a
moment later. Ids and times differ on every run; everything else is what the code answers.

    .venv/bin/python scripts/api_examples.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import fakeredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.connections import COMMAND, engine_for_url  # noqa: E402
from adapters.migrations import upgrade_database  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from api.app import create_app  # noqa: E402
from worker.wiring import build_worker  # noqa: E402

INSTALL = {
    "user_id": "u-123",
    "country": "es",
    "platform": "android",
    "source": "Organic",
    "device_family": "Samsung Galaxy Phone",
    "os_version": "10",
}
BATCH = {
    "instances": [
        {
            "user_id": "u-123",
            "country": "es",
            "platform": "android",
            "event_1": 0,
            "event_2": 14,
            "event_3": 1,
        },
        {"country": "us", "platform": "iOS"},
    ]
}
EVENT = {
    "user_id": "u-456",
    "event_id": "evt-0001",
    "sent_at": "2024-05-01T10:00:00Z",
    "country": "fr",
    "platform": "ios",
    "event_1": 0,
    "event_2": 3,
}
ANOMALOUS = {"user_id": "u-789", "country": "pe", "platform": "android", "event_2": 2}


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="api-examples-"))
    url = f"sqlite:///{directory / 'predictions.db'}"
    upgrade_database(url)
    settings = Settings(database_url=url, model_dir=str(ROOT / "models" / "d7"))
    redis = fakeredis.FakeRedis()
    engine = engine_for_url(url, COMMAND)
    app = create_app(settings, redis=redis, engine=engine, start_publisher=False)
    services = app.extensions["d7"]
    worker = build_worker(settings, services.predictor, redis, engine, consumer="examples")
    client = app.test_client()

    def show(method: str, path: str, body=None) -> None:
        answer = client.open(path, method=method, json=body)
        shown = "" if body is None else " " + json.dumps(body)
        print(f"{method} {path}{shown}\n  -> {answer.status_code} {answer.get_data(as_text=True)}")

    def score_published() -> None:
        services.publisher.flush()
        worker.run(until_empty=True)

    show("POST", "/predict", INSTALL)
    show("POST", "/predict", BATCH)
    score_published()
    show("GET", "/users/u-123/prediction")
    show("GET", "/users/nobody/prediction")
    show("POST", "/events", EVENT)
    score_published()
    show("GET", "/users/u-456/prediction")
    show("POST", "/predict", ANOMALOUS)
    services.close()


if __name__ == "__main__":
    main()
