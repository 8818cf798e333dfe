"""Create the outcomes table: each user's actual D7 revenue, keyed by user.

Revision ID: create_outcomes
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "create_outcomes"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("revenue", sa.Double(), nullable=False),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_outcomes"),
    )
    op.create_index("ix_outcomes_install_date", "outcomes", ["install_date"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_install_date", table_name="outcomes")
    op.drop_table("outcomes")
