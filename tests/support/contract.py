"""The public fields of a prediction, spelled out once for the tests that hold the code to them
(the code itself derives them from `scorer.prediction`)."""

ANSWER_FIELDS = (
    "user_id",
    "predicted_revenue",
    "lower",
    "upper",
    "stage",
    "model_version",
    "flags",
    "request_id",
)
"""The /predict answer, in order."""
CSV_COLUMNS = ANSWER_FIELDS[:-1]
"""The columns of `python -m scorer predict`'s output: the answer without the request id."""
