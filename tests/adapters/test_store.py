from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy

from adapters.cache import cache_value
from adapters.store import PredictionStore, make_engine

DATABASES = ["sqlite_url", pytest.param("database_url", marks=pytest.mark.integration)]


def row(event_id, user_id="u1", minutes=0, revenue=1.0, source="stream", event_minutes=None):
    """A row made `minutes` after 2025-01-01, for an event `event_minutes` after it (default:
    the same)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    event_minutes = minutes if event_minutes is None else event_minutes
    return {
        "event_id": event_id,
        "user_id": user_id,
        "source": source,
        "stage": "install",
        "input": {"country": "US", "event_1": None},
        "predicted_revenue": revenue,
        "lower": 0.0,
        "upper": 2.0,
        "model_version": "v1",
        "created_at": start + timedelta(minutes=minutes),
        "flags": ["unseen_region"],
        "event_time": start + timedelta(minutes=event_minutes),
    }


@pytest.fixture(params=DATABASES)
def store(request):
    engine = make_engine(request.getfixturevalue(request.param))
    yield PredictionStore(engine)
    engine.dispose()


def test_save_many_inserts_and_is_idempotent_on_event_id_and_time(store):
    assert store.save_many([row("a"), row("b"), row("c")]) == 3
    rescored = row("b", minutes=7, event_minutes=0)  # a redelivery, scored again later
    assert store.save_many([rescored, row("c"), row("d")]) == 1
    assert store.save_many([]) == 0
    assert store.count() == 4


def test_latest_is_the_newest_event_not_the_last_scored(store):
    """The issue's example: the early-events prediction (event 10:00) was stored first, the
    install-only one (event 09:00) scored later; the newest event still wins."""
    store.save_many([row("early", minutes=0, event_minutes=600, revenue=7.0)])
    store.save_many([row("install", minutes=5, event_minutes=540, revenue=1.0)])
    assert store.latest_for_user("u1")["event_id"] == "early"
    assert store.latest_for_users(["u1"])[0]["event_id"] == "early"
    found = store.latest_for_user("u1")["event_time"]
    assert found == datetime(2025, 1, 1, 10, tzinfo=UTC)


def test_equal_event_times_are_ordered_by_event_id(store):
    store.save_many([row("B", minutes=3), row("a", minutes=3), row("C", minutes=1)])
    assert store.latest_for_user("u1")["event_id"] == "a"  # byte order: "a" > "B"
    assert store.latest_for_users(["u1"])[0]["event_id"] == "a"


def test_duplicates_inside_one_call_make_one_row(store):
    assert store.save_many([row("a", revenue=1.0), row("a", revenue=9.0)]) == 1
    assert store.latest_for_user("u1")["predicted_revenue"] == 1.0


def test_latest_for_user_is_the_most_recent_row(store):
    store.save_many([row("a", minutes=5, revenue=5.0), row("b", minutes=9, revenue=9.0)])
    store.save_many([row("c", minutes=1, revenue=1.0), row("d", user_id="u2")])
    latest = store.latest_for_user("u1")
    assert latest["event_id"] == "b" and latest["predicted_revenue"] == 9.0
    assert latest["input"] == {"country": "US", "event_1": None}
    assert latest["created_at"] == datetime(2025, 1, 1, 0, 9, tzinfo=UTC)
    assert cache_value(latest)["scored_at"] == "2025-01-01T00:09:00+00:00"
    assert store.latest_for_user("nobody") is None


def test_created_at_defaults_to_now_and_user_id_may_be_null(store):
    fresh = row("a", user_id=None)
    del fresh["created_at"]
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert store.save_many([fresh]) == 1
    assert store.count(user_id=None) == 1
    assert store.count(source="stream") == 1
    with store.engine.connect() as connection:
        created = connection.execute(sqlalchemy.text("SELECT created_at FROM predictions")).scalar()
    if isinstance(created, str):  # SQLite
        created = datetime.fromisoformat(created)
    assert created.replace(tzinfo=created.tzinfo or UTC) >= before


def test_save_many_is_one_statement(store):
    statements = []
    sqlalchemy.event.listen(
        store.engine, "before_cursor_execute", lambda *args, **kwargs: statements.append(args[2])
    )
    store.save_many(row(str(i)) for i in range(300))
    assert len(statements) == 1
    assert store.count() == 300


def test_rows_read_back_as_written(store):
    """Quoting of every column type on the Postgres path: text with quotes and percent signs,
    unicode, JSON input, numbers, timestamps."""
    odd = row("e'1%s", user_id="ü'%(x)s")
    odd["input"] = {"country": "O'Neil %s", "event_1": 2.5, "nested": [1, None]}
    odd["lower"] = 0.1 + 0.2
    assert store.insert_new([odd]) == ["e'1%s"]
    found = store.latest_for_user("ü'%(x)s")
    assert found["input"] == odd["input"]
    assert found["created_at"] == odd["created_at"]
    assert (found["predicted_revenue"], found["lower"], found["upper"]) == (1.0, 0.1 + 0.2, 2.0)


def test_save_many_joins_a_caller_transaction_that_rolls_back(store):
    with pytest.raises(RuntimeError), store.engine.begin() as connection:
        assert store.save_many([row("a")], connection=connection) == 1
        raise RuntimeError("abort")
    assert store.count() == 0


def test_insert_new_returns_only_the_new_event_ids(store):
    assert sorted(store.insert_new([row("a"), row("b")])) == ["a", "b"]
    assert store.insert_new([row("b"), row("c")]) == ["c"]


def test_latest_for_users_matches_latest_for_user(store):
    store.save_many(
        [
            row("a", "u1", minutes=1),
            row("b", "u1", minutes=3),
            row("c", "u2", minutes=2),
            row("d", None, minutes=9),
        ]
    )
    latest = {found["user_id"]: found for found in store.latest_for_users(["u1", "u2", "u3"])}
    assert set(latest) == {"u1", "u2"}
    assert latest["u1"] == store.latest_for_user("u1")
    assert latest["u2"]["event_id"] == "c"
    assert store.latest_for_users([]) == []


def test_check_passes_on_a_migrated_database_and_fails_without_the_table(store, tmp_path):
    store.check()
    empty = PredictionStore(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(sqlalchemy.exc.OperationalError):
        empty.check()
    empty.engine.dispose()


def test_postgres_keeps_non_finite_bounds_and_big_integers(database_url):
    """JSON has no NaN or Infinity and orjson stops at 64-bit integers: both still insert."""
    engine = make_engine(database_url)
    store = PredictionStore(engine)
    odd = row("a")
    odd["lower"], odd["upper"] = float("nan"), float("inf")
    odd["input"] = {"event_1": 2**70}
    assert sorted(store.insert_new([odd, row("b")])) == ["a", "b"]
    with engine.connect() as connection:
        lower, upper, event_1 = connection.execute(
            sqlalchemy.text(
                "SELECT lower, upper, (input->>'event_1')::numeric FROM predictions"
                " WHERE event_id = 'a'"
            )
        ).one()
    engine.dispose()
    assert lower != lower and upper == float("inf") and int(event_1) == 2**70
