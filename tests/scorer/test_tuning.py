import pandas as pd
import pytest

from scorer.tuning import EVENTS_TARGETS, choose, target_margins


def events_row(name, depth, **metrics):
    row = {"stage": "early_events", "param_max_depth": depth, "name": name}
    for column in EVENTS_TARGETS:
        row[column] = 1.0 if column.endswith("total_ratio") else 0.999 if "gini" in column else 0.0
    row.update(all_r2=0.995, excl_anomalous_spearman=0.999)
    row.update(metrics)
    return row


def table():
    return pd.DataFrame(
        [
            # a: best decile MAPE, but MAE close to its target of 3
            events_row("a", 4, all_mae=2.9, excl_anomalous_decile_mape=0.001),
            # b: a little worse on decile MAPE, far better on MAE: its worst margin is larger
            events_row("b", 6, all_mae=1.5, excl_anomalous_decile_mape=0.01),
            # c: the same as b, smaller: wins the tie
            events_row("c", 4, all_mae=1.5, excl_anomalous_decile_mape=0.01),
            {"stage": "install", "excl_anomalous_gini": 0.30, "param_max_depth": 3, "name": "i1"},
            {"stage": "install", "excl_anomalous_gini": 0.31, "param_max_depth": 4, "name": "i2"},
        ]
    )


def test_margins_are_shares_of_the_allowed_range():
    margins = target_margins(table().iloc[:1])
    assert margins["all_mae"].iloc[0] == pytest.approx(0.1 / 3.0)
    assert margins["excl_anomalous_total_ratio"].iloc[0] == 1.0  # exactly 1 is the best


def test_events_winner_has_the_largest_smallest_margin_and_ties_go_to_the_smaller_model():
    assert choose(table(), "early_events")["name"] == "c"


def test_install_winner_has_the_highest_gini_outside_anomalies():
    assert choose(table(), "install")["name"] == "i2"
