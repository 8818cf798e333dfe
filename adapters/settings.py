"""Settings shared by the API and the worker, read once from the environment (no prefix).

Defaults point at the local machine, so `Settings()` works on a laptop with Redis and Postgres
running; tests pass overrides such as `Settings(redis_url=...)`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scorer.flags import COUNTRY_POLICIES, COUNTRY_POLICY_HELP, FLAG_BY_DEFAULT


class Settings(BaseSettings):
    """Every environment variable of the service, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", protected_namespaces=()
    )

    model_dir: str = Field("models/d7", description="Model bundle directory.")
    model_uri: str | None = Field(
        None,
        description="Registry URI of the bundle (models:/<name>@<alias> or models:/<name>/<version>); "
        "wins over MODEL_DIR when set.",
    )
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        description="MLflow tracking and registry store (MODEL_URI, training).",
    )
    model_cache_dir: str = Field(
        str(Path(tempfile.gettempdir()) / "d7-revenue-models"),
        description="Where bundles fetched from the registry are kept.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis for streams and cache (with REDIS_CLUSTER, any node of the cluster).",
    )
    redis_cluster: bool = Field(
        False, description="REDIS_URL is a node of a Redis Cluster: use the cluster client."
    )
    rq_redis_url: str | None = Field(
        None,
        description="Plain Redis of the rq batch-job queue (rq does not support Cluster); "
        "default: REDIS_URL.",
    )
    database_url: str = Field(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
        description="SQLAlchemy URL of the predictions database.",
    )
    host: str = Field("0.0.0.0", description="Address the API listens on (`python -m api`).")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port of the API.")
    web_concurrency: int | None = Field(
        None,
        gt=0,
        description="API server processes (default: one per CPU core this process may use).",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Least severe level the services log."
    )
    api_key: str | None = Field(None, description="Required in X-API-Key when set.")
    installs_stream: str = Field("installs", description="Stream of install events to score.")
    scored_stream: str = Field("scored", description="Stream of predictions made by the API.")
    outcomes_stream: str = Field(
        "outcomes", description="Stream of outcomes (actual D7 revenue) to store."
    )
    dead_letter_stream: str = Field("installs:dead", description="Entries that kept failing.")
    stream_partitions: int = Field(
        1,
        gt=0,
        description="Streams per kind (`installs:{0}` ...), chosen by a hash of user_id; "
        "1 keeps the plain names on a single Redis.",
    )
    consumer_group: str = Field("scorers", description="Consumer group shared by the workers.")
    cache_prefix: str = Field("prediction:", description="Prefix of the per-user cache keys.")
    cache_ttl_seconds: int = Field(691200, gt=0, description="TTL of a cached prediction.")
    batch_limit: int = Field(1000, gt=0, description="Max instances per /predict request.")
    max_body_bytes: int = Field(1048576, gt=0, description="Max HTTP request body size.")
    batch_job_max_bytes: int = Field(
        33554432, gt=0, description="Max body size of POST /batch-jobs (a CSV upload)."
    )
    publish_buffer_size: int = Field(
        10000, gt=0, description="Predictions an API process holds while Redis is unreachable."
    )
    stream_maxlen: int = Field(1000000, gt=0, description="Approximate MAXLEN of each stream.")
    worker_batch_size: int = Field(500, gt=0, description="Entries read per XREADGROUP call.")
    worker_block_ms: int = Field(1000, ge=0, description="How long XREADGROUP blocks.")
    claim_idle_ms: int = Field(60000, ge=0, description="Idle time before XAUTOCLAIM takes over.")
    max_deliveries: int = Field(5, gt=0, description="Deliveries before the dead-letter stream.")
    worker_statement_timeout_ms: int = Field(
        10000,
        ge=0,
        description="Longest a stream worker's Postgres statement may run or wait for a lock "
        "(statement_timeout; 0: no limit). Past it the batch is retried, so a stuck commit "
        "cannot keep the worker from stopping.",
    )
    heartbeat_dir: str = Field(
        str(Path(tempfile.gettempdir()) / "d7-revenue-heartbeats"),
        description="Where the stream and rq workers touch their heartbeat files, which the "
        "container health checks read (`python -m ops health worker | rq`).",
    )
    retention_days: int = Field(
        90,
        gt=0,
        description="Days of predictions kept in Postgres, by event time: older daily "
        "partitions are dropped (`python -m worker partitions`, and the stream worker hourly).",
    )
    rq_queue: str = Field("batch-scoring", description="rq queue of batch scoring jobs.")
    monitoring_refresh_seconds: int = Field(
        60,
        gt=0,
        description="How often the monitoring gauges of /metrics are recomputed (an rq job "
        "enqueued by the stream worker).",
    )
    batch_job_max_records: int = Field(100000, gt=0, description="Max records per batch job.")
    anomalous_country_policy: Literal[COUNTRY_POLICIES] = Field(
        FLAG_BY_DEFAULT, description=COUNTRY_POLICY_HELP
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("web_concurrency", mode="before")
    @classmethod
    def _blank_count_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_uri", "api_key", "rq_redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value):
        """`API_KEY=`, `MODEL_URI=` or `RQ_REDIS_URL=` (set but empty, as compose files and .env
        often leave them) means unset, not "the empty key" or "the empty URI"."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _rq_needs_a_plain_redis(self):
        """rq cannot run on a cluster: with REDIS_CLUSTER, RQ_REDIS_URL must name a plain
        Redis (said at start-up, rather than as MOVED errors at the first batch job)."""
        if self.redis_cluster and not self.rq_redis_url:
            raise ValueError("rq_redis_url: required with redis_cluster (rq needs a plain Redis)")
        return self
