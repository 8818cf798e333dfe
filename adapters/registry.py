"""The MLflow model registry: log a bundle as a run, register it, move aliases, fetch it back.

Every function takes an `MlflowClient`, so the same code talks to a local SQLite store (the
default, `sqlite:///mlflow.db`), a temporary store in tests, or the compose tracking server.
A registered version's source is the run's `bundle` artifact directory: the bundle exactly as
`Predictor.save` wrote it, with its model card. MLflow is the optional extra `mlflow`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REGISTERED_MODEL = "d7-revenue"
"""Name the bundles are registered under."""
CHAMPION = "champion"
"""Alias of the version the services serve (MODEL_URI=models:/d7-revenue@champion)."""
EXPERIMENT = "d7-revenue"
BUNDLE_PATH = "bundle"
"""Artifact directory of a run that holds the bundle."""
VERSION_TAG = "model_version"
"""Tag of a registered version: the bundle's own version (its model card's `version`)."""

HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
"""Defaults (unless set) that make an unreachable tracking server fail in ~10 s, not minutes."""

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class RegistryError(RuntimeError):
    """A model URI that is malformed or names nothing in the registry."""


@dataclass(frozen=True)
class RegisteredBundle:
    """One registered version, as the services report it in GET /model."""

    name: str
    version: str
    run_id: str
    model_version: str | None
    aliases: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "model_version": self.model_version,
            "aliases": list(self.aliases),
        }


def mlflow_client(tracking_uri: str):
    """An MlflowClient on `tracking_uri` (also the registry); no usage telemetry is sent and
    downloads draw no progress bar (service logs)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name, value in HTTP_RETRIES.items():  # a service must not hang for minutes at start
        os.environ.setdefault(name, value)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def redact(uri: str) -> str:
    """`uri` without a password in it (tracking URIs may carry credentials)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def training_params(card: Mapping[str, Any]) -> dict[str, str]:
    """The training configuration of a model card, flattened (`events.eta`, `k_rate`, ...)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = str(value)

    walk("", card.get("config", {}))
    flat["cv_protocol"] = str(card.get("cv", {}).get("protocol", ""))
    flat["data_rows"] = str(card.get("data", {}).get("rows", ""))
    return flat


def cv_metrics(card: Mapping[str, Any]) -> dict[str, float]:
    """The card's cross-validation summary as `<stage>/<subset>/<metric>` (mean) and
    `..._std`; undefined metrics (null in the card) are left out."""
    metrics: dict[str, float] = {}
    for stage, subsets in card.get("cv", {}).get("metrics", {}).items():
        for subset, values in subsets.items():
            for metric, summary in values.items():
                for statistic, suffix in (("mean", ""), ("std", "_std")):
                    value = summary.get(statistic)
                    if value is not None:
                        metrics[f"{stage}/{subset}/{metric}{suffix}"] = float(value)
    return metrics


def log_bundle(client, bundle_dir: str | Path, experiment: str = EXPERIMENT) -> str:
    """Log a bundle as a finished run: the card's config as params, its CV metrics, the bundle
    files as artifacts. Returns the run id."""
    import json

    from mlflow.entities import Metric, Param, RunTag

    bundle_dir = Path(bundle_dir)
    card = json.loads((bundle_dir / "model_card.json").read_text())
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=str(card.get("version", "bundle")))
    run_id = run.info.run_id
    try:
        now = int(run.info.start_time)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in cv_metrics(card).items()],
            params=[Param(k, v) for k, v in training_params(card).items()],
            tags=[
                RunTag(VERSION_TAG, str(card.get("version", ""))),
                RunTag("data_sha256", str(card.get("data", {}).get("sha256", ""))),
                RunTag("trained_at", str(card.get("trained_at", ""))),
            ],
        )
        client.log_artifacts(run_id, str(bundle_dir), BUNDLE_PATH)
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def register(client, run_id: str, name: str = REGISTERED_MODEL) -> RegisteredBundle:
    """Register the run's bundle as a new version of `name` (created on first use)."""
    from mlflow.exceptions import MlflowException

    run = client.get_run(run_id)
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    model_version = run.data.tags.get(VERSION_TAG)
    created = client.create_model_version(
        name,
        f"{run.info.artifact_uri}/{BUNDLE_PATH}",
        run_id=run_id,
        tags={VERSION_TAG: model_version or ""},
    )
    return _bundle(created, model_version)


def promote(client, version: str | int, name: str = REGISTERED_MODEL, alias: str = CHAMPION):
    """Point `alias` at `version` (promotion, and rollback to an older version alike)."""
    found = client.get_model_version(name, str(version))
    client.set_registered_model_alias(name, alias, str(found.version))
    return resolve(client, f"models:/{name}@{alias}")


def versions(client, name: str = REGISTERED_MODEL) -> list[RegisteredBundle]:
    """Every registered version of `name`, newest first."""
    found = client.search_model_versions(f"name = '{name}'")
    ordered = sorted(found, key=lambda item: int(item.version), reverse=True)
    return [_bundle(client.get_model_version(name, item.version)) for item in ordered]


def resolve(client, uri: str) -> RegisteredBundle:
    """The version `uri` names: models:/<name>@<alias> or models:/<name>/<version>."""
    from mlflow.exceptions import MlflowException

    match = _MODEL_URI.match(uri)
    if match is None:
        raise RegistryError(
            f"unsupported model URI {uri!r}: use models:/<name>@<alias> or models:/<name>/<version>"
        )
    name, alias, version = match["name"], match["alias"], match["version"]
    try:
        if alias is not None:
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RegistryError(f"{uri} not found in the registry: {error.message}") from error
        raise
    return _bundle(found)


def fetch_bundle(client, bundle: RegisteredBundle, cache_dir: str | Path) -> Path:
    """The bundle's files in `cache_dir/<name>/<version>-<run id>`, downloaded once; processes
    starting together may race, so each downloads into a directory of its own and renames it."""
    target = Path(cache_dir) / bundle.name / f"{bundle.version}-{bundle.run_id}"
    if (target / "model_card.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        downloaded = Path(client.download_artifacts(bundle.run_id, BUNDLE_PATH, str(scratch)))
        try:
            downloaded.rename(target)
        except OSError:
            if not (target / "model_card.json").is_file():  # not a concurrent download
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _bundle(found, model_version: str | None = None) -> RegisteredBundle:
    tags = getattr(found, "tags", None) or {}
    return RegisteredBundle(
        name=found.name,
        version=str(found.version),
        run_id=found.run_id,
        model_version=model_version or tags.get(VERSION_TAG) or None,
        aliases=tuple(getattr(found, "aliases", None) or ()),
    )


def log_and_register(
    client, bundle_dir: str | Path, name: str = REGISTERED_MODEL, experiment: str = EXPERIMENT
) -> RegisteredBundle:
    """`log_bundle` then `register`: the bundle becomes the next version of `name`."""
    return register(client, log_bundle(client, bundle_dir, experiment), name)
