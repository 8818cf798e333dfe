"""Coverage and width of the 80% intervals per segment, from the held-out predictions of
repeated cross-validation: what the model card and `python -m ops model card` report.

Certain zeros (interval [0, 0]: no ad exposure) are left out, so every share is of the users
whose revenue is uncertain. A segment is judged against the targets from MIN_JUDGED_USERS users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import MondrianIntervals
from .normalize import map_unique
from .schema import STAGE_EVENTS

MIN_JUDGED_USERS = 200
"""Segments with at least this many users must lie inside SEGMENT_TARGET."""
MIN_REPORTED_USERS = 50
"""Smaller segments are left out of the report (their coverage is mostly noise)."""
OVERALL_TARGET = (0.78, 0.82)
SEGMENT_TARGET = (0.72, 0.88)
KINDS = ("all", "segment", "country", "platform", "source")
"""`segment` is the calibration segment (stage | country group | platform | exposure bucket)."""


def segment_coverage(
    frame: pd.DataFrame, revenue: np.ndarray, held_out: pd.DataFrame, intervals: MondrianIntervals
) -> pd.DataFrame:
    """One row per stage, kind and segment: users (per repeat), coverage, median relative width."""
    data = held_out[~((held_out.lower == 0) & (held_out.upper == 0))].reset_index(drop=True)
    users = frame.iloc[data.row.to_numpy()]
    events = (data.stage == STAGE_EVENTS).to_numpy()
    segments = intervals.segments(
        events,
        users["country"].to_numpy(),
        users["platform"].to_numpy(),
        np.where(events, users["event_2"].to_numpy(float), np.nan),
        np.where(events, users["event_3"].to_numpy(float), np.nan),
    )
    truth = np.asarray(revenue, float)[data.row.to_numpy()]
    table = pd.DataFrame(
        {
            "stage": data.stage.to_numpy(),
            "all": "users with uncertain revenue",
            "segment": [intervals.segment_name(s) for s in segments],
            "country": map_unique(users["country"], "country").to_numpy(),
            "platform": map_unique(users["platform"], "platform").to_numpy(),
            "source": map_unique(users["source"], "source").to_numpy(),
            "covered": (truth >= data.lower.to_numpy()) & (truth <= data.upper.to_numpy()),
            "width": ((data.upper - data.lower) / data.predicted_revenue).to_numpy(),
        }
    )
    repeats = held_out.repeat.nunique()
    parts = []
    for kind in KINDS:
        grouped = table.groupby(["stage", kind]).agg(
            users=("covered", "size"), coverage=("covered", "mean"), width=("width", "median")
        )
        grouped = grouped.reset_index().rename(columns={kind: "name"}).assign(kind=kind)
        parts.append(grouped)
    result = pd.concat(parts, ignore_index=True)
    result["users"] = (result.users // repeats).astype(int)
    result = result[(result.users >= MIN_REPORTED_USERS) | (result.kind == "all")]
    result = result.rename(columns={"width": "median_relative_width"})
    columns = ["stage", "kind", "name", "users", "coverage", "median_relative_width"]
    result["order"] = result.kind.map(KINDS.index)
    result = result.sort_values(["stage", "order", "users"], ascending=[True, True, False])
    return result[columns].reset_index(drop=True)


def worst_segment(table: pd.DataFrame) -> pd.Series:
    """The judged segment (at least MIN_JUDGED_USERS users) furthest from the nominal 80%."""
    judged = table[(table.users >= MIN_JUDGED_USERS) & (table.kind != "all")]
    return judged.loc[(judged.coverage - 0.8).abs().idxmax()]


def card_entry(table: pd.DataFrame, coverage: float) -> dict:
    """The intervals section of a model card: definition, targets, every segment, the worst."""
    return {
        "nominal": coverage,
        "for_whom": (
            "users whose revenue is uncertain; users with no ad exposure get [0, 0] and are "
            "left out. Coverage is measured per segment on held-out users of the repeated CV"
        ),
        "targets": {
            "all": list(OVERALL_TARGET),
            f"every segment with >= {MIN_JUDGED_USERS} users": list(SEGMENT_TARGET),
        },
        "segments": table.round(4).to_dict("records"),
        "worst": table.round(4).loc[worst_segment(table).name].to_dict(),
    }


def coverage_lines(card: dict) -> list[str]:
    """The card's interval coverage per segment, for printing (`python -m ops model card`)."""
    entry = card.get("intervals")
    if not entry:
        return ["no interval coverage in this card"]
    lines = [
        f"{entry['nominal']:.0%} intervals, for {entry['for_whom']}:",
        f"{'stage':<13} {'kind':<9} {'segment':<52} {'users':>6} {'coverage':>9} {'med.width':>10}",
    ]
    for row in entry["segments"]:
        lines.append(
            f"{row['stage']:<13} {row['kind']:<9} {row['name']:<52} {row['users']:>6} "
            f"{row['coverage']:>9.3f} {row['median_relative_width']:>10.3g}"
        )
    worst = entry["worst"]
    lines.append(
        f"worst segment with >= {MIN_JUDGED_USERS} users: {worst['stage']} {worst['kind']} "
        f"{worst['name']} ({worst['users']} users): coverage {worst['coverage']:.3f}"
    )
    return lines
