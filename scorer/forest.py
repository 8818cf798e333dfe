"""A flattened copy of an XGBoost forest for scoring one row in a few microseconds.

XGBoost's own single-row prediction costs about 200 microseconds of call overhead; here every
tree is padded to a complete binary tree of the forest's depth and stored in flat numpy arrays, so
one row walks all trees at once, level by level, in a handful of vectorised steps. Leaves are
summed in float32 in tree order, as XGBoost sums them, so the margin matches XGBoost's bit for
bit (the tests check it). Rows must hold no NaN: the feature pipeline never produces one, so the
default direction of missing values is never needed.
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

LOG_LINK = {"reg:tweedie", "count:poisson", "reg:gamma"}
IDENTITY_LINK = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"}


def _base_margin(learner: dict) -> np.float32:
    """The starting margin XGBoost adds before the trees, from `base_score` and the link."""
    text = str(learner["learner_model_param"]["base_score"]).strip("[]")
    score = float(text.split(",")[0])
    objective = learner["objective"]["name"]
    if objective in LOG_LINK:
        return np.float32(np.log(score))
    if objective in IDENTITY_LINK:
        return np.float32(score)
    raise ValueError(f"objective {objective} is not supported by the flat evaluator")


class FlatForest:
    """Complete-tree arrays of one XGBoost booster (numeric splits, one output)."""

    def __init__(self, booster: xgb.Booster):
        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        trees = learner["gradient_booster"]["model"]["trees"]
        if not trees:
            raise ValueError("the booster has no trees")
        if any(set(tree.get("split_type", [0])) - {0} for tree in trees):
            raise ValueError("categorical splits are not supported by the flat evaluator")
        self.base_margin = _base_margin(learner)
        self.depth = max(self._depth(tree) for tree in trees)
        internal, leaves = 2**self.depth - 1, 2**self.depth
        count = len(trees)
        self.feature = np.zeros((count, max(internal, 1)), dtype=np.intp)
        self.threshold = np.full((count, max(internal, 1)), np.inf, dtype=np.float32)
        self.leaf = np.zeros((count, leaves), dtype=np.float32)
        for index, tree in enumerate(trees):
            self._fill(tree, index, node=0, position=0, level=0)
        self.feature = self.feature.ravel()
        self.threshold = self.threshold.ravel()
        self.leaf = self.leaf.ravel()
        self.trees = count
        starts = np.arange(count, dtype=np.intp) * internal
        self._starts = starts
        self._child_offset = 1 - starts  # child = 2 * flat - start + 1 + right
        self._leaf_shift = np.arange(count, dtype=np.intp) * leaves - internal - starts

    @staticmethod
    def _depth(tree: dict) -> int:
        left, right = tree["left_children"], tree["right_children"]
        stack, deepest = [(0, 0)], 0
        while stack:
            node, level = stack.pop()
            if left[node] == -1:
                deepest = max(deepest, level)
            else:
                stack += [(left[node], level + 1), (right[node], level + 1)]
        return deepest

    def _fill(self, tree: dict, index: int, node: int, position: int, level: int) -> None:
        left = tree["left_children"][node]
        if left == -1:
            value = np.float32(tree["split_conditions"][node])
            span = 2 ** (self.depth - level)
            first = (position + 1) * span - 1 - (2**self.depth - 1)
            self.leaf[index, first : first + span] = value
            return
        self.feature[index, position] = tree["split_indices"][node]
        self.threshold[index, position] = np.float32(tree["split_conditions"][node])
        self._fill(tree, index, left, 2 * position + 1, level + 1)
        self._fill(tree, index, tree["right_children"][node], 2 * position + 2, level + 1)

    def leaves_one(self, row: np.ndarray) -> np.ndarray:
        """The leaf value each tree gives one float32 row."""
        flat = self._starts.copy()
        feature, threshold, offset = self.feature, self.threshold, self._child_offset
        for _ in range(self.depth):
            right = row[feature[flat]] >= threshold[flat]
            flat = 2 * flat + offset + right
        return self.leaf[flat + self._leaf_shift]

    def margin_one(self, row: np.ndarray) -> float:
        """Base margin plus leaf values in tree order, accumulated in float32 like XGBoost."""
        leaves = self.leaves_one(row)
        if self.base_margin != 0:
            leaves = np.concatenate(([self.base_margin], leaves))
        return float(np.cumsum(leaves, dtype=np.float32)[-1])

    def margins(self, rows: np.ndarray) -> np.ndarray:
        """`margin_one` of every row of a float32 matrix, all trees and rows at once."""
        count, width = rows.shape
        values = np.ascontiguousarray(rows).ravel()
        row_start = (np.arange(count, dtype=np.intp) * width)[:, None]
        flat = np.broadcast_to(self._starts, (count, self.trees)).copy()
        for _ in range(self.depth):
            right = values[row_start + self.feature[flat]] >= self.threshold[flat]
            flat = 2 * flat + self._child_offset + right
        leaves = self.leaf[flat + self._leaf_shift]
        if self.base_margin != 0:
            leaves = np.hstack([np.full((count, 1), self.base_margin, np.float32), leaves])
        return np.cumsum(leaves, axis=1, dtype=np.float32)[:, -1]
