import numpy as np
import pandas as pd
import pytest

from scorer.priors import LogRateTable


def fitted(k=1.0):
    keys = pd.DataFrame(
        {"country": ["a"] * 50 + ["b"] * 50 + ["c"] * 2, "platform": ["x", "y"] * 51}
    )
    revenue = np.r_[np.full(50, 2.0), np.full(50, 4.0), [1000.0, 1000.0]]
    return keys, LogRateTable.fit(keys, revenue, np.ones(102), ("country", "platform"), k)


def test_groups_speak_for_themselves_when_well_populated():
    _, table = fitted(k=1.0)
    assert np.exp(table.lookup_one(["a", "x"])) == pytest.approx(2.0, rel=0.05)
    assert np.exp(table.lookup_one(["b", "y"])) == pytest.approx(4.0, rel=0.05)


def test_an_extreme_small_group_does_not_move_the_top():
    _, table = fitted()
    assert 2.0 <= np.exp(table.top) <= 4.0


def test_unseen_values_fall_back_to_parent_then_top():
    _, table = fitted()
    assert table.lookup_one(["a", "never"]) == table.table["a"]
    assert table.lookup_one(["nowhere", "x"]) == table.top


def test_the_table_survives_a_round_trip():
    keys, table = fitted(k=5.0)
    probe = pd.concat([keys, pd.DataFrame({"country": ["zz", "a"], "platform": ["x", "q"]})])
    again = LogRateTable.from_dict(table.to_dict())
    for row in probe.itertuples(index=False):
        assert again.lookup_one(row) == table.lookup_one(row)
