"""The `predictions` table: one row per prediction, from the API, the stream or a batch job.

Types have SQLite variants (JSON for JSONB, INTEGER primary key) so the same metadata serves
Postgres in production and SQLite in the embedded mode and the unit tests.
"""

from __future__ import annotations

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
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
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
    Column("event_id", Text, nullable=False, unique=True),
    Column("user_id", Text, nullable=True),
    Column("source", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("input", JSON().with_variant(JSONB, "postgresql"), nullable=False),
    Column("predicted_revenue", Double, nullable=False),
    Column("lower", Double, nullable=False),
    Column("upper", Double, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_predictions_user_id_created_at", predictions.c.user_id, predictions.c.created_at.desc())
Index("ix_predictions_created_at", predictions.c.created_at)

ROW_COLUMNS = tuple(str(column.name) for column in predictions.columns if column.name != "id")
"""Columns a caller provides when saving a prediction (created_at may be left out); plain str,
so rows keyed by them serialise with orjson."""
