"""The install-stage comparison: segment means, the two-part model and the table's shape."""

import numpy as np
import pandas as pd
import pytest

from scorer.analysis import install_stage
from scorer.analysis.install_stage import SegmentMeans, TwoPartInstall, compare_install


def test_segment_means_fall_back_to_the_country_then_the_median_country():
    frame = pd.DataFrame(
        {
            "country": ["es"] * 40 + ["fr"] * 35 + ["xx"],
            "platform": ["Android"] * 30 + ["iOS"] * 10 + ["Android"] * 36,
            "source": ["Organic"] * 76,
        }
    )
    revenue = np.r_[np.full(30, 1.0), np.full(10, 3.0), np.full(35, 2.0), 100.0]
    model = SegmentMeans.fit(frame, revenue)
    assert model.cells[("es", "android", "organic")] == 1.0
    assert ("es", "ios", "organic") not in model.cells  # 10 users: too few
    assert model.countries["es"] == pytest.approx(1.5)
    assert model.overall == pytest.approx(1.5)  # the median country, not the 100 of one user


def test_two_part_is_probability_times_revenue_of_the_exposed(synthetic, small_config):
    frame, revenue = synthetic
    model = TwoPartInstall.fit(frame, revenue, small_config)
    predicted = model.predict_batch(frame)["predicted_revenue"].to_numpy()
    assert (predicted > 0).all()
    assert predicted.sum() == pytest.approx(revenue.sum(), rel=0.25)


@pytest.mark.slow  # fits every install-stage model
def test_comparison_has_every_model_under_both_evaluations(synthetic, small_config, monkeypatch):
    frame, revenue = synthetic
    monkeypatch.setattr(install_stage, "MIN_SEGMENT_USERS", 10)
    table = compare_install(frame, revenue, [], small_config, repeats=1)
    assert len(table) == 6
    assert set(table.index.get_level_values("model")) == set(
        install_stage.install_models(small_config)
    )
    assert table.gini.between(-1, 1).all() and np.isfinite(table.segment_calibration_error).all()
