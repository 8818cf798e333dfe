import pandas as pd

from scorer.tuning import EVENTS_CRITERIA, choose


def table():
    rows = []
    for name, mae, gini in (("a", 2.0, 0.999), ("b", 3.0, 0.990), ("c", 2.0, 0.999)):
        row = {"stage": "early_events", "param_max_depth": {"a": 6, "b": 4, "c": 4}[name],
               "param_rounds": 200, "name": name}
        for metric, (subset, higher) in EVENTS_CRITERIA.items():
            row[f"{subset}_{metric}"] = {"mae": mae, "gini": gini}.get(metric, 1.0 if higher is None else 0.5)
        rows.append(row)
    rows.append({"stage": "install", "excl_anomalous_gini": 0.30, "param_max_depth": 3, "name": "i1"})
    rows.append({"stage": "install", "excl_anomalous_gini": 0.31, "param_max_depth": 4, "name": "i2"})
    return pd.DataFrame(rows)


def test_events_winner_has_the_best_mean_rank_and_ties_go_to_the_smaller_model():
    assert choose(table(), "early_events")["name"] == "c"


def test_install_winner_has_the_highest_gini_outside_anomalies():
    assert choose(table(), "install")["name"] == "i2"
