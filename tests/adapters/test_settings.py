from adapters.settings import Settings

ENV_DEFAULTS = {
    "MODEL_DIR": "models/d7",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    "HOST": "0.0.0.0",
    "PORT": 8000,
    "LOG_LEVEL": "info",
    "INSTALLS_STREAM": "installs",
    "SCORED_STREAM": "scored",
    "DEAD_LETTER_STREAM": "installs:dead",
    "CONSUMER_GROUP": "scorers",
    "CACHE_PREFIX": "prediction:",
    "CACHE_TTL_SECONDS": 691200,
    "BATCH_LIMIT": 1000,
    "MAX_BODY_BYTES": 1048576,
    "STREAM_MAXLEN": 1000000,
    "WORKER_BATCH_SIZE": 500,
    "WORKER_BLOCK_MS": 1000,
    "CLAIM_IDLE_MS": 60000,
    "MAX_DELIVERIES": 5,
    "WORKER_STATEMENT_TIMEOUT_MS": 10000,
    "RQ_QUEUE": "batch-scoring",
    "BATCH_JOB_MAX_RECORDS": 100000,
}


def test_defaults_match_the_shared_contract(monkeypatch):
    for name in [*ENV_DEFAULTS, "API_KEY", "MODEL_URI", "WEB_CONCURRENCY"]:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    for name, default in ENV_DEFAULTS.items():
        assert getattr(settings, name.lower()) == default, name
    assert settings.api_key is None
    assert settings.web_concurrency is None  # one API process per core
    assert settings.model_uri is None


def test_environment_is_read_without_prefix_and_typed(monkeypatch):
    monkeypatch.setenv("WORKER_BATCH_SIZE", "64")
    monkeypatch.setenv("API_KEY", "secret")
    monkeypatch.setenv("INSTALLS_STREAM", "other")
    settings = Settings()
    assert settings.worker_batch_size == 64
    assert settings.api_key == "secret"
    assert settings.installs_stream == "other"


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")
    assert Settings(redis_url="redis://127.0.0.1:6379/9").redis_url.endswith("/9")


def test_blank_optional_values_mean_unset(monkeypatch):
    monkeypatch.setenv("API_KEY", "")
    monkeypatch.setenv("MODEL_URI", "  ")
    settings = Settings()
    assert settings.api_key is None and settings.model_uri is None


def test_server_sizing_and_log_level_are_read_once_here(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = Settings()
    assert (settings.web_concurrency, settings.log_level) == (3, "warning")
    monkeypatch.setenv("WEB_CONCURRENCY", "")
    assert Settings().web_concurrency is None
