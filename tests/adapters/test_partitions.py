"""The `predictions` table partitioned by event time on Postgres: the migration from the plain
table keeps every row, partitions are created ahead and dropped past the retention, and an event
time without its partition still inserts. SQLite keeps a plain table."""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy

from adapters import partitions
from adapters.migrations import current_revision, upgrade_database
from adapters.store import PredictionStore, make_engine

from support.rows import prediction_row

TODAY = date(2025, 6, 30)


def row(event_id, event_time, user_id="u1"):
    return prediction_row(
        user_id, event_id, 1.0, event_time, lower=0.0, model_version="v1", event_time=event_time
    )


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def every_row(connection) -> list:
    """What the migration must keep of each row, in id order."""
    return connection.execute(
        sqlalchemy.text(
            "SELECT id, event_id, user_id, predicted_revenue, created_at, flags"
            " FROM predictions ORDER BY id"
        )
    ).all()


def rows_by_partition(engine) -> dict[str, set[str]]:
    with engine.connect() as connection:
        found = connection.execute(
            sqlalchemy.text("SELECT tableoid::regclass::text, event_id FROM predictions")
        ).all()
    by_partition: dict[str, set[str]] = {}
    for partition, event_id in found:
        by_partition.setdefault(partition, set()).add(event_id)
    return by_partition


def test_sqlite_keeps_a_plain_table(sqlite_url):
    engine = make_engine(sqlite_url)
    assert not partitions.partitioned(engine)
    assert partitions.maintain(engine, retention_days=1) == partitions.Maintenance()
    engine.dispose()


def test_migration_moves_every_row_of_the_plain_table(empty_database_url):
    upgrade_database(empty_database_url, "0002")
    engine = make_engine(empty_database_url)
    old_rows = 250
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO predictions (event_id, user_id, source, stage, input,"
                " predicted_revenue, lower, upper, model_version, created_at, flags)"
                " SELECT 'e' || i, 'u' || (i % 7), 'stream', 'install', '{}', i, 0, i,"
                " 'v1', timestamptz '2025-03-01 23:00+00' + i * interval '1 hour',"
                " CASE WHEN i % 3 = 0 THEN '[\"unseen_region\"]'::jsonb ELSE '[]' END"
                " FROM generate_series(1, :rows) AS i"
            ),
            {"rows": old_rows},
        )
        before = every_row(connection)
    upgrade_database(empty_database_url, "predictions_by_event_time")
    assert current_revision(empty_database_url) == "predictions_by_event_time"
    assert partitions.partitioned(engine)
    with engine.connect() as connection:
        after = every_row(connection)
        moved_times = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM predictions WHERE event_time = created_at")
        ).scalar_one()
        in_default = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM predictions_default")
        ).scalar_one()
    assert after == before and len(after) == old_rows
    assert sum(row.flags == ["unseen_region"] for row in after) == old_rows // 3  # flags moved
    assert moved_times == old_rows
    assert in_default == 0  # each day of rows got its partition
    days = partitions.partition_days(engine)
    assert days[0] == date(2025, 3, 2) and date(2025, 3, 12) in days  # 250 hours from Mar 2
    store = PredictionStore(engine)  # new rows get fresh ids; a known event is not stored twice
    assert store.save_many([row("e1", before[0].created_at), row("new", at(TODAY))]) == 1
    with engine.connect() as connection:
        new_id = connection.execute(
            sqlalchemy.text("SELECT id FROM predictions WHERE event_id = 'new'")
        ).scalar_one()
    assert new_id > old_rows  # the identity continues after the moved ids
    upgrade_database(empty_database_url)  # the later migrations apply on the moved rows
    assert current_revision(empty_database_url) == "create_outcomes"
    assert store.count() == old_rows + 1
    engine.dispose()


def test_an_event_time_without_a_partition_goes_to_the_default_one(database_url):
    engine = make_engine(database_url)
    store = PredictionStore(engine)
    far = at(date(2031, 1, 5))
    assert store.save_many([row("far", far)]) == 1
    assert store.save_many([row("far", far)]) == 0  # idempotent in the default partition too
    assert rows_by_partition(engine)["predictions_default"] == {"far"}
    assert partitions.create_partitions(engine, date(2031, 1, 5), date(2031, 1, 5)) == [
        "predictions_20310105"
    ]
    assert rows_by_partition(engine) == {"predictions_20310105": {"far"}}  # moved out
    assert store.save_many([row("far", far)]) == 0
    engine.dispose()


def test_maintenance_creates_ahead_and_drops_only_days_past_the_retention(database_url):
    engine = make_engine(database_url)
    store = PredictionStore(engine)
    retention = 30
    cutoff = TODAY - timedelta(days=retention)
    old, edge, recent = cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)
    partitions.create_partitions(engine, old - timedelta(days=2), recent)
    store.save_many(
        [
            row("old", at(old, 23)),
            row("edge", at(edge, 0)),
            row("recent", at(recent)),
            row("ancient", at(date(2001, 1, 1))),  # default partition
            row("today", at(TODAY)),
        ]
    )
    done = partitions.maintain(engine, retention, today=TODAY)
    assert done.dropped == [f"predictions_{day:%Y%m%d}" for day in (old - timedelta(days=2),
                            old - timedelta(days=1), old)]  # fmt: skip
    assert done.expired_default_rows == 1
    ahead = [TODAY + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)]
    assert done.created == [f"predictions_{day:%Y%m%d}" for day in ahead]
    days = partitions.partition_days(engine)
    assert days[0] == edge and set(ahead) <= set(days)
    with engine.connect() as connection:
        kept = set(
            connection.execute(sqlalchemy.text("SELECT event_id FROM predictions")).scalars()
        )
    assert kept == {"edge", "recent", "today"}
    assert rows_by_partition(engine)[f"predictions_{TODAY:%Y%m%d}"] == {"today"}
    again = partitions.maintain(engine, retention, today=TODAY)  # nothing left to do
    assert again == partitions.Maintenance()
    engine.dispose()
