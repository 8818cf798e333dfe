"""`python -m ops monitor report`: the monitoring report as one self-contained HTML page.

The page shows predicted against actual revenue per cohort over time, calibration by decile,
interval coverage by segment, Gini by stage and input drift per feature (plots embedded as
base64 PNG), and every table is also written as CSV next to it. The figures are those of
GET /monitoring/calibration and GET /monitoring/drift: `scorer.monitoring` and `scorer.drift`
on the same rows.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from adapters.matches import matched_rows  # noqa: E402
from adapters.store import PredictionStore  # noqa: E402
from scorer.drift import DRIFT_SAMPLE_ROWS, MAJOR_PSI, MODERATE_PSI, drift_report  # noqa: E402
from scorer.monitoring import MIN_USERS, calibration_tables  # noqa: E402

PAGE = "index.html"
TOP_SEGMENTS = 12
"""Countries shown in the coverage plot: the ones with most matched users."""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def plot_cohorts(cohorts: pd.DataFrame):
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for stage, rows in cohorts.groupby("stage"):
        axis.plot(
            rows.install_date, rows.predicted_sum, "--", marker="o", label=f"{stage} predicted"
        )
        axis.plot(rows.install_date, rows.actual_sum, marker="o", label=f"{stage} actual")
    axis.set(title="D7 revenue per install-date cohort", ylabel="revenue")
    axis.tick_params(axis="x", rotation=45)
    axis.legend(fontsize=8)
    return figure


def plot_deciles(deciles: pd.DataFrame):
    figure, axis = plt.subplots(figsize=(5, 3.2))
    for stage, rows in deciles.groupby("stage"):
        axis.plot(rows.decile, rows.mean_pred, "--", marker="o", label=f"{stage} predicted")
        axis.plot(rows.decile, rows.mean_true, marker="o", label=f"{stage} actual")
    axis.set(title="Calibration by decile of prediction", xlabel="decile", ylabel="mean revenue")
    axis.legend(fontsize=8)
    return figure


def plot_coverage(segments: pd.DataFrame):
    shown = segments.sort_values("users", ascending=False).groupby("stage").head(TOP_SEGMENTS)
    pivot = shown.pivot_table(index="country", columns="stage", values="coverage")
    figure, axis = plt.subplots(figsize=(8, 3.2))
    pivot.plot.bar(ax=axis)
    axis.axhline(0.8, color="grey", linestyle=":", label="target 0.8")
    axis.set(title="80% interval coverage by country", ylim=(0, 1), ylabel="coverage")
    return figure


def plot_gini(stages: pd.DataFrame):
    figure, axis = plt.subplots(figsize=(4, 3.2))
    axis.bar(stages.stage, stages.gini, color=["#4878d0", "#ee854a"][: len(stages)])
    axis.set(title="Normalised Gini by stage", ylim=(0, 1))
    return figure


def plot_drift(drift: pd.DataFrame):
    shown = drift[drift.psi.notna()]
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.barh(shown.feature, shown.psi)
    axis.axvline(MODERATE_PSI, color="orange", linestyle=":")
    axis.axvline(MAJOR_PSI, color="red", linestyle=":")
    axis.set(title="Input drift (PSI against training)", xlabel="PSI")
    return figure


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda value: f"{value:.3f}", na_rep="")


def build_report(engine, domain, since: date, until: date, out: Path, progress=True) -> Path:
    """Write `out`/index.html and the CSV tables; returns the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=5, desc="monitoring report", disable=not progress)
    matched = matched_rows(engine, since, until)
    steps.update()
    tables = {}
    tables["cohorts"], _ = calibration_tables(matched, ["install_date"])
    tables["stages"], tables["deciles"] = calibration_tables(matched, [])
    tables["countries"], _ = calibration_tables(matched, ["country"])
    steps.update()
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    inputs = PredictionStore(engine).recent_inputs(start, end, DRIFT_SAMPLE_ROWS)
    drift = drift_report(domain, inputs)
    if drift is not None:
        tables["drift"] = drift
    steps.update()
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    matched_users = tables["stages"][tables["stages"].stage.notna()]
    countries = tables["countries"][tables["countries"].stage.notna()]
    plots: list[tuple[str, Callable, pd.DataFrame]] = [
        ("Predicted and actual revenue per cohort", plot_cohorts, tables["cohorts"]),
        ("Calibration by decile", plot_deciles, tables["deciles"]),
        (f"Coverage by country (under {MIN_USERS} users: noise)", plot_coverage, countries),
        ("Gini by stage", plot_gini, matched_users),
    ]
    if drift is not None:
        plots.append(("Input drift", plot_drift, drift))
    sections = []
    for title, plot, frame in plots:
        image = f'<img src="data:image/png;base64,{_png(plot(frame))}">' if len(frame) else ""
        sections.append(f"<h2>{html.escape(title)}</h2>{image or '<p>No data yet.</p>'}")
    steps.update()
    sections.append(f"<h2>By stage</h2>{_table(tables['stages'])}")
    if drift is None:
        sections.append("<h2>Input drift</h2><p>The bundle stores no training distribution.</p>")
    else:
        sections.append(f"<h2>Input drift</h2>{_table(drift)}")
    page = out / PAGE
    page.write_text(
        "<!doctype html><meta charset='utf-8'><title>D7 monitoring</title><style>body{font-family:"
        "sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style>"
        f"<h1>D7 revenue monitoring, installs {since} to {until}</h1>"
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Tables as CSV: "
        + ", ".join(f"<a href='{name}.csv'>{name}</a>" for name in tables)
        + "</p>"
        + "".join(sections)
    )
    steps.update()
    steps.close()
    return page
