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

from .schema import COLUMNS, RECORD_COLUMNS, TARGET, TEXT_COLUMNS, text_value

REQUIRED_COLUMNS = tuple(name for name in TEXT_COLUMNS if name != "user_id")
"""Attribute columns every file must have (values may be blank); event columns are optional."""
MAX_REPORTED_ROWS = 5


class DataError(ValueError):
    """A file or frame does not follow the install-record contract."""


def _lines(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r) + 2) for r in rows[:MAX_REPORTED_ROWS])
    more = f" and {len(rows) - MAX_REPORTED_ROWS} more" if len(rows) > MAX_REPORTED_ROWS else ""
    return f"line(s) {shown}{more}"


def _count_column(values: pd.Series, name: str) -> np.ndarray:
    """Numbers >= 0, finite, or blank (NaN); anything else is a `DataError`."""
    if values.dtype == bool:
        raise DataError(f"column '{name}' must hold numbers, found booleans")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        table = np.empty(len(uniques) + 1)
        for position, raw in enumerate(uniques):
            table[position] = _parse_count(raw, name, np.flatnonzero(codes == position))
        table[-1] = np.nan
        numbers = table[codes]
    bad = np.flatnonzero(np.isinf(numbers))
    if len(bad):
        raise DataError(f"column '{name}' must be finite, found {numbers[bad[0]]} at {_lines(bad)}")
    bad = np.flatnonzero(numbers < 0)
    if len(bad):
        raise DataError(f"column '{name}' must be >= 0, found {numbers[bad[0]]} at {_lines(bad)}")
    return numbers


def _parse_count(raw, name: str, rows: np.ndarray) -> float:
    if isinstance(raw, bool):
        raise DataError(f"column '{name}' must hold numbers, found {raw!r} at {_lines(rows)}")
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw:
            return np.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise DataError(
            f"column '{name}' must hold numbers, found {raw!r} at {_lines(rows)}"
        ) from None


def _text_column(values: pd.Series, name: str, max_length: int) -> np.ndarray:
    """Strings, stripped, blank = None, at most `max_length` characters."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    for position, raw in enumerate(uniques):
        text = text_value(raw)
        text = None if text is None else str(text)
        if text is not None and len(text) > max_length:
            rows = np.flatnonzero(codes == position)
            raise DataError(
                f"column '{name}' allows at most {max_length} characters, see {_lines(rows)}"
            )
        table[position] = text
    table[-1] = None
    return table[codes]


def validate_frame(
    frame: pd.DataFrame | Mapping[str, Sequence], require_target: bool = False
) -> pd.DataFrame:
    """Check a frame of install records and return it with clean dtypes, in contract order.

    Text columns come back as Python strings or None, count columns as float64 with NaN for
    unknown. Missing event columns are allowed (install stage) and come back all-NaN. With
    `require_target` the revenue column is required, validated like a count and kept; without
    it, a revenue column is dropped unread.
    """
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
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
            empty = np.full(len(frame), None if column.kind == "text" else np.nan, dtype=object)
            out[column.name] = empty if column.kind == "text" else empty.astype(float)
        elif column.kind == "text":
            out[column.name] = _text_column(frame[column.name], column.name, column.max_length)
        else:
            out[column.name] = _count_column(frame[column.name], column.name)
    if require_target:  # otherwise a revenue column is ignored, as prediction inputs may carry one
        target = _count_column(frame[TARGET], TARGET)
        if require_target and np.isnan(target).any():
            raise DataError(
                f"column '{TARGET}' has blanks at {_lines(np.flatnonzero(np.isnan(target)))}"
            )
        out[TARGET] = target
    result = pd.DataFrame(
        {
            name: pd.Series(values, index=frame.index, dtype=values.dtype, copy=False)
            for name, values in out.items()
        },
    )
    if require_target:
        _check_unique_users(result["user_id"].to_numpy())
    return result


def _check_unique_users(user_ids: np.ndarray) -> None:
    known = pd.Series(user_ids).dropna()
    duplicated = known[known.duplicated()]
    if len(duplicated):
        raise DataError(
            f"column 'user_id' must be unique, {duplicated.iloc[0]!r} repeats at "
            f"{_lines(duplicated.index.to_numpy())}"
        )


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
