"""Benchmark of the Predictor against XGBoost's own prediction on the same model, in one run.

    python bench/predictor_bench.py [--model models/d7] [--data data/dataset.csv] [--rows 100000]

Single record: `Predictor.predict_one` (everything the API returns: mean, interval, stage) against
the same answer computed with XGBoost's single-row `inplace_predict` on the prepared numpy row.
Batch, one thread: `Predictor.predict_batch` on a DataFrame (validation, features, both stages,
intervals) against XGBoost's `inplace_predict` alone on the prepared feature matrix. Records come
from the data file when present, else from `python -m scorer synth`'s generator.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scorer.data import read_records  # noqa: E402
from scorer.evaluate import drop_events  # noqa: E402
from scorer.predictor import Predictor  # noqa: E402
from scorer.schema import RECORD_COLUMNS  # noqa: E402
from scorer.synth import synthetic_records  # noqa: E402


def records_for(args) -> pd.DataFrame:
    if Path(args.data).is_file():
        frame = read_records(args.data)
        source = f"{args.data} ({len(frame)} rows)"
    else:
        frame = synthetic_records(20_000, seed=1)
        source = "synthetic records (data file not found)"
    print(f"records: {source}")
    return frame[list(RECORD_COLUMNS)]


def as_dicts(frame: pd.DataFrame) -> list[dict]:
    rows = frame.to_dict("records")
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows
    ]


def xgboost_single(predictor: Predictor, record: dict):
    """The same answer as predict_one, with XGBoost's own single-row prediction for the margin."""
    stage, row, offset, zero = predictor.pipeline.build_row(record)
    if zero:
        return 0.0, 0.0, 0.0, stage
    margin = predictor.boosters[stage].inplace_predict(row[None, :], predict_type="margin")[0]
    mean = float(np.exp(float(margin) + offset))
    lower, upper = predictor._bounds_one(stage, record, mean)
    return mean, lower, upper, stage


def timings(function, records: list[dict], repeat: int) -> np.ndarray:
    spent = []
    for _ in range(repeat):
        for record in records:
            start = time.perf_counter()
            function(record)
            spent.append(time.perf_counter() - start)
    return np.array(spent) * 1e6


def bench_single(predictor: Predictor, frame: pd.DataFrame, count: int) -> None:
    print(f"\nsingle record ({count} records per stage, microseconds)")
    print(f"{'stage':13s} {'path':34s} {'p50':>8s} {'p99':>8s}")
    for name, part in (("early_events", frame), ("install", drop_events(frame))):
        records = as_dicts(part.sample(count, random_state=0, replace=len(part) < count))
        for record in records[:200]:  # warm both paths
            predictor.predict_one(record)
            xgboost_single(predictor, record)
        ours = timings(predictor.predict_one, records, 3)
        theirs = timings(lambda r: xgboost_single(predictor, r), records, 1)
        p50, p50x = np.percentile(ours, 50), np.percentile(theirs, 50)
        print(f"{name:13s} {'Predictor.predict_one':34s} {p50:8.1f} {np.percentile(ours, 99):8.1f}")
        print(
            f"{name:13s} {'same with XGBoost inplace_predict':34s} {p50x:8.1f} {np.percentile(theirs, 99):8.1f}"
        )
        print(f"{name:13s} ratio of p50: XGBoost / Predictor = {p50x / p50:.1f}x")


def bench_batch(predictor: Predictor, frame: pd.DataFrame, rows: int) -> None:
    big = frame.sample(rows, random_state=1, replace=True).reset_index(drop=True)
    half = rows // 2
    big.loc[: half - 1, ["event_1", "event_2", "event_3"]] = np.nan  # half at install
    predictor.predict_batch(big.iloc[:1000])
    start = time.perf_counter()
    result = predictor.predict_batch(big)
    ours = time.perf_counter() - start
    features = predictor.pipeline.build_frame(big)
    has_events = features["has_events"]
    start = time.perf_counter()
    predictor.boosters["early_events"].inplace_predict(
        features["events"][has_events], predict_type="margin"
    )
    predictor.boosters["install"].inplace_predict(
        features["install"][~has_events], predict_type="margin"
    )
    theirs = time.perf_counter() - start
    assert len(result) == rows
    print(f"\nbatch of {rows} records, one thread (half install stage, half early events)")
    print(
        f"  Predictor.predict_batch (validate, features, both stages, intervals): {rows / ours:>10,.0f} records/s"
    )
    print(
        f"  XGBoost inplace_predict alone on prepared matrices:                  {rows / theirs:>10,.0f} records/s"
    )
    print(f"  ratio: Predictor / XGBoost-alone = {theirs / ours:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/d7")
    parser.add_argument("--data", default="data/dataset.csv")
    parser.add_argument("--rows", type=int, default=100_000, help="batch size")
    parser.add_argument("--single", type=int, default=2000, help="records per stage, single path")
    args = parser.parse_args()
    predictor = Predictor.load(args.model)
    print(
        f"model {predictor.version}; python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    frame = records_for(args)
    bench_single(predictor, frame, args.single)
    bench_batch(predictor, frame, args.rows)


if __name__ == "__main__":
    main()
