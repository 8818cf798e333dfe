import json

import sqlalchemy
from alembic import command
from alembic.script import ScriptDirectory

from adapters.migrations import alembic_config, current_revision, upgrade_database

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
FIRST_COLUMNS = {
    "id",
    "event_id",
    "user_id",
    "source",
    "stage",
    "input",
    "predicted_revenue",
    "lower",
    "upper",
    "model_version",
    "created_at",
}
"""The columns of revision 0001."""
FLAGS_COLUMNS = FIRST_COLUMNS | {"flags"}
"""The columns of revision 0002."""
EXPECTED_COLUMNS = FLAGS_COLUMNS | {"event_time"}
"""The columns at the head."""


def check_schema(url, expected=EXPECTED_COLUMNS, outcomes=True):
    engine = sqlalchemy.create_engine(url)
    try:
        inspector = sqlalchemy.inspect(engine)
        columns = {column["name"]: column for column in inspector.get_columns("predictions")}
        indexes = {
            index["name"]: index["column_names"] for index in inspector.get_indexes("predictions")
        }
        unique = inspector.get_unique_constraints("predictions")
        tables = set(inspector.get_table_names())
    finally:
        engine.dispose()
    assert set(columns) == expected
    assert columns["user_id"]["nullable"] and not columns["event_id"]["nullable"]
    assert indexes["ix_predictions_created_at"] == ["created_at"]
    if "event_time" in expected:
        assert not columns["event_time"]["nullable"]
        assert indexes["ix_predictions_user_id_event_time"][:2] == ["user_id", "event_time"]
        assert [constraint["column_names"] for constraint in unique] == [["event_id", "event_time"]]
    else:
        assert indexes["ix_predictions_user_id_created_at"][0] == "user_id"
        assert [constraint["column_names"] for constraint in unique] == [["event_id"]]
    if not outcomes:
        assert not {"outcomes", "outcome_matches"} & tables
        return columns
    outcome_columns = {column["name"]: column for column in inspector_columns(url, "outcomes")}
    assert set(outcome_columns) == {
        "user_id", "revenue", "install_date", "received_at", "corrected_at"
    }  # fmt: skip
    assert not outcome_columns["revenue"]["nullable"]
    assert (
        outcome_columns["install_date"]["nullable"] and outcome_columns["corrected_at"]["nullable"]
    )
    match_columns = {column["name"] for column in inspector_columns(url, "outcome_matches")}
    assert {"user_id", "install_date", "revenue", "stage", "predicted_revenue", "lower", "upper",
            "model_version", "country", "platform", "source", "event_id",
            "event_time"} <= match_columns  # fmt: skip
    return columns


def inspector_columns(url, table):
    engine = sqlalchemy.create_engine(url)
    try:
        return sqlalchemy.inspect(engine).get_columns(table)
    finally:
        engine.dispose()


def test_one_chain_of_migrations_ends_with_the_outcomes_tables():
    assert HEAD == "create_outcomes"
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert [revision.revision for revision in script.walk_revisions()] == [
        "create_outcomes", "predictions_by_event_time", "0002", "0001"
    ]  # fmt: skip


def test_upgrade_on_an_empty_sqlite_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    upgrade_database(url)
    assert current_revision(url) == HEAD
    check_schema(url)
    upgrade_database(url)  # already current: nothing to do, no error
    assert current_revision(url) == HEAD


def test_upgrade_on_an_empty_postgres_schema(empty_database_url):
    assert current_revision(empty_database_url) is None
    upgrade_database(empty_database_url)
    assert current_revision(empty_database_url) == HEAD
    columns = check_schema(empty_database_url)
    assert columns["input"]["type"].__class__.__name__ == "JSONB"
    assert columns["id"]["type"].__class__.__name__ == "BIGINT"
    upgrade_database(empty_database_url)
    assert current_revision(empty_database_url) == HEAD


def test_migrations_do_not_touch_the_public_schema(empty_database_url, postgres_admin):
    upgrade_database(empty_database_url)
    with postgres_admin.connect() as connection:
        schemas = (
            connection.execute(
                sqlalchemy.text(
                    "SELECT table_schema FROM information_schema.tables"
                    " WHERE table_name = 'predictions'"
                )
            )
            .scalars()
            .all()
        )
    schema = empty_database_url.split("search_path%3D")[-1]
    assert schema in schemas
    assert "public" not in schemas


