import numpy as np
import xgboost as xgb

from scorer.forest import FlatForest


def booster(depth, rounds, objective="reg:tweedie", seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    y = np.exp(x[:, 0] + 0.3 * x[:, 1]) * (rng.random(2000) > 0.3)
    params = {"objective": objective, "max_depth": depth, "eta": 0.1, "seed": seed, "nthread": 1}
    if objective == "reg:tweedie":
        params["base_score"] = 1.0
    return xgb.train(params, xgb.DMatrix(x, label=y), rounds), x


def test_margins_match_xgboost_bit_for_bit():
    for depth, rounds in [(1, 5), (3, 50), (6, 80)]:
        model, x = booster(depth, rounds)
        forest = FlatForest(model)
        expected = model.inplace_predict(x, predict_type="margin")
        mine = np.array([forest.margin_one(row) for row in x], dtype=np.float32)
        assert np.array_equal(mine, expected), (depth, rounds)


def test_predictions_match_the_trained_model_to_1e6():
    model, x = booster(5, 60, seed=3)
    forest = FlatForest(model)
    expected = model.predict(xgb.DMatrix(x))
    mine = np.exp([forest.margin_one(row) for row in x])
    np.testing.assert_allclose(mine, expected, rtol=1e-6)


def test_shallow_trees_are_padded_to_the_forest_depth():
    model, x = booster(4, 30, seed=5)
    forest = FlatForest(model)
    assert forest.depth <= 4
    assert forest.leaf.size == forest.trees * 2**forest.depth


def test_identity_link_models_start_from_their_base_score():
    model, x = booster(3, 20, objective="reg:squarederror")
    forest = FlatForest(model)
    expected = model.inplace_predict(x, predict_type="margin")
    assert np.array_equal(np.array([forest.margin_one(r) for r in x], dtype=np.float32), expected)
