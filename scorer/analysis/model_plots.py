"""Figures of the model-development notebook: evaluation, explanation and the business reading.

Same conventions as `scorer.plots`: each function returns a titled, labelled `Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import metrics
from .business import PERFECT
from .plots import REVENUE, new_figure

FLOOR = 1e-4
"""Mean revenues below this are drawn at it, so log axes can show deciles with no revenue."""


def calibration_deciles(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """Mean predicted vs mean actual revenue per decile of prediction (log-log, diagonal = calibrated)."""
    figure, (ax,) = new_figure(width=6, height=5)
    low, high, floored = np.inf, 0.0, False
    for name, (y_true, y_pred) in curves.items():
        table = metrics.decile_table(y_true, y_pred)
        x, y = np.maximum(table.mean_pred, FLOOR), np.maximum(table.mean_true, FLOOR)
        floored |= bool((table.mean_pred < FLOOR).any() or (table.mean_true < FLOOR).any())
        mape = metrics.decile_mape(y_true, y_pred)
        ax.plot(x, y, marker="o", label=f"{name} (decile MAPE {mape:.3f})")
        low, high = min(low, x.min(), y.min()), max(high, x.max(), y.max())
    ax.plot([low, high], [low, high], color="gray", linestyle=":", label="perfect calibration")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"mean predicted {REVENUE} per decile, log scale")
    ax.set_ylabel(f"mean actual {REVENUE} per decile, log scale")
    ax.set_title(
        title + (f"\n(deciles averaging under {FLOOR:g} drawn at {FLOOR:g})" if floored else "")
    )
    ax.legend(fontsize=8)
    return figure


def gain_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """Cumulative share of revenue captured by the top-predicted users, with the normalised Gini."""
    figure, (ax,) = new_figure(width=6, height=5)
    for name, (y_true, y_pred) in curves.items():
        users, share = metrics.gain_curve(y_true, y_pred)
        gini = metrics.normalized_gini(y_true, y_pred)
        ax.plot(users, share, label=f"{name} (normalised Gini {gini:.3f})")
    first = next(iter(curves.values()))[0]
    users, share = metrics.gain_curve(first, first)
    ax.plot(users, share, color="black", linestyle="--", label="perfect ordering")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="random ordering")
    ax.set_xlabel("share of users, highest prediction first")
    ax.set_ylabel("cumulative share of actual D7 revenue")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return figure


def residuals(y_true: np.ndarray, y_pred: np.ndarray, title: str) -> Figure:
    """Actual / predicted against the prediction (log-log density), for users with revenue."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    keep = (y_true > 0) & (y_pred > 0)
    figure, (ax,) = new_figure(width=7, height=4.5)
    image = ax.hexbin(
        np.log10(y_pred[keep]),
        np.log10(y_true[keep] / y_pred[keep]),
        gridsize=50,
        bins="log",
        cmap="viridis",
        mincnt=1,
    )
    figure.colorbar(image, ax=ax, label="users (log scale)")
    ax.axhline(0, color="white", linestyle=":")
    ax.set_xlabel(f"log10 predicted {REVENUE}")
    ax.set_ylabel("log10 (actual / predicted)")
    zeros = int(((y_true == 0) & (y_pred > 0)).sum())
    ax.set_title(f"{title}\n({zeros} users with no revenue but a positive prediction not shown)")
    return figure


def coverage_bars(tables: Mapping[str, pd.DataFrame], target: float, title: str) -> Figure:
    """80% interval coverage per segment, one panel per segment column; small segments in grey."""
    figure, axes = new_figure(columns=len(tables), width=4.3 * len(tables), height=4)
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        labels = [
            f"{index} ({users})" for index, users in zip(table.index, table.users, strict=True)
        ]
        colors = ["tab:gray" if small else "tab:blue" for small in table.too_small]
        ax.barh(labels, table.coverage, color=colors)
        ax.axvline(target, color="tab:red", linestyle="--", label=f"target {target:.0%}")
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of users inside their interval")
        ax.set_ylabel(f"{name} (users; grey = too small to judge)")
        ax.set_title(f"by {name}")
        ax.tick_params(axis="y", labelsize=8)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    return figure


def importance_bars(tables: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """Mean |log contribution| per part of the prediction, one panel per stage."""
    figure, axes = new_figure(columns=len(tables), width=6 * len(tables), height=4.5)
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        values = table["mean |log contribution|"]
        ax.barh(values.index, values.to_numpy(), color="tab:blue")
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("mean |contribution| to log predicted revenue (log scale)")
        ax.set_ylabel("part of the prediction")
        ax.set_title(name)
        ax.tick_params(axis="y", labelsize=8)
    figure.suptitle(title)
    return figure


def dependence(values: pd.Series, contribs: pd.Series, color: pd.Series, title: str) -> Figure:
    """One feature's value against its contribution (a SHAP dependence plot)."""
    figure, (ax,) = new_figure(width=6.5, height=4)
    image = ax.scatter(values + 1, contribs, c=color, s=4, cmap="coolwarm", alpha=0.6)
    figure.colorbar(image, ax=ax, label=color.name)
    ax.set_xscale("log")
    ax.set_xlabel(f"{values.name} + 1 (count, log scale)")
    ax.set_ylabel("contribution to log predicted revenue")
    ax.set_title(title)
    return figure


def roas_chart(simulation: pd.DataFrame, title: str) -> Figure:
    """D7 profit and D7 ROAS per cost per install, one line per bid rule."""
    figure, axes = new_figure(columns=2, width=11, height=4)
    for rule, rows in simulation.groupby("rule", sort=False):
        # the bound is dashed, so a rule that reaches it stays visible underneath
        style = {"color": "black", "linestyle": "--"} if rule == PERFECT else {"marker": "o"}
        axes[0].plot(rows.cpi, rows["d7 profit"], label=rule, **style)
        axes[1].plot(rows.cpi, rows["d7 roas"], label=rule, **style)
    axes[0].axhline(0, color="gray", linestyle=":")
    axes[1].axhline(1, color="gray", linestyle=":")
    for ax, label in zip(
        axes, ("D7 profit (data currency)", "D7 ROAS (revenue / spend)"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_xlabel("cost per install (data currency, log scale)")
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0] + " by bid rule")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    return figure
