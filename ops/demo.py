"""`python -m ops demo`: replay a data file against a running service, so the loop fills up.

Each user of the file arrives as an install (attributes only: the install stage), then with
their early event counts (the early-events stage), both over POST /events, which the stream
worker scores and stores; once the worker has caught up, the users' actual D7 revenue goes in
over POST /outcomes with install dates spread over past days whose outcomes are all due, so
the calibration report, the drift report and the gauges show complete cohorts within a minute.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ops.smoke import Api, SmokeFailure, poll
from scorer.data import read_records
from scorer.monitoring import MATCHED, OVERDUE_AFTER_DAYS
from scorer.outcome import ACTUAL
from scorer.schema import COUNT_COLUMNS, RECORD_COLUMNS, STAGE_EVENTS

SPREAD_DAYS = 14
"""Install dates are spread over this many days, the newest OVERDUE_AFTER_DAYS + 1 days ago."""
REQUEST_RECORDS = 500
"""Records per request (under the API's BATCH_LIMIT default of 1,000)."""
CATCH_UP_SECONDS = 120.0
"""How long the worker may take to score and store everything sent."""


def install_dates(users: int, today: date) -> list[str]:
    """User i installed OVERDUE_AFTER_DAYS + 1 + (i mod SPREAD_DAYS) days before `today`."""
    newest = today - timedelta(days=OVERDUE_AFTER_DAYS + 1)
    return [(newest - timedelta(days=i % SPREAD_DAYS)).isoformat() for i in range(users)]


def _clean(value: Any) -> Any:
    return None if value is None or value != value else value


def _send(api: Api, path: str, key: str, items: list[dict], what: str) -> None:
    for start in tqdm(range(0, len(items), REQUEST_RECORDS), desc=what, unit="request"):
        status, body = api.call("POST", path, {key: items[start : start + REQUEST_RECORDS]})
        if status != 202:
            raise SmokeFailure(f"POST {path} answered {status}: {body}")


def run_demo(api: Api, path: Path, today: date, users: int | None = None) -> dict[str, Any]:
    """Replay `path` (a CSV with revenue) through `api`; returns the calibration report the
    service then gives for the replayed install dates."""
    frame = read_records(path, require_target=True)
    frame = frame[frame.user_id.notna()]
    if users is not None:
        frame = frame.head(users)
    records = [
        {name: _clean(row[name]) for name in RECORD_COLUMNS} for row in frame.to_dict("records")
    ]
    installs = [
        record | {name: None for name in COUNT_COLUMNS} | {"event_id": f"demo-install-{i}"}
        for i, record in enumerate(records)
    ]
    events = [record | {"event_id": f"demo-events-{i}"} for i, record in enumerate(records)]
    _send(api, "/events", "events", installs, "installs")
    _send(api, "/events", "events", events, "early events")
    last = records[-1]["user_id"]

    def stored() -> bool:
        status, body = api.call("GET", f"/users/{last}/prediction")
        return status == 200 and body.get("stage") == STAGE_EVENTS

    poll("the worker storing the early-events predictions", stored, CATCH_UP_SECONDS)
    dates = install_dates(len(records), today)
    outcomes = [
        {"user_id": record["user_id"], "revenue": float(revenue), "install_date": day}
        for record, revenue, day in zip(records, frame[ACTUAL], dates, strict=True)
    ]
    _send(api, "/outcomes", "outcomes", outcomes, "outcomes")
    query = f"/monitoring/calibration?since={min(dates)}&until={max(dates)}"
    expected = 2 * len(records)  # one install-stage and one early-events match per user

    def matched() -> dict | None:
        status, body = api.call("GET", query)
        done = status == 200 and body["totals"][MATCHED] >= expected
        return body if done else None

    return poll("the outcomes matched with their predictions", matched, CATCH_UP_SECONDS)


def summary(report: dict[str, Any]) -> str:
    """A few lines a person reads after the demo: users, ratio, coverage, Gini per stage."""
    rows = pd.DataFrame(report["segments"])
    lines = [f"installs {report['since']} to {report['until']}: {report['totals']}"]
    for row in rows.itertuples():
        lines.append(
            f"  {row.stage}: {row.users} users, predicted/actual {row.ratio:.2f}, "
            f"coverage {row.coverage:.2f}, Gini {row.gini:.2f}"
        )
    return "\n".join(lines)
