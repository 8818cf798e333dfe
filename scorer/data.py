"""Reading and validating install-record files, vectorised, against the contract in `schema`.

A file that breaks the contract fails with a `DataError` naming the column and the first bad rows
(as 1-based line numbers of the CSV, header = line 1), so a user can open the file and look.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import COLUMNS, COUNT_COLUMNS, RECORD_COLUMNS, TARGET, TEXT_COLUMNS

REQUIRED_COLUMNS = tuple(name for name in TEXT_COLUMNS if name != "user_id")
"""Attribute columns every file must have (values may be blank); event columns are optional."""
MAX_REPORTED_ROWS = 5


class DataError(ValueError):
    """A file or frame does not follow the install-record contract."""


def _lines(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r) + 2) for r in rows[:MAX_REPORTED_ROWS])
    more = f" and {len(rows) - MAX_REPORTED_ROWS} more" if len(rows) > MAX_REPORTED_ROWS else ""
    return f"line(s) {shown}{more}"


def _count_column(values: pd.Series, name: str) -> pd.Series:
    """Numbers >= 0, finite, or blank; anything else is a `DataError`."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        stripped = values.astype("string").str.strip().replace("", pd.NA)
        numbers = pd.to_numeric(stripped, errors="coerce")
        bad = np.flatnonzero((stripped.notna() & numbers.isna()).to_numpy())
        if len(bad):
            raise DataError(
                f"column '{name}' must hold numbers, found {stripped.iloc[bad[0]]!r} at {_lines(bad)}"
            )
        values = numbers
    if values.dtype == bool:
        raise DataError(f"column '{name}' must hold numbers, found booleans")
    values = values.astype(float)
    bad = np.flatnonzero(~np.isfinite(values.fillna(0.0).to_numpy()))
    if len(bad):
        raise DataError(
            f"column '{name}' must be finite, found {values.iloc[bad[0]]} at {_lines(bad)}"
        )
    bad = np.flatnonzero((values < 0).to_numpy())
    if len(bad):
        raise DataError(
            f"column '{name}' must be >= 0, found {values.iloc[bad[0]]} at {_lines(bad)}"
        )
    return values


def _text_column(values: pd.Series, name: str, max_length: int) -> pd.Series:
    """Strings, stripped, blank = missing, at most `max_length` characters."""
    text = values.astype("string").str.strip().replace("", pd.NA)
    bad = np.flatnonzero((text.str.len() > max_length).fillna(False).to_numpy())
    if len(bad):
        raise DataError(
            f"column '{name}' allows at most {max_length} characters, see {_lines(bad)}"
        )
    return text.astype(object).where(text.notna(), None)


def validate_frame(
    frame: pd.DataFrame | Mapping[str, Sequence], require_target: bool = False
) -> pd.DataFrame:
    """Check a frame of install records and return it with clean dtypes, in contract order.

    Text columns come back as Python strings or None, count columns as float64 with NaN for
    unknown. Missing event columns are allowed (install stage) and come back all-NaN; a target
    column, if present, is validated like a count and kept.
    """
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    frame = frame.reset_index(drop=True)
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if require_target and TARGET not in frame.columns:
        missing.append(TARGET)
    if missing:
        raise DataError(
            f"missing column(s): {', '.join(missing)}; expected {', '.join(RECORD_COLUMNS)}"
        )
    out = {}
    for column in COLUMNS:
        if column.name not in frame.columns:
            out[column.name] = (
                pd.Series([None] * len(frame), dtype=object)
                if column.kind == "text"
                else pd.Series(np.nan, index=frame.index, dtype=float)
            )
        elif column.kind == "text":
            out[column.name] = _text_column(frame[column.name], column.name, column.max_length)
        else:
            out[column.name] = _count_column(frame[column.name], column.name)
    if TARGET in frame.columns:
        target = _count_column(frame[TARGET], TARGET)
        if require_target and target.isna().any():
            raise DataError(
                f"column '{TARGET}' has blanks at {_lines(np.flatnonzero(target.isna()))}"
            )
        out[TARGET] = target
    result = pd.DataFrame(out)
    ids = result["user_id"].dropna()
    duplicated = ids[ids.duplicated()]
    if require_target and len(duplicated):
        raise DataError(
            f"column 'user_id' must be unique, {duplicated.iloc[0]!r} repeats at "
            f"{_lines(duplicated.index.to_numpy())}"
        )
    return result


def read_records(path: str | Path, require_target: bool = False) -> pd.DataFrame:
    """Read a CSV of install records (a training file when `require_target`) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, dtype={name: "string" for name in TEXT_COLUMNS})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from None
    try:
        return validate_frame(frame, require_target=require_target)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


COUNT_DTYPES = {name: float for name in COUNT_COLUMNS}
