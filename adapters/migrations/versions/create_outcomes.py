"""Create the outcomes table (each user's actual D7 revenue, keyed by user) and the
outcome_matches table (each outcome with its user's newest prediction of each stage, which it
names by the prediction's idempotency key: event id and event time).

Revision ID: create_outcomes
Revises: predictions_by_event_time
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scorer.prediction import names_of

PREDICTION_NUMBERS = names_of(float)
"""The prediction and its bounds (predicted revenue, lower, upper), as the declaration names them."""

revision = "create_outcomes"
down_revision = "predictions_by_event_time"
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
    op.create_table(
        "outcome_matches",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("install_date", sa.Date(), nullable=False),
        sa.Column("revenue", sa.Double(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=True),
        *[sa.Column(name, sa.Double(), nullable=True) for name in PREDICTION_NUMBERS],
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("platform", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_outcome_matches_user_id_stage", "outcome_matches", ["user_id", "stage"], unique=True
    )
    op.create_index("ix_outcome_matches_install_date", "outcome_matches", ["install_date"])


def downgrade() -> None:
    op.drop_index("ix_outcome_matches_install_date", table_name="outcome_matches")
    op.drop_index("ix_outcome_matches_user_id_stage", table_name="outcome_matches")
    op.drop_table("outcome_matches")
    op.drop_index("ix_outcomes_install_date", table_name="outcomes")
    op.drop_table("outcomes")
