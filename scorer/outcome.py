"""`OutcomeRecord`: the one declaration of an outcome, a user's actual D7 revenue.

An outcome arrives by POST /outcomes, on the `outcomes` stream or from a CSV; each of those reads
the fields declared here (`INPUT_FIELDS`), and the `outcomes` table (`adapters.outcomes`) holds
them plus when the outcome first arrived and when it was last corrected. A user has one
outcome: the same one again changes nothing, a different one replaces it and records when.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .schema import COLUMNS, TARGET

USER_ID_LENGTH = next(column.max_length for column in COLUMNS if column.name == "user_id")
"""Longest user id: the install record's own limit."""


class OutcomeRecord(BaseModel):
    """The actual D7 revenue of one user."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: Annotated[
        str, StringConstraints(min_length=1, max_length=USER_ID_LENGTH, pattern=r"\S")
    ] = Field(description="Anonymised user id: the one the predictions carry.")
    revenue: float = Field(
        ge=0, allow_inf_nan=False, description="Actual revenue of the user's first 7 days."
    )
    install_date: date | None = Field(
        None,
        description="Install date (YYYY-MM-DD): places the user in the report's cohorts. Left "
        "out, the date of the user's first prediction is used.",
    )


INPUT_FIELDS = tuple(OutcomeRecord.model_fields)
"""Fields of an outcome as it arrives (API body, stream entry, CSV columns), in order."""
REQUIRED_FIELDS = tuple(
    name for name, info in OutcomeRecord.model_fields.items() if info.is_required()
)
"""Fields every outcome must carry (a CSV without them is refused before any is sent)."""
KEY = "user_id"
"""A user has one outcome."""
ACTUAL = TARGET
"""The actual revenue's name: the training files' target column (`revenue`)."""


if ACTUAL not in INPUT_FIELDS:  # pragma: no cover - a contract check at import
    raise TypeError(f"OutcomeRecord must name its revenue {ACTUAL!r}")
