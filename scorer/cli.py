"""`python -m scorer train | predict | evaluate | synth | tune` (also `d7-scorer`): the command
line of the model (thin: parse the options, call the module that does the work)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from .data import DataError

# Idle OpenMP threads should sleep, not spin: on a shared or busy machine spinning threads make a
# 2-thread XGBoost fit ten times slower. Set before XGBoost loads (the commands import it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REGISTER_MOVED = (
    "--register moved to the operations command line: "
    "`python -m ops model train --data ... --out ... [--promote]` trains and registers"
)


class InputError(click.ClickException):
    """Unusable input data or a missing file: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=True)


class ScorerCommand(click.Command):
    """A command whose data and file errors are one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (DataError, FileNotFoundError) as error:
            raise InputError(str(error)) from error


def quiet_option(command):
    return click.option("--quiet", is_flag=True, help="No progress bars.")(command)


def data_option(help_text: str):
    return click.option("--data", required=True, type=click.Path(dir_okay=False), help=help_text)


def model_option(command):
    return click.option(
        "--model", required=True, type=click.Path(file_okay=False), help="Bundle directory."
    )(command)


def repeats_option(command):
    return click.option(
        "--repeats",
        type=click.IntRange(min=1),
        default=3,
        show_default=True,
        help="Cross-validation repeats of 5 folds.",
    )(command)


@click.group()
def cli() -> None:
    """Train, evaluate and apply the D7 revenue model on CSV files."""


@cli.command(cls=ScorerCommand)
@data_option("Training CSV with a revenue column.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Bundle directory to write.")  # fmt: skip
@repeats_option
@quiet_option
@click.option("--register", is_flag=True, hidden=True, help=REGISTER_MOVED)
def train(data: str, out: str, repeats: int, quiet: bool, register: bool = False) -> None:
    """Cross-validate, fit and write a model bundle (to also register it in MLflow:
    `python -m ops model train`)."""
    if register:
        raise click.UsageError(REGISTER_MOVED)
    from .bundle import train_bundle

    card = train_bundle(data, out, repeats=repeats, progress=not quiet)
    events = card["cv"]["metrics"]["early_events"]
    click.echo(f"model {card['version']} written to {out}")
    for subset, values in events.items():
        shown = ", ".join(f"{m}={v['mean']:.4g}±{v['std']:.2g}" for m, v in values.items())
        click.echo(f"  early_events {subset}: {shown}")


@cli.command(cls=ScorerCommand)
@model_option
@data_option("CSV of install records.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
@quiet_option
def predict(model: str, data: str, out: str, quiet: bool) -> None:
    """Predict every row of a CSV."""
    from .bundle import predict_file

    rows = predict_file(model, data, out, progress=not quiet)
    click.echo(f"{rows} predictions written to {out}")


@cli.command(cls=ScorerCommand)
@model_option
@data_option("CSV with a revenue column.")
@quiet_option
def evaluate(model: str, data: str, quiet: bool) -> None:
    """Print the metrics of a bundle on a CSV."""
    from .bundle import evaluate_file

    click.echo(json.dumps(evaluate_file(model, data), indent=2))


@cli.command(cls=ScorerCommand)
@click.option("--rows", type=click.IntRange(min=1), required=True, help="Records to write.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--no-revenue", is_flag=True, help="Omit the revenue column.")
@quiet_option
def synth(rows: int, out: str, seed: int, no_revenue: bool, quiet: bool) -> None:
    """Write synthetic install records."""
    from .synth import synthetic_records

    frame = synthetic_records(rows, seed=seed, with_revenue=not no_revenue)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    click.echo(f"{len(frame)} synthetic records written to {out}")


@cli.command(cls=ScorerCommand)
@data_option("Training CSV with a revenue column.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="CSV to write the table to (the chosen rows are marked).")  # fmt: skip
@repeats_option
@quiet_option
def tune(data: str, out: str | None, repeats: int, quiet: bool) -> None:
    """Cross-validate a grid of model settings."""
    from .tuning import tune as tune_grid

    table = tune_grid(data, out, repeats=repeats, progress=not quiet)
    shown = table.drop(columns=[c for c in table.columns if c.endswith(("rmse", "coverage_80"))])
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out:
        click.echo(f"table written to {out}")
