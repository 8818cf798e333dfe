"""How long the calibration report takes over N predictions and N outcomes, against a baseline.

Loads N users into a Postgres schema of its own (one prediction each, stages half and half, and
one outcome each, over 28 install dates, each day a partition of `predictions`; plus N/20
predictions without an outcome), then times,
in one run, the report of the whole window grouped by country and stage:

- baseline: matching at query time, each outcome joined with its user's newest prediction of
  each stage whose event came before it (a window function over the join of both tables),
  fetched through COPY, then the same report;
- maintained (what GET /monitoring/calibration runs): `adapters.matches.matched_rows` reading
  the `outcome_matches` table that outcome writes keep, plus the predictions without outcome,
  then `scorer.monitoring.calibration_tables`.

The matches of the bulk-loaded outcomes are built by one SQL statement equivalent to
`match_outcomes`, and the run checks that both ways give the same report; the write side's cost
is measured separately with `OutcomeStore.write` on fresh users. Wall-clock seconds, median of
the repeats; the schema is dropped at the end.

    .venv/bin/python bench/calibration_bench.py [--users N] [--repeats N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.matches import matched_rows  # noqa: E402
from adapters.migrations import upgrade_database  # noqa: E402
from adapters.outcomes import OutcomeStore  # noqa: E402
from adapters.partitions import create_partitions  # noqa: E402
from scorer.monitoring import LOWER, MATCHED, PREDICTED, UPPER, calibration_tables  # noqa: E402
from scorer.prediction import EVENT_TIME, MADE_AT  # noqa: E402

FIRST_DAY = date(2026, 10, 1)
DAYS = 28
COUNTRIES = [f"c{i:02d}" for i in range(30)]
BY = ["country", "stage"]


def _copy(engine, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN CSV", buffer)
        connection.commit()
    finally:
        connection.close()


def load(engine, users: int, seed: int = 0) -> None:
    """N users with one prediction and one outcome each, N/20 predictions without outcome."""
    rng = np.random.default_rng(seed)
    total = users + users // 20
    day = rng.integers(0, DAYS, total)
    made = pd.Timestamp(FIRST_DAY, tz="UTC") + pd.to_timedelta(day, "D") + pd.to_timedelta(
        rng.integers(0, 86_400, total), "s"
    )  # fmt: skip
    country = rng.choice(COUNTRIES, total)
    platform = rng.choice(["ios", "android"], total)
    source = rng.choice(["Organic", "Non-Organic"], total)
    predicted = rng.lognormal(-2, 1.5, total)
    inputs = [
        f'{{"country": "{c}", "platform": "{p}", "source": "{s}", "event_2": 3}}'
        for c, p, s in zip(country, platform, source, strict=True)
    ]
    user_ids = [f"user-{i}" for i in range(total)]
    _copy(
        engine,
        "predictions",
        pd.DataFrame(
            {
                "event_id": [f"event-{i}" for i in range(total)],
                "user_id": user_ids,
                "source": "stream",
                "stage": np.where(rng.random(total) < 0.5, "install", "early_events"),
                "input": inputs,
                PREDICTED: predicted,
                LOWER: predicted * 0.3,
                UPPER: predicted * 2.5,
                "model_version": "bench",
                MADE_AT: made.strftime("%Y-%m-%d %H:%M:%S+00"),
                EVENT_TIME: made.strftime("%Y-%m-%d %H:%M:%S+00"),
            }
        ),
    )
    received = made[:users] + pd.Timedelta(days=7)
    _copy(
        engine,
        "outcomes",
        pd.DataFrame(
            {
                "user_id": user_ids[:users],
                "revenue": predicted[:users] * rng.lognormal(0, 0.6, users),
                "install_date": (pd.Timestamp(FIRST_DAY) + pd.to_timedelta(day[:users], "D"))
                .strftime("%Y-%m-%d"),
                "received_at": received.strftime("%Y-%m-%d %H:%M:%S+00"),
            }
        ),
    )  # fmt: skip
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(BULK_MATCH_SQL))
        for table in ("predictions", "outcomes", "outcome_matches"):
            connection.execute(sqlalchemy.text(f"ANALYZE {table}"))
        connection.commit()


BASELINE_SQL = """
WITH ranked AS (
  SELECT p.user_id, p.stage, p.predicted_revenue, p.lower, p.upper, p.input->>'country' AS country,
         o.revenue, CAST(o.install_date AS TEXT) AS install_date,
         row_number() OVER (PARTITION BY p.user_id, p.stage
                            ORDER BY p.event_time DESC, p.event_id COLLATE "C" DESC) AS newest
  FROM outcomes o JOIN predictions p ON p.user_id = o.user_id AND p.event_time <= o.received_at
  WHERE o.install_date >= %(since)s AND o.install_date <= %(until)s
)
SELECT user_id, stage, predicted_revenue, lower, upper, country, revenue, install_date,
       'matched' AS status
