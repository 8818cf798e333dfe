"""The `outcome_matches` table: each outcome joined with its predictions, kept as outcomes arrive.

A user's outcome is matched with their newest prediction of each stage (by event time, as the
cache orders them: `scorer.prediction.recency`) whose event came before the outcome arrived
(`match_outcomes`, in the transaction that writes the outcomes), so a report reads one table by
install date instead of joining every outcome with every prediction (bench/calibration_bench.py
measures both). A row holds what reports group and sum by, plus the whole prediction (every
column but its input, as JSON: a column added to `predictions` is carried along without an
edit here), named by its idempotency key (event id, event time). An outcome without a prediction
has one row with stage null. `matched_rows` adds the predictions still without an outcome
(overdue or awaiting), placed by the UTC date of their event time (the partition key of
`predictions` on Postgres, so a window reads only its days).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from adapters.orm import IDEMPOTENCY_KEY, metadata, predictions
from scorer.monitoring import (
    AWAITING,
    LOWER,
    MATCHED,
    NO_PREDICTION,
    OVERDUE,
    OVERDUE_AFTER_DAYS,
    PREDICTED,
    PREDICTION_DIMENSIONS,
    UPPER,
)
from scorer.outcome import ACTUAL
from scorer.outcome import KEY as OUTCOME_KEY
from scorer.prediction import EVENT_TIME, KEY, recency
from scorer.schema import RECORD_COLUMNS

FIGURE_COLUMNS = ("stage", PREDICTED, LOWER, UPPER, "model_version")
"""Prediction columns a match holds as columns of its own (what reports group and sum by)."""
PREDICTION_KEY = IDEMPOTENCY_KEY
"""The matched prediction's idempotency key (event id, event time): a full fetch joins on it for
every other column."""
OTHER_COLUMNS = tuple(
    column.name
    for column in predictions.columns
    if column.name not in ("id", "input", "user_id", *FIGURE_COLUMNS)
)
"""Prediction columns a full fetch adds (a column added to `predictions` comes along on its
own); one named like a record column is prefixed `prediction_` (`prediction_source`: api,
stream or batch, while `source` is the acquisition source)."""
SHOWN_AS = {
    name: f"prediction_{name}" if name in RECORD_COLUMNS else name for name in OTHER_COLUMNS
}

outcome_matches = Table(
    "outcome_matches",
    metadata,
    Column("user_id", Text, nullable=False),
    Column("install_date", Date, nullable=False),
    Column(ACTUAL, Double, nullable=False),
    *[Column(name, predictions.c[name].type, nullable=True) for name in FIGURE_COLUMNS],
    *[Column(name, Text) for name in PREDICTION_DIMENSIONS],
    *[Column(name, predictions.c[name].type, nullable=True) for name in PREDICTION_KEY],
    Column("matched_at", DateTime(timezone=True), nullable=False),
)
Index("ix_outcome_matches_user_id_stage", outcome_matches.c.user_id, outcome_matches.c.stage,
      unique=True)  # fmt: skip
Index("ix_outcome_matches_install_date", outcome_matches.c.install_date)


SLACK = timedelta(days=1)
"""Time zones and clocks: a prediction of an install's event may be stamped up to this long
before its install date."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _earliest(outcome: Mapping[str, Any]) -> datetime | None:
    """The earliest event time of a prediction of the outcome's install (None: install date
    unknown): the install's events do not come before it."""
    day = outcome["install_date"]
    return None if day is None else datetime.combine(day, time(), UTC) - SLACK


def _candidates(users: Mapping[str, Mapping[str, Any]]):
    """The users' predictions that may match: event times between the earliest install date
    and the latest arrival of their outcomes, each widened by SLACK so that the bounds only
    spare partitions the rule below would reject (and never depend on how a database stores a
    time zone)."""
    clauses = [
        predictions.c.user_id.in_(list(users)),
        predictions.c[EVENT_TIME] <= max(_aware(o["received_at"]) for o in users.values()) + SLACK,
    ]
    earliest = [_earliest(outcome) for outcome in users.values()]
    if None not in earliest:
        clauses.append(predictions.c[EVENT_TIME] >= min(earliest) - SLACK)
    return select(predictions).where(*clauses)


