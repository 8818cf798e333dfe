"""rq batch scoring jobs: enqueue and status helpers (fakeredis), and the job run by the real
`python -m worker rq --burst` against the real Redis and Postgres."""

from adapters.cache import PredictionCache
from adapters.jobs import batch_job_status, batch_queue, enqueue_batch_job

from support.streams import rows, synthetic_installs


def test_enqueued_job_reports_queued_with_its_total(fake_redis):
    queue = batch_queue(fake_redis, "jobs")
    job_id = enqueue_batch_job(queue, [{"country": "es"}] * 3)
    status = batch_job_status(queue, job_id)
    assert status["status"] == "queued"
    assert status["progress"] == {"done": 0, "total": 3}
    assert status["error"] is None and status["counts"] == {}
    assert status["retries_left"] == 2
    assert batch_job_status(queue, "no-such-job") is None


def test_burst_worker_scores_persists_and_caches_a_job(redis_client, service_settings, spawn):
    records = synthetic_installs(450, seed=21)
    records[5]["event_1"] = -3
    records[9]["bogus"] = "x"
    records[11]["event_id"] = "chosen-id"
    queue = batch_queue(redis_client, service_settings.rq_queue)
    job_id = enqueue_batch_job(queue, records, chunk_size=200)
    process = spawn(service_settings, "rq", "--burst")
    assert process.wait(timeout=90) == 0

    status = batch_job_status(queue, job_id)
    assert status["status"] == "finished", status
    assert status["progress"] == {"done": 450, "total": 450}
    assert status["counts"] == {
        "records": 450,
        "invalid": 2,
        "scored": 448,
        "inserted": 448,
        "cached": 448,
    }
    assert [example["index"] for example in status["invalid_examples"]] == [5, 9]
    assert "event_1" in status["invalid_examples"][0]["error"]
    found = rows(service_settings.database_url)
    assert len(found) == 448 and {row["source"] for row in found} == {"batch"}
    ids = {row["event_id"] for row in found}
    assert "chosen-id" in ids and f"{job_id}:0" in ids and f"{job_id}:5" not in ids
    cache = PredictionCache(redis_client, service_settings.cache_prefix)
    by_user = {row["user_id"]: row["predicted_revenue"] for row in found}
    assert all(cache.get(user)["predicted_revenue"] == value for user, value in by_user.items())
    assert cache.get(records[0]["user_id"])["source"] == "batch"


def test_failing_job_is_retried_then_kept_in_the_failed_registry(
    redis_client, service_settings, spawn
):
    from rq.registry import FailedJobRegistry

    queue = batch_queue(redis_client, service_settings.rq_queue)
    job_id = enqueue_batch_job(queue, synthetic_installs(10, seed=22), retry_intervals=(0, 0))
    unreachable = service_settings.model_copy(
        update={"database_url": "postgresql+psycopg2://postgres@127.0.0.1:9/test"}
    )
    process = spawn(unreachable, "rq", "--burst")
    assert process.wait(timeout=90) == 0
    status = batch_job_status(queue, job_id)
    assert status["status"] == "failed" and status["retries_left"] == 0
    assert "OperationalError" in status["error"]
    assert job_id in FailedJobRegistry(queue=queue).get_job_ids()


def test_exception_summary_keeps_the_exception_not_the_frames():
    from adapters.jobs import exception_summary

    text = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "    connect()\n"
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection refused\n"
        "\tIs the server running?\n"
        "\n"
        "(Background on this error at: https://sqlalche.me/e/21/e3q8)\n"
    )
    summary = exception_summary(text)
    assert summary.startswith("sqlalchemy.exc.OperationalError: (psycopg2.OperationalError)")
    assert "File" not in summary
    assert exception_summary("") == "failed"
