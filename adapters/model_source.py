"""Where the services' model comes from: MODEL_DIR (the committed bundle, the default) or, when
MODEL_URI is set, a version in the MLflow registry (e.g. `models:/d7-revenue@champion`).

`load_predictor(settings)` is what the API, the stream worker and the rq worker call; it also
says where the model came from, for GET /model and the logs. A registry that cannot be read is
an error, never a silent fall-back to MODEL_DIR.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

from adapters.settings import Settings

log = logging.getLogger(__name__)


class LoadedModel(NamedTuple):
    predictor: Any  # scorer.predictor.Predictor
    source: dict[str, Any]
    """{"kind": "directory", "path"} or {"kind": "registry", "uri", "tracking_uri", "name",
    "version", "run_id", "model_version", "aliases", "path"}."""


class ModelSourceError(RuntimeError):
    """The registry bundle cannot be used (unreachable store, unknown URI, mismatched files)."""


def load_predictor(settings: Settings, client=None) -> LoadedModel:
    """The Predictor named by the settings (with their ANOMALOUS_COUNTRY_POLICY) and a
    description of its source.

    Args:
        client: an MlflowClient to use instead of one on MLFLOW_TRACKING_URI (tests).
    """
    from scorer.predictor import Predictor

    if not settings.model_uri:
        predictor = Predictor.load(settings.model_dir, settings.anomalous_country_policy)
        source = {"kind": "directory", "path": str(Path(settings.model_dir).resolve())}
        log.info("model %s loaded from %s", predictor.version, source["path"])
        return LoadedModel(predictor, source)

    from adapters import registry

    try:
        client = client or registry.mlflow_client(settings.mlflow_tracking_uri)
        bundle = registry.resolve(client, settings.model_uri)
        path = registry.fetch_bundle(client, bundle, settings.model_cache_dir)
    except ModuleNotFoundError as error:
        raise ModelSourceError(
            f"MODEL_URI is set but MLflow is not installed ({error}); "
            "install the `mlflow` extra or unset MODEL_URI"
        ) from error
    except Exception as error:
        where = registry.redact(settings.mlflow_tracking_uri)
        raise ModelSourceError(f"cannot load {settings.model_uri} from {where}: {error}") from error
    predictor = Predictor.load(path, settings.anomalous_country_policy)
    if bundle.model_version and bundle.model_version != predictor.version:
        raise ModelSourceError(
            f"{settings.model_uri} (version {bundle.version}) is registered as model "
            f"{bundle.model_version} but its files hold {predictor.version}"
        )
    source = {
        "kind": "registry",
        "uri": settings.model_uri,
        "tracking_uri": registry.redact(settings.mlflow_tracking_uri),
        **bundle.describe(),
        "path": str(path),
    }
    log.info(
        "model %s loaded from %s (version %s of %s)",
        predictor.version,
        settings.model_uri,
        bundle.version,
        bundle.name,
    )
    return LoadedModel(predictor, source)
