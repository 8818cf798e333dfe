"""`python -m scorer train | predict | evaluate | synth | tune`: the command line of the model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .data import DataError


def _train(args: argparse.Namespace) -> int:
    from .bundle import train_bundle

    card = train_bundle(args.data, args.out, repeats=args.repeats, progress=not args.quiet)
    events = card["cv"]["metrics"]["early_events"]
    print(f"model {card['version']} written to {args.out}")
    for subset, values in events.items():
        shown = ", ".join(f"{m}={v['mean']:.4g}±{v['std']:.2g}" for m, v in values.items())
        print(f"  early_events {subset}: {shown}")
    if args.register:  # MLflow (the `mlflow` extra): params, CV metrics, bundle, new version
        from ops.model import register_bundle

        register_bundle(args.out)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .bundle import predict_file

    rows = predict_file(args.model, args.data, args.out, progress=not args.quiet)
    print(f"{rows} predictions written to {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .bundle import evaluate_file

    print(json.dumps(evaluate_file(args.model, args.data), indent=2))
    return 0


def _synth(args: argparse.Namespace) -> int:
    from .synth import synthetic_records

    frame = synthetic_records(args.rows, seed=args.seed, with_revenue=not args.no_revenue)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"{len(frame)} synthetic records written to {args.out}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from .tuning import tune

    table = tune(args.data, args.out, repeats=args.repeats, progress=not args.quiet)
    shown = table.drop(columns=[c for c in table.columns if c.endswith(("rmse", "coverage_80"))])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        print(f"table written to {args.out}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m scorer", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="cross-validate, fit and write a model bundle")
    train.add_argument("--data", required=True, help="training CSV with a revenue column")
    train.add_argument("--out", required=True, help="bundle directory to write")
    train.add_argument("--repeats", type=int, default=3, help="CV repeats of 5 folds (default 3)")
    train.add_argument(
        "--register",
        action="store_true",
        help="log the run to MLflow (MLFLOW_TRACKING_URI) and register the bundle",
    )
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="predict every row of a CSV")
    predict.add_argument("--model", required=True, help="bundle directory")
    predict.add_argument("--data", required=True, help="CSV of install records")
    predict.add_argument("--out", required=True, help="CSV to write")
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser("evaluate", help="print the metrics of a bundle on a CSV")
    evaluate.add_argument("--model", required=True, help="bundle directory")
    evaluate.add_argument("--data", required=True, help="CSV with a revenue column")
    evaluate.set_defaults(run=_evaluate)

    synth = commands.add_parser("synth", help="write synthetic install records")
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--out", required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--no-revenue", action="store_true", help="omit the revenue column")
    synth.set_defaults(run=_synth)

    tune = commands.add_parser("tune", help="cross-validate a grid of model settings")
    tune.add_argument("--data", required=True, help="training CSV with a revenue column")
    tune.add_argument("--out", help="CSV to write the table to (the chosen rows are marked)")
    tune.add_argument("--repeats", type=int, default=3, help="CV repeats of 5 folds (default 3)")
    tune.set_defaults(run=_tune)

    for command in (train, predict, evaluate, synth, tune):
        command.add_argument("--quiet", action="store_true", help="no progress bars")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (DataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