def match_outcomes(connection: Connection, stored: Sequence[Mapping[str, Any]]) -> int:
    """(Re)match the `stored` outcome rows (user_id, revenue, install_date, received_at) with
    their users' predictions, replacing their earlier matches; returns the rows written.

    A prediction matches if its event time is not after the outcome arrived nor before its
    install date (less SLACK); of those, the newest of each stage (`recency`) is kept."""
    users = {row[OUTCOME_KEY]: row for row in stored}
    if not users:
        return 0
    newest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for prediction in connection.execute(_candidates(users)).mappings():
        outcome, key = users[prediction["user_id"]], (prediction["user_id"], prediction["stage"])
        happened, earliest = _aware(prediction[EVENT_TIME]), _earliest(outcome)
        if happened > _aware(outcome["received_at"]) or (earliest and happened < earliest):
            continue
        if key not in newest or recency(prediction) > recency(newest[key]):
            newest[key] = prediction
    now = datetime.now(UTC)
    rows = [_row(users[user], prediction, now) for (user, _), prediction in newest.items()]
    matched = {user for user, _ in newest}
    rows += [_row(outcome, None, now) for user, outcome in users.items() if user not in matched]
    connection.execute(delete(outcome_matches).where(outcome_matches.c.user_id.in_(list(users))))
    connection.execute(insert(outcome_matches), rows)
    return len(rows)


def _row(outcome: Mapping[str, Any], prediction: Mapping[str, Any] | None, now) -> dict:
    happened_on = _aware(prediction[EVENT_TIME]).date() if prediction else None
    row = {
        "user_id": outcome[OUTCOME_KEY],
        "install_date": outcome["install_date"]
        or happened_on
        or _aware(outcome["received_at"]).date(),
        ACTUAL: outcome[ACTUAL],
        "matched_at": now,
    }
    row |= {name: prediction[name] if prediction else None for name in PREDICTION_KEY}
    row |= {name: prediction[name] if prediction else None for name in FIGURE_COLUMNS}
    inputs = (prediction or {}).get("input") or {}
    return row | {name: inputs.get(name) for name in PREDICTION_DIMENSIONS}


# --- reading ---------------------------------------------------------------------------------

_DIALECT_SQL = {
    "postgresql": {
        "date_of": f"CAST((p.{EVENT_TIME} AT TIME ZONE 'UTC') AS date)",
        "instant": "(CAST(:{} AS timestamp) AT TIME ZONE 'UTC')",
        "dimension": "p.input->>'{}'",
        "key": f'p.{KEY} COLLATE "C"',  # byte order, as `recency` and the store compare keys
    },
    "sqlite": {"date_of": f"date(p.{EVENT_TIME})", "instant": ":{}",
               "dimension": "json_extract(p.input, '$.{}')", "key": f"p.{KEY}"},
}  # fmt: skip


_CODES = {MATCHED: "m", NO_PREDICTION: "n", OVERDUE: "o", AWAITING: "a"}
"""Statuses travel as one letter (a million rows' worth of bytes less to send and parse)."""
FLAGS = {  # keys: scorer.monitoring.FLAGS
    "inside": "CAST(({a} >= m.lower AND {a} <= m.upper) AS INTEGER)",
    "uncertain": "CAST(NOT (m.lower = 0 AND m.upper = 0) AS INTEGER)",
}
"""A lean fetch sends `scorer.metrics.interval_flags` per user (1/0), not the two bounds: the
same comparisons, in SQL."""


def _window_sql(dialect: dict[str, str], figures: list[str], extra: list[str], full: bool):
    """Two statements with the same columns: the matches of the window, and the newest
    prediction of each user and stage made in the window whose user has no outcome yet.
    `extra`: further columns (dimensions, install_date); `full` adds user_id, the bounds and the
    prediction's other columns, else the interval flags stand for the bounds."""
    dimensions = [name for name in extra if name in PREDICTION_DIMENSIONS]
    dated = full or "install_date" in extra
    flags = (
        [] if full else [f"{sql.format(a=f'm.{ACTUAL}')} AS {name}" for name, sql in FLAGS.items()]
    )
    others = [SHOWN_AS[name] for name in OTHER_COLUMNS] if full else []
    matches = [
        *(["m.user_id"] if full else []),
        *(["CAST(m.install_date AS TEXT) AS install_date"] if dated else []),
        f"m.{ACTUAL}",
        *[f"m.{name}" for name in [*figures, *dimensions]],
        *flags,
        *[f"p.{name} AS {SHOWN_AS[name]}" for name in OTHER_COLUMNS if full],
        f"CASE WHEN m.stage IS NULL THEN '{_CODES[NO_PREDICTION]}' "
        f"ELSE '{_CODES[MATCHED]}' END AS status",
    ]
    waiting = [
        *(["user_id"] if full else []),
        *(["install_date"] if dated else []),
        f"NULL AS {ACTUAL}",
        *figures,
        *dimensions,
        *[f"NULL AS {name}" for name in FLAGS if not full],
        *others,
        f"CASE WHEN install_date < :overdue_before THEN '{_CODES[OVERDUE]}' "
        f"ELSE '{_CODES[AWAITING]}' END",
    ]
    chosen = [f"p.{name}" for name in figures]
    chosen += [f"{dialect['dimension'].format(name)} AS {name}" for name in dimensions]
    chosen += [f"p.{name} AS {SHOWN_AS[name]}" for name in OTHER_COLUMNS if full]
    on = " AND ".join(f"p.{name} = m.{name}" for name in PREDICTION_KEY)
    joined = f" LEFT JOIN predictions p ON {on}" if full else ""
    return [
        f"SELECT {', '.join(matches)} FROM outcome_matches m{joined}"
        " WHERE m.install_date >= :since AND m.install_date <= :until",
        f"""SELECT {", ".join(waiting)} FROM (
  SELECT p.user_id, CAST({dialect["date_of"]} AS TEXT) AS install_date, {", ".join(chosen)},
         row_number() OVER (PARTITION BY p.user_id, p.stage
                            ORDER BY p.{EVENT_TIME} DESC, {dialect["key"]} DESC) AS newest
  FROM predictions p
  WHERE p.{EVENT_TIME} >= {dialect["instant"].format("since")}
    AND p.{EVENT_TIME} < {dialect["instant"].format("after")}
    AND p.user_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.user_id = p.user_id)
) waiting WHERE newest = 1""",
    ]


