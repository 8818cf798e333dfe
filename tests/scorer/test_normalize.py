import pandas as pd
import pytest

from scorer.normalize import UNKNOWN, map_unique, normalize


@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("platform", "iOS", "ios"),
        ("platform", " android ", "android"),
        ("platform", "Windows", UNKNOWN),
        ("platform", None, UNKNOWN),
        ("source", "Non-Organic", "non-organic"),
        ("source", "", UNKNOWN),
        ("country", "ES", "es"),
        ("brand", "Redmi Xiaomi Redmi Note 9 Pro", "xiaomi"),
        ("brand", "samsung samsung SM-A217F", "samsung"),
        ("tablet", "Apple iPad7,11", 1.0),
        ("tablet", "samsung samsung SM-T500", 1.0),
        ("tablet", "Samsung Galaxy Phone", 0.0),
        ("os", "14.4", (14.0, 14.04)),
        ("os", "8.0.0", (8.0, 8.0)),
        ("os", "10", (10.0, 10.0)),
        ("os", "beta", (-1.0, -1.0)),
        ("os", None, (-1.0, -1.0)),
    ],
)
def test_rules(kind, raw, expected):
    assert normalize(kind, raw) == expected


def test_map_unique_applies_the_scalar_rule_to_every_row():
    raw = pd.Series(["iOS", "ios", None, "Android", float("nan"), "Linux"])
    assert map_unique(raw, "platform").tolist() == [normalize("platform", v) for v in raw]
