"""The `predictions` table: one row per prediction, from the API, the stream or a batch job.

Its columns are the ROW view of `scorer.prediction.Prediction`; the frozen migrations (0001 made
the table, 0002 added the flags, predictions_by_event_time partitioned it by event time) made
the same table (tests/adapters/test_prediction_views.py compares them).

Types have SQLite variants (JSON for JSONB, INTEGER primary key) so the same metadata serves
Postgres in production and SQLite in the embedded mode and the unit tests. On Postgres the
table is partitioned by RANGE of the event time, a partition a day (adapters/partitions.py),
so its primary key is (id, event time) there; SQLite keeps a plain table keyed by id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from scorer.prediction import EVENT_TIME, KEY, DeclaredField, View, view_fields

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

COLUMN_TYPES = {
    str: Text,
    float: Double,
    dict: JSON().with_variant(JSONB, "postgresql"),
    list: JSON().with_variant(JSONB, "postgresql"),
    datetime: DateTime(timezone=True),
}
"""The column type of each kind of prediction value."""


def _column(info: DeclaredField) -> Column:
    return Column(
        info.name,
        COLUMN_TYPES[info.type],
        nullable=info.nullable(View.ROW),
        server_default=func.now() if info.spec.defaults_to_now else None,
    )


predictions = Table(
    "predictions",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        Identity(),
        primary_key=True,
    ),
    *[_column(info) for info in view_fields(View.ROW)],
    UniqueConstraint(KEY, EVENT_TIME),
    postgresql_partition_by=f"RANGE ({EVENT_TIME})",
)
Index(
    "ix_predictions_user_id_event_time",
    predictions.c.user_id,
    predictions.c[EVENT_TIME].desc(),
)
Index("ix_predictions_created_at", predictions.c.created_at)

IDEMPOTENCY_KEY = (KEY, EVENT_TIME)
"""A prediction with a known (event id, event time) is stored once: the event time is stable
across redeliveries, and a unique key of a partitioned table must hold its partition key."""

ROW_COLUMNS = tuple(str(column.name) for column in predictions.columns if column.name != "id")
"""Columns a caller provides when saving a prediction (created_at may be left out); plain str,
so rows keyed by them serialise with orjson."""
