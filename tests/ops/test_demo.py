"""End to end: `python -m ops run` (embedded Redis and SQLite, as `make run`), the demo replays a
small file through it, the calibration report is filled (every user matched in both stages, sums
equal to the file's), and `ops monitor report` writes a page with every plot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.demo import install_dates, run_demo
from ops.smoke import Api
from scorer.monitoring import MATCHED, OVERDUE_AFTER_DAYS
from scorer.synth import synthetic_records
from scorer.train import StageParams, TrainingConfig, fit_predictor

from support.paths import ROOT
from support.processes import free_port, wait_for_line

USERS = 300
SMALL = TrainingConfig(
    events=StageParams(20, 0.2, 3, 1.0, 0.8, 1.0, 1.0, 1.5),
    install=StageParams(10, 0.2, 2, 5.0, 0.8, 1.0, 1.0, 1.5),
    threads=1,
)


def test_install_dates_are_complete_cohorts_spread_over_days():
    today = datetime(2026, 12, 20, tzinfo=UTC).date()
    dates = install_dates(30, today)
    assert max(dates) == "2026-12-11" and len(set(dates)) == 14
    assert all(
        (today - datetime.fromisoformat(day).date()).days > OVERDUE_AFTER_DAYS for day in dates
    )


@pytest.mark.slow
def test_the_demo_fills_the_report_of_make_run_s_embedded_mode(tmp_path):
    frame = synthetic_records(USERS, seed=31)
    data = tmp_path / "small.csv"
    frame.to_csv(data, index=False)
    training = synthetic_records(2000, seed=32)  # a small bundle with its training distribution
    bundle = tmp_path / "bundle"
    fit_predictor(
        training.drop(columns="revenue"), training.revenue.to_numpy(), SMALL, threads=1,
        card={"version": "demo-small"},
    ).save(bundle)  # fmt: skip
    port = free_port()
    log = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "API_KEY")}
    env.update(MODEL_DIR=str(bundle))
    env.pop("MODEL_URI", None)
    with open(log, "wb") as output:
        service = subprocess.Popen(
            [sys.executable, "-m", "ops", "run", "--port", str(port), "--api-workers", "1",
             "--data-dir", str(tmp_path / "run")],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_line(log, r"Ctrl-C stops everything", service)
        report = run_demo(Api(f"http://127.0.0.1:{port}"), data, datetime.now(UTC).date())
        assert report["totals"][MATCHED] == 2 * USERS
        by_stage = {row["stage"]: row for row in report["segments"]}
        assert set(by_stage) == {"install", "early_events"}
        for row in by_stage.values():
            assert row["users"] == USERS
            assert row["actual_sum"] == pytest.approx(frame.revenue.sum())
            assert row["gini"] is not None and row["ratio"] > 0
        out = tmp_path / "report"
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'run' / 'predictions.db'}",
               "MODEL_DIR": str(bundle)}  # fmt: skip
        result = CliRunner().invoke(
            cli, ["monitor", "report", "--since", report["since"], "--out", str(out)], env=env
        )
        assert result.exit_code == 0, result.output
        page = (out / "index.html").read_text()
        assert page.count("data:image/png;base64,") == 5  # cohorts, deciles, coverage, Gini, drift
        for table in ("cohorts", "stages", "deciles", "countries", "drift"):
            assert (out / f"{table}.csv").stat().st_size > 0
    finally:
        os.killpg(service.pid, signal.SIGINT)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