def _pyformat(statement: str) -> str:
    """`:name` bind parameters as psycopg2's `%(name)s` (a literal % doubled)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


def _copy_csv(engine: Engine, statement: str, parameters: dict[str, Any], header: bool) -> bytes:
    """The rows of `statement` as CSV, through COPY ... TO STDOUT."""
    buffer = io.BytesIO()
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            query = cursor.mogrify(_pyformat(statement), parameters).decode()
            options = "FORMAT csv, HEADER" if header else "FORMAT csv"
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH ({options})", buffer)
    except engine.dialect.dbapi.Error as error:
        raise DBAPIError(statement, parameters, error) from error
    finally:
        connection.close()
    return buffer.getvalue()


def _copy_frame(engine: Engine, statements: list[str], parameters: dict[str, Any]) -> pd.DataFrame:
    """The rows of `statements` (same columns) as one frame: each statement on a connection of
    its own, at the same time, through COPY (several times cheaper than a Python tuple per
    row); text columns parsed straight into categories."""
    with ThreadPoolExecutor(len(statements)) as pool:
        parts = list(pool.map(lambda item: _copy_csv(engine, item[1], parameters, item[0] == 0),
                              enumerate(statements)))  # fmt: skip
    numbers = (ACTUAL, PREDICTED, LOWER, UPPER, *FLAGS)
    texts = ("install_date", "status", "stage", "model_version", *PREDICTION_DIMENSIONS)
    return pd.read_csv(
        io.BytesIO(b"".join(parts)),
        dtype=dict.fromkeys(texts, "category") | dict.fromkeys(numbers, float),
    )


def matched_rows(
    engine: Engine,
    since: date,
    until: date,
    today: date | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per user and stage for the install dates `since`..`until` (inclusive).

    With `columns` None, every column: user_id, install_date (ISO text), the actual revenue
    (NaN without an outcome), FIGURE_COLUMNS, the record dimensions, the matched prediction as
    a dict (`prediction`) and `status`. A lean fetch (`columns` names the grouping columns a
    report needs) has stage, predicted_revenue, the actual revenue, the interval flags (FLAGS)
    instead of the bounds, status, and those of `columns`.

    `status`: matched; no_prediction (an outcome, no prediction before it); overdue (a
    prediction of an install over OVERDUE_AFTER_DAYS days before `today`, no outcome) or
    awaiting. An install date is the outcome's, else the UTC date of the matched prediction's
    event time, else the date the outcome arrived; a prediction without an outcome is placed
    by the UTC date of its event time.
    """
    today = today or datetime.now(UTC).date()
    full = columns is None
    extra = [*PREDICTION_DIMENSIONS, "install_date"] if full else list(columns or ())
    figures = [name for name in FIGURE_COLUMNS
               if full or name in extra or name in ("stage", PREDICTED)]  # fmt: skip
    statements = _window_sql(_DIALECT_SQL[engine.dialect.name], figures, extra, full)
    parameters = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "after": (until + timedelta(days=1)).isoformat(),
        "overdue_before": (today - timedelta(days=OVERDUE_AFTER_DAYS)).isoformat(),
    }
    if engine.dialect.name == "postgresql":
        frame = _copy_frame(engine, statements, parameters)
    else:
        with engine.connect() as connection:
            frame = pd.read_sql(text(" UNION ALL ".join(statements)), connection, params=parameters)
        frame[ACTUAL] = pd.to_numeric(frame[ACTUAL], errors="coerce").astype(float)
    frame["status"] = (
        frame["status"]
        .astype("category")
        .cat.rename_categories({code: status for status, code in _CODES.items()})
    )
    return frame
