"""The scheduled job that refreshes the monitoring gauges (`adapters.gauges`).

Enqueued by the stream worker's housekeeping every MONITORING_REFRESH_SECONDS and run by the rq
worker, so reading the database and computing the report never slows the stream worker's batch
loop. The figures are the ones the JSON endpoints and the HTML report give: `scorer.monitoring`
on the matched rows, `scorer.drift` on today's predictions.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from adapters import connections
from adapters.gauges import GaugeBoard, Sample, stream_state
from adapters.matches import matched_rows
from adapters.settings import Settings
from adapters.store import PredictionStore
from adapters.stream_partitions import StreamLayout
from scorer.drift import DRIFT_SAMPLE_ROWS, drift_report
from scorer.intervals import OTHER_COUNTRIES
from scorer.monitoring import OVERDUE, OVERDUE_AFTER_DAYS, calibration_report
from scorer.normalize import normalize
from worker.jobs import predictor_for
from worker.wiring import consumed_kinds

log = logging.getLogger(__name__)

COMPLETE_COHORT_DAYS = 7
"""The calibration gauges cover the last this many install dates whose outcomes are all due."""
OVERDUE_LOOKBACK_DAYS = 28
"""Install dates searched for overdue outcomes."""


def complete_cohorts(today: date) -> tuple[date, date]:
    """The last COMPLETE_COHORT_DAYS install dates whose outcomes are due by `today`."""
    until = today - timedelta(days=OVERDUE_AFTER_DAYS)
    return until - timedelta(days=COMPLETE_COHORT_DAYS - 1), until


def country_groups(predictor, countries: pd.Series) -> pd.Series:
    """Each country's group of the bundle's intervals (its own when training had enough users)."""
    intervals = getattr(predictor, "intervals", None)
    if intervals is None:
        return pd.Series(OTHER_COUNTRIES, index=countries.index)
    names = intervals.group_names
    return countries.map(
        lambda country: names[intervals.countries.get(normalize("country", country), 0)]
    )


def calibration_samples(matched: pd.DataFrame, predictor, today: date) -> dict[str, list[Sample]]:
    since, until = (day.isoformat() for day in complete_cohorts(today))
    cohorts = matched[(matched.install_date >= since) & (matched.install_date <= until)]
    grouped = cohorts.assign(country=country_groups(predictor, cohorts["country"]))
    report = calibration_report(grouped, ["country"])
    report = report[report.stage.notna()]
    samples: dict[str, list[Sample]] = {}
    for gauge, figure in (
        ("d7_calibration_ratio", "ratio"),
        ("d7_calibration_coverage", "coverage"),
        ("d7_calibration_users", "users"),
    ):
        samples[gauge] = [
            ({"stage": row.stage, "country_group": row.country}, float(getattr(row, figure)))
            for row in report.itertuples()
        ]
    return samples


def gauge_samples(settings: Settings, redis, engine, predictor, now: datetime):
    """Every gauge's samples at `now`."""
    today = now.date()
    matched = matched_rows(
        engine,
        today - timedelta(days=OVERDUE_LOOKBACK_DAYS),
        today,
        today,
        columns=["country", "install_date"],
    )
    samples = calibration_samples(matched, predictor, today)
    samples["d7_outcomes_overdue"] = [({}, float((matched.status == OVERDUE).sum()))]
    start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    inputs = PredictionStore(engine).recent_inputs(start, now, DRIFT_SAMPLE_ROWS)
    drift = drift_report(getattr(predictor, "domain", None), inputs)
    if drift is not None:
        drift = drift[~drift.too_small]
        samples["d7_input_psi"] = [({"feature": r.feature}, r.psi) for r in drift.itertuples()]
        samples["d7_input_unseen_share"] = [
            ({"feature": row.feature}, row.unseen_share) for row in drift.itertuples()
        ]
    layout = StreamLayout.of(settings)
    streams = [name for kind in consumed_kinds(settings) for name in layout.names(kind)]
    states = {name: stream_state(redis, name, settings.consumer_group) for name in streams}
    samples["d7_stream_lag"] = [
        ({"stream": name}, float(state["lag"]))
        for name, state in states.items()
        if state["lag"] is not None
    ]
    samples["d7_stream_pending"] = [
        ({"stream": name}, float(state["pending"])) for name, state in states.items()
    ]
    dead = sum(redis.xlen(name) for name in layout.names(settings.dead_letter_stream))
    samples["d7_dead_letters"] = [({}, float(dead))]
    return samples


def refresh_gauges() -> int:
    """The rq job: compute every gauge and write the snapshot; returns how many samples."""
    settings = Settings()
    predictor = predictor_for(
        settings.model_dir, settings.model_uri, settings.anomalous_country_policy
    )
    redis = connections.redis_client(settings, connections.JOBS)
    engine = connections.database_engine(settings, connections.JOBS)
    try:
        samples = gauge_samples(settings, redis, engine, predictor, datetime.now(UTC))
        GaugeBoard(redis).write(samples)
    finally:
        engine.dispose()
    return sum(len(found) for found in samples.values())
