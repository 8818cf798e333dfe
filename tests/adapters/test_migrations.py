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
EXPECTED_COLUMNS = FIRST_COLUMNS | {"flags"}


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
    assert indexes["ix_predictions_user_id_created_at"][0] == "user_id"
    assert [constraint["column_names"] for constraint in unique] == [["event_id"]]
    if not outcomes:
        assert "outcomes" not in tables
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
            "model_version", "country", "platform", "source", "event_id"} <= match_columns  # fmt: skip
    return columns


def inspector_columns(url, table):
    engine = sqlalchemy.create_engine(url)
    try:
        return sqlalchemy.inspect(engine).get_columns(table)
    finally:
        engine.dispose()


def test_the_head_creates_the_outcomes_table_after_the_predictions():
    assert HEAD == "create_outcomes"
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert [revision.revision for revision in script.walk_revisions()] == [
        "create_outcomes", "0002", "0001"
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


def _insert_at_first_revision(engine, event_id: str) -> None:
    """A row as a writer of revision 0001 made it (no flags)."""
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO predictions (event_id, user_id, source, stage, input,"
                " predicted_revenue, lower, upper, model_version)"
                " VALUES (:event_id, 'u1', 'stream', 'install', :input, 1.5, 0.5, 3.0, 'v1')"
            ),
            {"event_id": event_id, "input": json.dumps({"country": "pe"})},
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
        upgrade_database(url)
        assert current_revision(url) == HEAD
        check_schema(url)
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
