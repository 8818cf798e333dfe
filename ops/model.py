"""`python -m ops model train | log | promote | show | card`: the model registry from the
command line.

Logging a bundle registers it as a new version; promoting points the `champion` alias at a
version (a rollback is a promotion of an older one). Services started with
MODEL_URI=models:/d7-revenue@champion serve the new version after a restart, or a SIGHUP of the
API's gunicorn master (it replaces its workers, which load the model again).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import click

from adapters import registry
from adapters.settings import Settings


def _client(settings: Settings):
    return registry.mlflow_client(settings.mlflow_tracking_uri)


def register_bundle(bundle_dir: str | Path, settings: Settings | None = None, promote=False):
    """Log and register a bundle (optionally promote it); prints what happened."""
    settings = settings or Settings()
    client = _client(settings)
    registered = registry.log_and_register(client, bundle_dir)
    where = registry.redact(settings.mlflow_tracking_uri)
    print(
        f"{registered.name} version {registered.version} registered "
        f"(model {registered.model_version}, run {registered.run_id}) in {where}"
    )
    if promote:
        registered = registry.promote(client, registered.version)
        print(f"{registry.CHAMPION} -> version {registered.version}")
    else:
        print(f"promote it with: python -m ops model promote --version {registered.version}")
    return registered


BUNDLE = click.option(
    "--bundle",
    type=click.Path(file_okay=False),
    default="models/d7",
    show_default=True,
    help="Bundle directory.",
)
NAME = click.option(
    "--name", default=registry.REGISTERED_MODEL, show_default=True, help="Registered model name."
)


@click.group("model")
def commands() -> None:
    """The MLflow model registry (MLFLOW_TRACKING_URI): train, log, promote, list."""


@commands.command()
@click.pass_context
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Training CSV with a revenue column.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Bundle directory to write.")  # fmt: skip
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Cross-validation repeats of 5 folds.")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--promote", is_flag=True, help=f"Also make the new version {registry.CHAMPION}.")
def train(ctx: click.Context, data, out, repeats: int, quiet: bool, promote: bool) -> None:
    """Train a bundle (as `python -m scorer train`), then log and register it."""
    from scorer import cli as scorer_cli
    from scorer.data import DataError

    try:
        ctx.invoke(scorer_cli.train, data=data, out=out, repeats=repeats, quiet=quiet)
    except (DataError, FileNotFoundError) as error:  # one line, as `python -m scorer train`
        raise scorer_cli.InputError(str(error)) from error
    register_bundle(out, Settings(), promote=promote)


@commands.command()
@BUNDLE
@click.option("--promote", is_flag=True, help=f"Also make it {registry.CHAMPION}.")
def log(bundle: str, promote: bool) -> None:
    """Log a bundle as a run and register it as a new version."""
    register_bundle(bundle, Settings(), promote=promote)


@commands.command()
@click.option("--version", required=True, help="Registered version number.")
@click.option("--alias", default=registry.CHAMPION, show_default=True, help="Alias to move.")
@NAME
def promote(version: str, alias: str, name: str) -> None:
    """Point an alias at a version (a rollback is a promotion of an older one)."""
    promoted = registry.promote(_client(Settings()), version, name, alias)
    print(
        f"{alias} -> {promoted.name} version {promoted.version} (model "
        f"{promoted.model_version}); restart the services or send SIGHUP to the API to serve it"
    )


@commands.command()
@NAME
def show(name: str) -> None:
    """List the registered versions and their aliases."""
    settings = Settings()
    found = registry.versions(_client(settings), name)
    if not found:
        print(f"no versions of {name} in {registry.redact(settings.mlflow_tracking_uri)}")
        raise SystemExit(1)
    print(f"{'version':>7}  {'model':<18}  {'aliases':<16}  run")
    for item in found:
        aliases = ",".join(item.aliases) or "-"
        print(f"{item.version:>7}  {item.model_version or '-':<18}  {aliases:<16}  {item.run_id}")


def card_table(card: dict) -> list[str]:
    """The cross-validation summary of a model card, one line per stage and subset."""
    metrics = card.get("cv", {}).get("metrics", {})
    names = sorted({name for subsets in metrics.values() for m in subsets.values() for name in m})
    lines = [f"{'stage':<13} {'subset':<15} " + " ".join(f"{n:>13}" for n in names)]
    for stage, subsets in metrics.items():
        for subset, values in subsets.items():
            cells = []
            for name in names:
                mean = values.get(name, {}).get("mean")
                cells.append(f"{'-' if mean is None else format(mean, '.4g'):>13}")
            lines.append(f"{stage:<13} {subset:<15} " + " ".join(cells))
    return lines


def _card(args: argparse.Namespace) -> int:
    from scorer.coverage import coverage_lines  # scipy and crepes: not for every `ops` command

    card = json.loads((Path(args.bundle) / "model_card.json").read_text())
    rows = card.get("data", {}).get("rows", "?")
    protocol = card.get("cv", {}).get("protocol", "no CV")
    print(f"model {card.get('version')}, trained on {rows} users: {protocol} (means)")
    for subset, meaning in card.get("cv", {}).get("subsets", {}).items():
        print(f"  {subset}: {meaning}")
    print("\n".join(card_table(card)))
    print()
    print("\n".join(coverage_lines(card)))
    return 0


@commands.command("card")
@BUNDLE
def card(bundle: str) -> None:
    """Print a bundle's cross-validation metrics."""
    raise SystemExit(_card(argparse.Namespace(bundle=bundle)))
