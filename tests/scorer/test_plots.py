"""Every figure of the notebook has a title and labelled axes, and nothing leaks into pyplot."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from scorer.analysis import explore, model_plots, plots
from scorer.analysis.business import roas_simulation
from scorer.analysis.diagnostics import coverage_by_segment, normalised_segments


def figures(frame, revenue):
    anomalous = (frame.country == "us").to_numpy()
    platform = normalised_segments(frame)["platform"].to_numpy()
    predicted = revenue * 1.1 + 0.001
    pairs = {"a": (revenue, predicted), "b": (revenue, predicted[::-1])}
    segments = {"platform": explore.segment_revenue(frame, revenue, "platform")}
    coverage = {
        "platform": coverage_by_segment(frame, revenue, revenue * 0.5, revenue * 2, "platform")
    }
    table = pd.DataFrame({"mae": [1.0, 2.0], "gini": [0.5, 0.9]}, index=["x", "y"])
    importance = pd.DataFrame({"mean |log contribution|": [0.5, 0.1]}, index=["f1", "f2"])
    simulation = roas_simulation(revenue, {"m": predicted}, [0.01, 0.05])
    return {
        "revenue_distribution": plots.revenue_distribution(revenue, anomalous, "us"),
        "lorenz": plots.lorenz_curves({"all": revenue}),
        "events": plots.revenue_vs_events(frame, revenue, platform, anomalous, "us"),
        "rates": plots.rate_by_group(explore.user_rates(frame, revenue), ["es", "fr"]),
        "segments": plots.segment_bars(segments, "mean_revenue", "mean revenue", "by segment"),
        "comparison": plots.comparison_bars(
            table, {"mae": ("MAE", True), "gini": ("Gini", False)}, "models", highlight="x"
        ),
        "calibration": model_plots.calibration_deciles(pairs, "calibration"),
        "gain": model_plots.gain_curves(pairs, "gain"),
        "residuals": model_plots.residuals(revenue, predicted, "residuals"),
        "coverage": model_plots.coverage_bars(coverage, 0.8, "coverage"),
        "importance": model_plots.importance_bars({"stage": importance}, "importance"),
        "dependence": model_plots.dependence(
            frame.event_2,
            pd.Series(np.log1p(frame.event_2)),
            frame.event_1.rename("event_1"),
            "dep",
        ),
        "roas": model_plots.roas_chart(simulation, "roas"),
    }


@pytest.fixture(scope="module")
def made(synthetic):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    made = figures(*synthetic)
    assert plt.get_fignums() == before
    return made


NAMES = (
    "revenue_distribution",
    "lorenz",
    "events",
    "rates",
    "segments",
    "comparison",
    "calibration",
    "gain",
    "residuals",
    "coverage",
    "importance",
    "dependence",
    "roas",
)


def test_every_figure_is_tested(made):
    assert set(made) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_figure_is_titled_and_labelled(made, name):
    figure = made[name]
    assert isinstance(figure, Figure)
    axes = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.get_title() or figure.get_suptitle(), name
        assert ax.get_xlabel(), name
    assert axes[0].get_ylabel(), name
