"""`python -m ops model log | promote | show`: the model registry from the command line.

Logging a bundle registers it as a new version; promoting points the `champion` alias at a
version (a rollback is a promotion of an older one). Services started with
MODEL_URI=models:/d7-revenue@champion serve the new version after a restart, or a SIGHUP of the
API's gunicorn master (it replaces its workers, which load the model again).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adapters import registry
from adapters.settings import Settings
from scorer.coverage import coverage_lines


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


def _log(args: argparse.Namespace) -> int:
    register_bundle(args.bundle, Settings(), promote=args.promote)
    return 0


def _promote(args: argparse.Namespace) -> int:
    promoted = registry.promote(_client(Settings()), args.version, args.name, args.alias)
    print(
        f"{args.alias} -> {promoted.name} version {promoted.version} (model "
        f"{promoted.model_version}); restart the services or send SIGHUP to the API to serve it"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = Settings()
    found = registry.versions(_client(settings), args.name)
    if not found:
        print(f"no versions of {args.name} in {registry.redact(settings.mlflow_tracking_uri)}")
        return 1
    print(f"{'version':>7}  {'model':<18}  {'aliases':<16}  run")
    for item in found:
        aliases = ",".join(item.aliases) or "-"
        print(f"{item.version:>7}  {item.model_version or '-':<18}  {aliases:<16}  {item.run_id}")
    return 0


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


def add_commands(commands) -> None:
    """Add `model log|promote|show` to an argparse subparsers object."""
    model = commands.add_parser("model", help="the MLflow model registry (MLFLOW_TRACKING_URI)")
    actions = model.add_subparsers(dest="action", required=True)
    log = actions.add_parser("log", help="log a bundle as a run and register it as a new version")
    log.add_argument("--bundle", default="models/d7", help="bundle directory (default models/d7)")
    log.add_argument("--promote", action="store_true", help=f"also make it {registry.CHAMPION}")
    log.set_defaults(run=_log)
    promote = actions.add_parser("promote", help="point an alias at a version (or roll back)")
    promote.add_argument("--version", required=True, help="registered version number")
    promote.add_argument("--alias", default=registry.CHAMPION)
    promote.set_defaults(run=_promote)
    show = actions.add_parser("show", help="list the registered versions and their aliases")
    show.set_defaults(run=_show)
    card = actions.add_parser("card", help="print a bundle's cross-validation metrics")
    card.add_argument("--bundle", default="models/d7", help="bundle directory (default models/d7)")
    card.set_defaults(run=_card)
    for parser in (promote, show):
        parser.add_argument("--name", default=registry.REGISTERED_MODEL)
