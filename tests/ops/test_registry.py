"""The MLflow registry against a temporary local store: a bundle logged with its params and CV
metrics, registered, promoted and rolled back by alias, and served through MODEL_URI."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from adapters import registry
from adapters.model_source import ModelSourceError, load_predictor
from adapters.settings import Settings
from ops.cli import cli

from support.paths import MODEL_DIR

pytestmark = [
    pytest.mark.slow,  # a fresh MLflow store per module, bundles logged and loaded
    pytest.mark.filterwarnings(
        # MLflow's own SQLAlchemy models, on SQLAlchemy 2.1
        "ignore:The ``noload`` loader strategy is deprecated"
    ),
]


@pytest.fixture(scope="module")
def two_versions(mlflow_client, tmp_path_factory):
    """The committed bundle as version 1, and a copy with another model version as version 2."""
    first = registry.log_and_register(mlflow_client, MODEL_DIR)
    other = tmp_path_factory.mktemp("bundle") / "d7"
    shutil.copytree(MODEL_DIR, other)
    card = json.loads((other / "model_card.json").read_text())
    card["version"] = "d7-retrained-test"
    (other / "model_card.json").write_text(json.dumps(card))
    second = registry.log_and_register(mlflow_client, other)
    return first, second


def settings_for(tracking_uri, tmp_path, **overrides) -> Settings:
    return Settings(mlflow_tracking_uri=tracking_uri, model_cache_dir=str(tmp_path), **overrides)


def test_a_logged_bundle_carries_its_params_metrics_and_files(mlflow_client, two_versions):
    first, _ = two_versions
    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    run = mlflow_client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["events.rounds"] == str(card["config"]["events"]["rounds"])
    assert run.data.params["cv_protocol"] == card["cv"]["protocol"]
    mae = card["cv"]["metrics"]["early_events"]["all"]["mae"]
    assert run.data.metrics["early_events/all/mae"] == pytest.approx(mae["mean"])
    assert run.data.metrics["early_events/all/mae_std"] == pytest.approx(mae["std"])
    assert run.data.tags[registry.VERSION_TAG] == card["version"]
    files = {item.path for item in mlflow_client.list_artifacts(first.run_id, "bundle")}
    assert files == {f"bundle/{path.name}" for path in MODEL_DIR.iterdir()}
    assert (first.version, first.model_version) == ("1", card["version"])


def test_promotion_and_rollback_move_the_alias(mlflow_client, two_versions):
    first, second = two_versions
    assert registry.promote(mlflow_client, second.version).version == "2"
    champion = registry.resolve(mlflow_client, "models:/d7-revenue@champion")
    assert (champion.version, champion.model_version) == ("2", "d7-retrained-test")
    registry.promote(mlflow_client, first.version)  # rollback
    assert registry.resolve(mlflow_client, "models:/d7-revenue@champion").version == "1"
    listed = registry.versions(mlflow_client)
    assert [(v.version, v.aliases) for v in listed] == [("2", ()), ("1", ("champion",))]


def test_services_load_the_champion_through_model_uri(
    mlflow_client, tracking_uri, two_versions, tmp_path
):
    _, second = two_versions
    registry.promote(mlflow_client, second.version)
    uri = "models:/d7-revenue@champion"
    loaded = load_predictor(settings_for(tracking_uri, tmp_path, model_uri=uri))
    assert loaded.predictor.version == "d7-retrained-test"
    assert loaded.source["kind"] == "registry" and loaded.source["uri"] == uri
    assert (loaded.source["version"], loaded.source["run_id"]) == ("2", second.run_id)
    again = load_predictor(settings_for(tracking_uri, tmp_path, model_uri="models:/d7-revenue/1"))
    assert (
        again.predictor.version
        == json.loads((MODEL_DIR / "model_card.json").read_text())["version"]
    )
    cached = sorted(path.name for path in (tmp_path / "d7-revenue").iterdir())
    assert cached == [f"1-{again.source['run_id']}", f"2-{second.run_id}"]


def test_without_model_uri_the_directory_is_served():
    loaded = load_predictor(Settings(model_dir=str(MODEL_DIR), model_uri=None))
    assert loaded.source == {"kind": "directory", "path": str(MODEL_DIR)}


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/d7-revenue@nobody", "not found"),
        ("models:/no-such-model/1", "not found"),
        ("runs:/abc/bundle", "unsupported model URI"),
    ],
)
def test_a_bad_model_uri_fails_loudly(tracking_uri, two_versions, tmp_path, uri, message):
    with pytest.raises(ModelSourceError, match=message):
        load_predictor(settings_for(tracking_uri, tmp_path, model_uri=uri))


def test_files_that_do_not_match_the_registered_version_are_refused(
    mlflow_client, tracking_uri, two_versions, tmp_path
):
    first, _ = two_versions
    target = tmp_path / "d7-revenue" / f"{first.version}-{first.run_id}"
    shutil.copytree(MODEL_DIR, target)  # a cached copy that was tampered with
    card = json.loads((target / "model_card.json").read_text())
    (target / "model_card.json").write_text(json.dumps({**card, "version": "d7-other"}))
    with pytest.raises(ModelSourceError, match="registered as model"):
        load_predictor(settings_for(tracking_uri, tmp_path, model_uri="models:/d7-revenue/1"))


def test_passwords_never_reach_the_model_source():
    assert registry.redact("http://ops:s3cret@mlflow:5000") == "http://ops:***@mlflow:5000"
    assert registry.redact("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_an_unreachable_tracking_server_fails_in_bounded_time(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings = Settings(
        model_uri="models:/d7-revenue@champion",
        mlflow_tracking_uri="http://127.0.0.1:9",  # discard port: nothing listens
        model_cache_dir=str(tmp_path),
    )
    with pytest.raises(ModelSourceError, match=r"cannot load .* from http://127\.0\.0\.1:9"):
        load_predictor(settings)


def test_the_worker_and_rq_jobs_serve_the_registry_model(
    mlflow_client, tracking_uri, two_versions, tmp_path, fake_redis, sqlite_url, monkeypatch
):
    from worker.jobs import predictor_for
    from worker.wiring import build_worker

    _, second = two_versions
    registry.promote(mlflow_client, second.version)
    settings = settings_for(
        tracking_uri, tmp_path, model_uri="models:/d7-revenue@champion", database_url=sqlite_url
    )
    worker = build_worker(settings, client=fake_redis, consumer="w")
    assert worker.handler.predictor.version == "d7-retrained-test"
    worker.handler.store.engine.dispose()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    predictor_for.cache_clear()
    try:
        assert predictor_for("models/d7", "models:/d7-revenue/2").version == "d7-retrained-test"
    finally:
        predictor_for.cache_clear()


def test_the_api_serves_the_registry_model_and_says_so(
    mlflow_client, tracking_uri, two_versions, tmp_path, fake_redis, sqlite_url
):
    from api.app import create_app

    _, second = two_versions
    registry.promote(mlflow_client, second.version)
    settings = settings_for(
        tracking_uri, tmp_path, model_uri="models:/d7-revenue@champion", database_url=sqlite_url
    )
    app = create_app(settings, redis=fake_redis, start_publisher=False)
    body = app.test_client().get("/model").get_json()
    assert body["model_version"] == "d7-retrained-test"
    assert body["source"]["kind"] == "registry" and body["source"]["version"] == "2"
    answer = app.test_client().post("/predict", json={"country": "es", "event_2": 10}).get_json()
    assert answer["model_version"] == "d7-retrained-test"
    app.extensions["d7"].close()


def test_model_commands_log_promote_and_show(tracking_uri, two_versions, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    runner = CliRunner()
    result = runner.invoke(cli, ["model", "log", "--bundle", str(MODEL_DIR)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "d7-revenue version 3 registered" in out and "--version 3" in out
    result = runner.invoke(cli, ["model", "promote", "--version", "3"])
    assert result.exit_code == 0, result.output
    assert "champion -> d7-revenue version 3" in result.stdout
    result = runner.invoke(cli, ["model", "show"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[0] == "3" and lines[1].split()[2] == "champion"
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]


def test_model_train_registers_the_trained_bundle(
    tracking_uri, two_versions, tmp_path, monkeypatch
):
    """`python -m ops model train --promote`: the bundle training wrote becomes the next version
    and the champion (training itself is replaced by a copy of the committed bundle to keep
    this fast)."""
    import scorer.bundle

    def fake_training(data, out, repeats=3, progress=True):
        shutil.copytree(MODEL_DIR, out)
        return json.loads((MODEL_DIR / "model_card.json").read_text())

    monkeypatch.setattr(scorer.bundle, "train_bundle", fake_training)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    out = tmp_path / "trained"
    argv = ["model", "train", "--data", "unused.csv", "--out", str(out), "--promote"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.stdout
    client = registry.mlflow_client(tracking_uri)
    newest = registry.versions(client)[0]
    files = {item.path for item in client.list_artifacts(newest.run_id, "bundle")}
    assert "bundle/model_card.json" in files and int(newest.version) >= 3
    assert registry.CHAMPION in newest.aliases


def test_scorer_train_register_names_the_ops_command(tmp_path):
    """The model package does not reach the registry: `--register` says where it went."""
    from scorer.cli import cli as scorer_cli

    argv = ["train", "--data", "unused.csv", "--out", str(tmp_path / "m"), "--register"]
    result = CliRunner().invoke(scorer_cli, argv)
    assert result.exit_code == 2
    assert "python -m ops model train" in result.stderr
    assert not (tmp_path / "m").exists()


def test_model_train_names_a_missing_data_file_in_one_line(tmp_path):
    argv = ["model", "train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and "missing.csv" in result.stderr
