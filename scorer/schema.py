"""The data contract: one definition of an install record, used by training, the CLI, the API and
the worker.

`COLUMNS` is the single source of truth; the pydantic model `InstallRecord` (one record, for the
API and the stream) and `validate_frame` (a whole CSV, vectorised, in `scorer.data`) are both
derived from it, so a record that passes one passes the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    create_model,
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "text" or "count"
    max_length: int = 0
    description: str = ""


EVENT_WINDOW_DAYS = 7
"""Event counts must cover the user's first this many days after install: the window the revenue
(the target) covers. Counts over fewer days make the early-events stage under-predict."""
_WINDOW = f"over the user's first {EVENT_WINDOW_DAYS} days after install"

COLUMNS: tuple[Column, ...] = (
    Column("user_id", "text", 64, "Anonymised user id; optional for /predict."),
    Column("country", "text", 64, "ISO-3166 alpha-2 country code, any casing."),
    Column("country_region", "text", 128, "Region or province."),
    Column("source", "text", 64, "Acquisition source: Organic or Non-Organic."),
    Column("platform", "text", 32, "Android or iOS, any casing."),
    Column("device_family", "text", 128, "Device model family."),
    Column("os_version", "text", 32, "OS version such as 10, 14.4 or 8.0.0."),
    Column("event_1", "count", 0, f"Count of in-game event 1 {_WINDOW} (absent at install)."),
    Column("event_2", "count", 0, f"Count of in-game event 2 {_WINDOW} (absent at install)."),
    Column("event_3", "count", 0, f"Count of in-game event 3 {_WINDOW} (may be unknown)."),
)
"""Every column of an install record, in the order of the data file."""

MAX_COUNT = 1_000_000
"""Largest event count accepted: far above any real week of play (the data's largest is under
5,000), and small enough that every feature stays exact in float32."""
TEXT_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "text")
COUNT_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "count")
RECORD_COLUMNS = tuple(c.name for c in COLUMNS)
FEATURE_TEXT_COLUMNS = tuple(name for name in TEXT_COLUMNS if name != "user_id")
TARGET = "revenue"
"""Name of the target column in training files: D7 revenue."""

STAGE_INSTALL = "install"
STAGE_EVENTS = "early_events"
STAGES = (STAGE_INSTALL, STAGE_EVENTS)
"""`install`: attributes only; `early_events`: event counts known (event_2 present)."""


def text_value(value: Any) -> Any:
    """Empty strings mean unknown, as in the data file; numbers given for text become text
    (14.4 -> "14.4", 10.0 -> "10"). Anything else is returned as is, for the type check."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return value  # rejected by the str type below
    if isinstance(value, int | float) and math.isfinite(value):
        return format(value, "g")
    return value


def _count(value: Any) -> Any:
    """Counts accept numbers and numeric strings (stream fields are strings); blank is unknown."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _check_count(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must be >= 0")
    if value > MAX_COUNT:
        raise ValueError(f"must be <= {MAX_COUNT:,} (events in {EVENT_WINDOW_DAYS} days)")
    return value


NUMERIC_TEXT = r"^\s*([0-9]{1,6}(\.[0-9]*)?|\.[0-9]+)\s*$|^\s*$"
"""Numeric strings a count is documented to accept (stream fields are strings; blank means
unknown). Every string it matches is valid; the parser is more lenient (exponents, 1000000)."""


def _field(column: Column) -> tuple[Any, Any]:
    """The pydantic type of one column; its JSON schema shows every input it accepts."""
    if column.kind == "text":
        schema = {
            "anyOf": [
                {"type": "string", "maxLength": column.max_length},
                {"type": "number"},
                {"type": "null"},
            ],
            "description": column.description,
        }
        text = Annotated[
            Annotated[str, StringConstraints(max_length=column.max_length)] | None,
            BeforeValidator(text_value),
            WithJsonSchema(schema, mode="validation"),
        ]
        return text, None
    schema = {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": MAX_COUNT},
            {"type": "string", "pattern": NUMERIC_TEXT},
            {"type": "null"},
        ],
        "description": column.description,
    }
    count = Annotated[
        float | None,
        BeforeValidator(_count),
        AfterValidator(_check_count),
        WithJsonSchema(schema, mode="validation"),
    ]
    return count, None


class _RecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @property
    def stage(self) -> str:
        return STAGE_EVENTS if self.event_2 is not None else STAGE_INSTALL


InstallRecord: type[_RecordBase] = create_model(
    "InstallRecord",
    __base__=_RecordBase,
    __doc__="One install record: attributes known at install, event counts when known.",
    **{column.name: _field(column) for column in COLUMNS},
)