OLD_ROW = dict(
    user_id="u1", source="stream", stage="install", lower=0.5, upper=3.0, model_version="v1"
)
"""The columns the old writers' rows have alike."""


def _insert_as_written(engine, **values) -> None:
    """Insert a row of `predictions` naming only the columns of `values`, as a writer of an older
    revision did."""
    names = {**OLD_ROW, **values}
    statement = (
        f"INSERT INTO predictions ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
    )
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(statement), names)


def _insert_at_first_revision(engine, event_id: str) -> None:
    """A row as a writer of revision 0001 made it (no flags)."""
    _insert_as_written(
        engine, event_id=event_id, input=json.dumps({"country": "pe"}), predicted_revenue=1.5
    )


def _rows(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        found = connection.execute(sqlalchemy.text("SELECT * FROM predictions")).mappings()
        rows = {row["event_id"]: dict(row) for row in found}
    for row in rows.values():  # SQLite hands JSON back as text
        for name in ("input", "flags"):
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
    return rows


def check_flags_migration(url) -> None:
    """0002 up: old rows keep their values and get no flags; down: rows kept, flags gone."""
    upgrade_database(url, "0001")
    engine = sqlalchemy.create_engine(url)
    try:
        _insert_at_first_revision(engine, "old")
        upgrade_database(url, "0002")
        assert current_revision(url) == "0002"
        check_schema(url, FLAGS_COLUMNS, outcomes=False)
        rows = _rows(engine)
        assert rows["old"]["flags"] == [] and rows["old"]["input"] == {"country": "pe"}
        assert rows["old"]["predicted_revenue"] == 1.5
        _insert_at_first_revision(engine, "old-writer")  # during a rolling deploy
        assert _rows(engine)["old-writer"]["flags"] == []
        command.downgrade(alembic_config(url), "0001")
        assert current_revision(url) == "0001"
        check_schema(url, FIRST_COLUMNS, outcomes=False)
        rows = _rows(engine)
        assert sorted(rows) == ["old", "old-writer"] and "flags" not in rows["old"]
        assert rows["old"]["input"] == {"country": "pe"}
    finally:
        engine.dispose()


def test_flags_migration_up_and_down_on_sqlite_keeps_rows(tmp_path):
    check_flags_migration(f"sqlite:///{tmp_path / 'flags.db'}")


def test_flags_migration_up_and_down_on_postgres_keeps_rows(empty_database_url):
    check_flags_migration(empty_database_url)


def _insert_flagged(engine, event_id: str) -> None:
    """A row as a writer of revision 0002 made it (with flags, no event time)."""
    _insert_as_written(
        engine,
        event_id=event_id,
        input="{}",
        predicted_revenue=2.5,
        created_at="2025-03-01 10:00:00+00:00",
        flags=json.dumps(["unseen_region"]),
    )


def check_event_time_migration(url) -> None:
    """predictions_by_event_time up: flagged rows keep their flags and get their created_at as
    event time; down to 0002: rows and flags kept, event times gone."""
    upgrade_database(url, "0002")
    engine = sqlalchemy.create_engine(url)
    try:
        _insert_flagged(engine, "flagged")
        upgrade_database(url)
        assert current_revision(url) == HEAD
        check_schema(url)
        (row,) = _rows(engine).values()
        assert row["flags"] == ["unseen_region"] and row["predicted_revenue"] == 2.5
        assert row["event_time"] == row["created_at"]
        command.downgrade(alembic_config(url), "0002")
        assert current_revision(url) == "0002"
        check_schema(url, FLAGS_COLUMNS, outcomes=False)
        rows = _rows(engine)
        assert list(rows) == ["flagged"] and rows["flagged"]["flags"] == ["unseen_region"]
    finally:
        engine.dispose()


def test_event_time_migration_up_and_down_on_sqlite_keeps_flags(tmp_path):
    check_event_time_migration(f"sqlite:///{tmp_path / 'event_time.db'}")


def test_event_time_migration_up_and_down_on_postgres_keeps_flags(empty_database_url):
    check_event_time_migration(empty_database_url)