FROM ranked WHERE newest = 1
"""
"""Matching at query time (the baseline); outcomes without a prediction and predictions without
an outcome are left out, which only flatters it."""
BULK_MATCH_SQL = """
INSERT INTO outcome_matches (user_id, install_date, revenue, stage, predicted_revenue, lower,
                             upper, model_version, country, platform, source, event_id,
                             event_time, matched_at)
SELECT DISTINCT ON (p.user_id, p.stage) o.user_id, o.install_date, o.revenue, p.stage,
       p.predicted_revenue, p.lower, p.upper, p.model_version, p.input->>'country',
       p.input->>'platform', p.input->>'source', p.event_id, p.event_time, now()
FROM outcomes o JOIN predictions p ON p.user_id = o.user_id AND p.event_time <= o.received_at
ORDER BY p.user_id, p.stage, p.event_time DESC, p.event_id COLLATE "C" DESC
"""
"""The matches `match_outcomes` would write for the bulk-loaded outcomes, in one statement."""


def copy_out(engine, statement: str, parameters: dict) -> pd.DataFrame:
    buffer = io.BytesIO()
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            query = cursor.mogrify(statement, parameters).decode()
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)", buffer)
    finally:
        connection.close()
    buffer.seek(0)
    return pd.read_csv(buffer, dtype={"install_date": str})


def write_cost(engine, users: int) -> float:
    """Seconds per 1,000 outcomes written (and matched) by OutcomeStore.write, batches of 500;
    each arrives seven days after its install date, like the loaded ones."""
    installed = FIRST_DAY + timedelta(days=DAYS // 2)
    arrived = datetime.combine(installed + timedelta(days=7), datetime.min.time(), UTC)
    rows = [{"user_id": f"fresh-{i}", "revenue": 0.5, "install_date": installed}
            for i in range(users)]  # fmt: skip
    store = OutcomeStore(engine)
    started = time.perf_counter()
    for start in range(0, users, 500):
        store.write(rows[start : start + 500], now=arrived)
    return (time.perf_counter() - started) / users * 1000


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    admin = sqlalchemy.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    schema = f"bench_calibration_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = sqlalchemy.engine.make_url(args.database_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    url = url.render_as_string(hide_password=False)
    engine = sqlalchemy.create_engine(url)
    try:
        upgrade_database(url)
        create_partitions(engine, FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))
        seconds, _ = timed(lambda: load(engine, args.users))
        print(f"loaded {args.users:,} predictions and outcomes (+{args.users // 20:,} predictions "
              f"without outcome) in {seconds:.1f} s")  # fmt: skip
        since, until = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)
        today = until + timedelta(days=30)

        split = []

        def maintained():
            fetched, matched = timed(
                lambda: matched_rows(engine, since, until, today, columns=[*BY, PREDICTED])
            )
            reported, tables = timed(lambda: calibration_tables(matched, BY))
            split.append((fetched, reported))
            return matched, *tables

        def baseline():
            window = {"since": since.isoformat(), "until": until.isoformat()}
            matched = copy_out(engine, BASELINE_SQL, window)
            return matched, *calibration_tables(matched, BY)

        results = {}
        for name, run in (("baseline", baseline), ("maintained", maintained)):
            times = []
            for _ in range(args.repeats):
                seconds, results[name] = timed(run)
                times.append(seconds)
            print(f"{name:>10}: {statistics.median(times):6.2f} s (median of {args.repeats}; "
                  f"runs {', '.join(f'{t:.2f}' for t in times)})")  # fmt: skip
        fetch, report_only = (statistics.median(part) for part in zip(*split, strict=True))
        print(f"maintained, split: fetch {fetch:.2f} s + report {report_only:.2f} s (medians); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
        report, plain = results["maintained"][1], results["baseline"][1]
        judged = report[report.users > 0].reset_index(drop=True)
        same = len(judged) == len(plain) and all(
            np.allclose(judged[column].to_numpy(float), plain[column].to_numpy(float))
            for column in ("users", "predicted_sum", "actual_sum", "ratio", "coverage", "gini")
        )
        matched = (results["maintained"][0].status == MATCHED).sum()
        print(f"segments: {len(report)}, matched rows: {matched:,}, "
              f"overdue: {report.overdue.sum():,}; same figures both ways: {same}")  # fmt: skip
        print(f"write side: {write_cost(engine, 20_000):.3f} s per 1,000 outcomes written and "
              f"matched (OutcomeStore.write, batches of 500)")  # fmt: skip
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
