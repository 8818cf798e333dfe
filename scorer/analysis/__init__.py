"""Analysis behind the model development notebook: baselines and candidate models, the
comparison table, explanations, the bid simulation, exploration and plots.

Nothing here serves predictions; production code (features, Predictor, training, evaluation)
lives one level up, and these modules only build on it.
"""
