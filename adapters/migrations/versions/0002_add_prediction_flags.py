"""Add the predictions' anomaly flags (a JSON list of codes; existing rows get an empty list).

The column keeps its empty-list default, so a writer of revision 0001 still running during a
rolling deploy goes on inserting rows (without flags) instead of failing.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(
            sa.Column(
                "flags",
                sa.JSON().with_variant(JSONB, "postgresql"),
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("flags")
