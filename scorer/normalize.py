"""Normalisation of the raw attribute values the data really contains.

Each rule is a scalar function, so the single-record path calls it directly and the batch path
applies the very same function to each distinct value of a column (`map_unique`): there is one
implementation, hence no training/serving skew.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
"""Category of a blank or unseen value."""

_BRAND_ALIASES = {"redmi": "xiaomi", "poco": "xiaomi", "honor": "huawei", "lge": "lg"}
_TABLET = re.compile(r"ipad|galaxy tab|\bsm-[tp]\d|\btab\b|\bpad\b|mediapad|tablet")
_VERSION = re.compile(r"^\s*(\d{1,3})(?:[._](\d{1,3}))?")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    text = str(value).strip().lower()
    return text or None


@lru_cache(maxsize=4096)
def _cached(kind: str, text: str | None) -> Any:
    return _RULES[kind](text)


def _country(text: str | None) -> str:
    return text if text else UNKNOWN


def _platform(text: str | None) -> str:
    return text if text in ("android", "ios") else UNKNOWN


def _source(text: str | None) -> str:
    if text in ("organic", "non-organic"):
        return text
    if text in ("non organic", "nonorganic", "non_organic", "paid"):
        return "non-organic"
    return UNKNOWN


def _brand(text: str | None) -> str:
    if not text:
        return UNKNOWN
    first = text.split()[0]
    return _BRAND_ALIASES.get(first, first)


def _tablet(text: str | None) -> float:
    return float(bool(text) and _TABLET.search(text) is not None)


def _os(text: str | None) -> tuple[float, float]:
    """(major version, major + minor / 100); (-1, -1) when unknown or unreadable."""
    match = _VERSION.match(text) if text else None
    if not match:
        return -1.0, -1.0
    major = float(match.group(1))
    minor = float(match.group(2)) if match.group(2) else 0.0
    return major, major + minor / 100.0


_RULES: dict[str, Callable[[str | None], Any]] = {
    "country": _country,
    "region": _country,
    "platform": _platform,
    "source": _source,
    "brand": _brand,
    "device": _country,
    "tablet": _tablet,
    "os": _os,
}


def normalize(kind: str, value: Any) -> Any:
    """Apply the rule `kind` (country, region, platform, source, brand, device, tablet, os)."""
    return _cached(kind, _text(value))


def map_unique(values: pd.Series, kind: str) -> pd.Series:
    """Apply `normalize(kind, .)` once per distinct value of a column."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = [normalize(kind, u) for u in uniques]
    missing = normalize(kind, None)
    table = np.empty(len(mapped) + 1, dtype=object)
    table[: len(mapped)] = mapped
    table[-1] = missing
    return pd.Series(table[codes], index=values.index)
