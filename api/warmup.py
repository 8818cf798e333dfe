"""Warming a new app before it serves, so the first request is as fast as the next ones.

Runs the request code once on sample records (validation, both model stages, stream encoding,
JSON) and compiles the URL map, without publishing anything or touching the metrics.
"""

from __future__ import annotations

import logging
import time

from flask import Flask

from api.errors import json_response
from api.schemas import InstallRecord
from api.scoring import score

log = logging.getLogger(__name__)

SAMPLES = (
    {"user_id": "warm-up", "country": "US", "platform": "iOS", "source": "Organic"},
    {
        "country": "BR",
        "platform": "android",
        "device_family": "samsung galaxy a12",
        "os_version": "11",
        "source": "Non-Organic",
        "event_1": 3,
        "event_2": 1,
        "event_3": 0,
    },
)
PATHS = ("/predict", "/healthz", "/users/warm-up/prediction", "/events")


def warm_up(app: Flask, services) -> float:
    """Exercise the hot path once; returns the seconds it took."""
    started = time.perf_counter()
    records = [InstallRecord.model_validate(sample).model_dump() for sample in SAMPLES]
    for _ in range(3):
        answers, _entries = score(services.predictor, records, "warm-up", batch=True)
        json_response(answers)
    adapter = app.url_map.bind("localhost")
    for path in PATHS:
        adapter.match(path, method="GET" if "users" in path or path == "/healthz" else "POST")
    seconds = time.perf_counter() - started
    log.info("warmed up in %.1f ms", seconds * 1000)
    return seconds
