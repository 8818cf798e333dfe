import numpy as np
import pytest

from scorer.evaluate import cross_validate
from scorer.train import fit_predictor

pytestmark = pytest.mark.slow  # trains models


def test_training_is_deterministic(synthetic, small_config):
    frame, revenue = synthetic
    first = fit_predictor(frame, revenue, small_config, threads=1).predict_batch(frame)
    second = fit_predictor(frame, revenue, small_config, threads=1).predict_batch(frame)
    assert first.equals(second)


def test_a_small_model_learns_the_synthetic_structure(synthetic, small_config):
    frame, revenue = synthetic
    cv = cross_validate(
        frame,
        revenue,
        lambda f, r: fit_predictor(f, r, small_config, threads=1),
        repeats=1,
        progress=False,
    )
    summary = cv.summary()
    events = summary["early_events"]["all"]
    install = summary["install"]["all"]
    assert events["spearman"]["mean"] > 0.95
    assert abs(events["total_ratio"]["mean"] - 1) < 0.1
    assert 0.6 < events["coverage_80"]["mean"] < 0.95
    assert install["gini"]["mean"] < events["gini"]["mean"]
    assert len(cv.folds) == 5 * 2 * 2  # folds x stages x subsets
    assert np.isfinite(cv.oof.to_numpy()).all()
