"""Figures of the model-development notebook: data and exploration.

Every function returns a matplotlib `Figure` (not registered with pyplot, so nothing leaks between
calls) with a title, axis labels and units. Revenue is in the data's own currency units, which the
data set does not name. PNG at a modest resolution keeps the executed notebook small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

DPI = 72
REVENUE = "D7 revenue (data currency)"
RATE = "revenue per exposure event (data currency)"
COLORS = {"android": "tab:green", "ios": "tab:blue", "unknown": "tab:gray"}
ANOMALY_COLOR = "tab:red"


def new_figure(columns: int = 1, width: float = 6.0, height: float = 4.0, rows: int = 1):
    """A constrained-layout figure and its axes (a flat array)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    return figure, axes


def revenue_distribution(revenue: np.ndarray, anomalous: np.ndarray, label: str) -> Figure:
    """Histogram of positive revenue on a log scale, the anomalous country stacked apart."""
    revenue = np.asarray(revenue, float)
    positive = revenue > 0
    figure, (ax,) = new_figure(width=8, height=3.8)
    low, high = np.log10(revenue[positive].min()), np.log10(revenue.max())
    bins = np.logspace(low, high, 60)
    ax.hist(
        [revenue[positive & ~anomalous], revenue[positive & anomalous]],
        bins=bins,
        stacked=True,
        color=["tab:blue", ANOMALY_COLOR],
        label=["other countries", label],
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"{REVENUE}, log scale")
    ax.set_ylabel("users")
    ax.set_title(
        f"D7 revenue of the {positive.sum():,} paying users "
        f"({1 - positive.mean():.1%} of all users have none)"
    )
    ax.legend()
    return figure


def lorenz_curves(curves: Mapping[str, np.ndarray], top: float = 0.01) -> Figure:
    """Share of revenue carried by the top users, for each named set of revenues."""
    figure, (ax,) = new_figure(width=6, height=4.5)
    for name, revenue in curves.items():
        revenue = np.sort(np.asarray(revenue, float))[::-1]
        users = np.arange(1, len(revenue) + 1) / len(revenue)
        share = np.cumsum(revenue) / revenue.sum()
        at_top = share[max(0, int(round(top * len(revenue))) - 1)]
        ax.plot(users, share, label=f"{name}: top {top:.0%} carry {at_top:.1%}")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="equal revenue for everybody")
    ax.set_xscale("log")
    ax.set_xlabel("share of users, highest revenue first (log scale)")
    ax.set_ylabel("cumulative share of total D7 revenue")
    ax.set_title("Concentration of D7 revenue (Lorenz curve)")
    ax.legend(loc="lower right", fontsize=8)
    return figure


def revenue_vs_events(
    frame: pd.DataFrame,
    revenue: np.ndarray,
    platform: np.ndarray,
    anomalous: np.ndarray,
    label: str,
) -> Figure:
    """Revenue against each event count (log-log), coloured by platform, the anomaly apart."""
    revenue = np.asarray(revenue, float)
    figure, axes = new_figure(columns=3, width=13, height=4.2)
    for ax, column in zip(axes, ("event_1", "event_2", "event_3"), strict=True):
        counts = frame[column].to_numpy(float)
        keep = (revenue > 0) & ~np.isnan(counts)
        for name, color in COLORS.items():
            rows = keep & (platform == name) & ~anomalous
            ax.scatter(counts[rows] + 1, revenue[rows], s=3, alpha=0.3, color=color, label=name)
        rows = keep & anomalous
        ax.scatter(
            counts[rows] + 1, revenue[rows], s=8, marker="x", color=ANOMALY_COLOR, label=label
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{column} + 1 (count, log scale)")
        ax.set_ylabel(f"{REVENUE}, log scale")
        ax.set_title(f"revenue vs {column} (paying users)")
    axes[0].legend(markerscale=3, fontsize=8)
    return figure


def rate_by_group(rates: pd.DataFrame, countries: Sequence[str]) -> Figure:
    """Revenue per exposure event per user, by country and platform (box plots, log scale)."""
    figure, (ax,) = new_figure(width=8, height=0.32 * 2 * len(countries) + 1.2)
    groups, labels, colors = [], [], []
    for country in countries:
        for platform in ("android", "ios"):
            values = rates.loc[
                (rates.country == country) & (rates.platform == platform) & (rates.rate > 0), "rate"
            ]
            if len(values):
                groups.append(values.to_numpy())
                labels.append(f"{country} {platform} ({len(values)})")
                colors.append(COLORS[platform])
    boxes = ax.boxplot(groups, orientation="horizontal", patch_artist=True, showfliers=False)
    for patch, color in zip(boxes["boxes"], colors, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.5)
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"{RATE}, log scale")
    ax.set_ylabel("country, platform (users)")
    ax.set_title(
        "Revenue per exposure (event_2 + event_3) is nearly constant per country x platform"
    )
    return figure


def segment_bars(tables: Mapping[str, pd.DataFrame], value: str, xlabel: str, title: str) -> Figure:
    """One horizontal bar panel per table (segment -> value), user counts in the labels."""
    figure, axes = new_figure(columns=len(tables), width=4.3 * len(tables), height=4)
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        labels = [
            f"{index} ({users})" for index, users in zip(table.index, table.users, strict=True)
        ]
        ax.barh(labels, table[value], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{name} (users)")
        ax.set_title(f"by {name}")
        ax.tick_params(axis="y", labelsize=8)
    figure.suptitle(title)
    return figure


def comparison_bars(
    means: pd.DataFrame, panels: Mapping[str, tuple[str, bool]], title: str, highlight: str = ""
) -> Figure:
    """One panel per metric (column of `means`: (axis label, log scale)), one bar per model."""
    figure, axes = new_figure(columns=len(panels), width=4.2 * len(panels), height=4.5)
    for number, (ax, (metric, (label, log))) in enumerate(zip(axes, panels.items(), strict=True)):
        values = means[metric]
        colors = ["tab:orange" if name == highlight else "tab:blue" for name in values.index]
        ax.barh(range(len(values)), values.to_numpy(), color=colors)
        ax.set_yticks(
            range(len(values)), values.index if number == 0 else [""] * len(values), fontsize=8
        )
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_title(metric)
    axes[0].set_ylabel("model")
    figure.suptitle(title)
    return figure
