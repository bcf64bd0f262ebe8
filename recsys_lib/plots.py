"""Matplotlib figures the notebooks and `recsys report` show.

Figures are `NotebookFigure`s: built without pyplot state, so they work headless, and
with a `_repr_png_`, so a figure returned from a cell shows as one PNG in any IPython
kernel, with or without the inline backend (papermill's plain `python3` kernel included).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recsys_lib.data.interactions import Interactions, count_by

__all__ = [
    "ERROR_METRICS",
    "NotebookFigure",
    "plot_memory_timeline",
    "plot_metrics",
    "plot_rating_distribution",
    "plot_runs",
    "plot_study",
    "plot_training_history",
    "plot_validation_curves",
    "save_figure",
    "save_figures",
]

#: Metrics where lower is better and the differences between models are small against
#: their size: their bar charts zoom in on the values instead of starting at zero.
ERROR_METRICS = ("rmse", "mae")
_LOWER_IS_BETTER = (*ERROR_METRICS, "fit_seconds", "peak_rss_mb")
_DEFAULT_METRICS = (
    "rmse",
    "mae",
    "precision@10",
    "recall@10",
    "ndcg@10",
    "fit_seconds",
    "peak_rss_mb",
)


class NotebookFigure(Figure):
    """A matplotlib Figure that IPython displays as a PNG (100 dpi) by itself."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def plot_metrics(table: pd.DataFrame, metrics: tuple[str, ...] = _DEFAULT_METRICS) -> Figure:
    """Bar chart per metric, one bar per model (`table` as from `report.results_table`).

    Bars of `ERROR_METRICS` (RMSE, MAE) do not start at zero: the axis spans the values
    with a margin, so 0.891 and 0.895 look different, and the title says so.
    """
    shown = [m for m in metrics if m in table and table[m].notna().any()]
    if not shown:
        raise ValueError(
            f"none of {list(metrics)} are in the table's columns {list(table.columns)}"
        )
    columns = min(4, len(shown))
    rows = int(np.ceil(len(shown) / columns))
    fig = NotebookFigure(figsize=(3.6 * columns, 2.9 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, metric in zip(axes, shown, strict=False):
        values = table[metric].dropna()
        heights = values.to_numpy(dtype=float)
        bars = ax.bar(values.index.astype(str), heights, color="#4C72B0")
        zoomed = metric in ERROR_METRICS
        ax.bar_label(bars, fmt="%.4g" if zoomed else "%.3g", fontsize=8)
        notes = ["lower is better" if metric in _LOWER_IS_BETTER else "",
                 "axis not from 0" if zoomed else ""]
        if zoomed:
            ax.set_ylim(*_zoomed_limits(heights))
        else:
            ax.margins(y=0.15)  # room for the bar labels under the title
        ax.set_title("\n".join([metric, ", ".join(n for n in notes if n)]).strip(),
                     fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle("Held-out metrics per model")
    return fig


def _zoomed_limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits around `values` with room for the bar labels: a margin of half the
    spread below and 40% above (5% of the largest value when they are all equal)."""
    low, high = float(np.min(values)), float(np.max(values))
    spread = high - low or 0.05 * abs(high) or 1.0
    return max(low - 0.5 * spread, 0.0), high + 0.4 * spread


def plot_memory_timeline(samples: pd.DataFrame, timeline: pd.DataFrame) -> Figure:
    """Process RSS (MB) over the run, with the tracked stages below it, one row each.

    The upper panel shades the stages behind the RSS curve; the lower one draws each stage
    as a bar on its own row, labelled with its name and peak RSS, so labels never overlap
    however short or nested the stages are.

    Args:
        samples: `MemoryMonitor.samples()` (time_s, rss_mb).
        timeline: `MemoryMonitor.timeline()` (label, start_s, end_s, peak_rss_mb).
    """
    rows = len(timeline)
    fig = NotebookFigure(figsize=(10, 3.0 + (0.6 + 0.22 * rows if rows else 0)),
                         layout="constrained")
    if rows:
        ax, lanes = fig.subplots(2, 1, sharex=True,
                                 gridspec_kw={"height_ratios": [3.0, 0.6 + 0.22 * rows]})
    else:
        ax, lanes = fig.subplots(), None
    if not samples.empty:
        ax.plot(samples["time_s"], samples["rss_mb"], color="#C44E52", lw=1.2, label="RSS")
    colours = ["#dde6f3", "#f3e5dd"]
    for position, stage in enumerate(timeline.itertuples(index=False)):
        ax.axvspan(stage.start_s, stage.end_s, color=colours[position % 2], alpha=0.9, lw=0)
    ax.set_ylabel("resident memory (MB)")
    ax.set_title("Memory across the run")
    if lanes is None:
        ax.set_xlabel("seconds since the monitor started")
        return fig
    _draw_stage_lanes(lanes, timeline)
    lanes.set_xlabel("seconds since the monitor started")
    return fig


def _draw_stage_lanes(ax: Axes, timeline: pd.DataFrame) -> None:
    """One bar per stage on its own row (first stage on top), labelled beside the bar on
    the side with room, or inside it when neither side has any."""
    end = float(timeline["end_s"].max()) or 1.0
    pad = 0.008 * end
    for row, stage in enumerate(timeline.itertuples(index=False)):
        width = max(stage.end_s - stage.start_s, 0.002 * end)
        ax.barh(row, width, left=stage.start_s, height=0.7, color="#9db7dd")
        text = f"{stage.label} ({stage.peak_rss_mb:,.0f} MB peak)"
        if stage.end_s <= 0.6 * end:
            x, ha = stage.start_s + width + pad, "left"
        elif stage.start_s >= 0.4 * end:
            x, ha = stage.start_s - pad, "right"
        else:
            x, ha = stage.start_s + pad, "left"
        ax.text(x, row, text, ha=ha, va="center", fontsize=7)
    ax.set_ylim(len(timeline) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_ylabel("stages")


def plot_rating_distribution(*ratings: pd.DataFrame | Interactions) -> Figure:
    """Rating histogram, and ratings per user and per item (log scale, the long tail), of
    the ratings in `ratings` together: one frame, or a split's two sides (frames, or the
    encoded training `Interactions` and the test frame)."""
    if not ratings:
        raise ValueError("plot_rating_distribution needs at least one ratings frame")

    def counts_of(column: str) -> pd.Series:
        return pd.concat([count_by(part, column) for part in ratings]).groupby(level=0).sum()

    fig = NotebookFigure(figsize=(12, 3.4), layout="constrained")
    ax_rating, ax_users, ax_items = fig.subplots(1, 3)
    counts = counts_of("rating").sort_index()
    ax_rating.bar(counts.index.astype(float), counts.to_numpy(), width=0.4, color="#55A868")
    ax_rating.set(title="Ratings", xlabel="stars", ylabel="count")
    for ax, column, name in ((ax_users, "user_id", "user"), (ax_items, "item_id", "item")):
        per = np.sort(counts_of(column).to_numpy())[::-1]
        ax.loglog(np.arange(1, len(per) + 1), per, color="#8172B2")
        ax.set(title=f"Ratings per {name} (rank order)", xlabel=f"{name} rank", ylabel="ratings")
    return fig


def plot_training_history(history: pd.DataFrame) -> Figure:
    """Training curves per epoch: losses, KL, validation metric, learning rate, memory.

    Plots every column of `history` that is present among: train_loss, val_loss, kl,
    recon_loss, val_metric/val_rmse/val_ndcg, lr, rss_mb, gpu_peak_mb.
    """
    groups = [
        ("loss", [c for c in history if c.endswith("loss") or c in ("recon", "recon_loss")]),
        ("KL", [c for c in history if c in ("kl", "kl_weight")]),
        ("validation", [c for c in history if c.startswith("val_") and not c.endswith("loss")]),
        ("learning rate", [c for c in history if c == "lr"]),
        ("memory (MB)", [c for c in history if c.endswith("_mb")]),
    ]
    groups = [(title, cols) for title, cols in groups if cols]
    if not groups:
        raise ValueError(f"history has no plottable columns: {list(history.columns)}")
    fig = NotebookFigure(figsize=(3.6 * len(groups), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, (title, cols) in zip(axes, groups, strict=False):
        for column in cols:
            ax.plot(x, history[column], marker="o", ms=3, label=column)
        ax.set(title=title, xlabel="epoch")
        ax.legend(fontsize=7)
    return fig


def plot_validation_curves(curves: dict[str, pd.DataFrame]) -> Figure:
    """The runs' per-epoch curves overlaid: one panel per validation metric (val_*) and
    one for the training loss, one line per run (`Report.curves()`: label -> history).

    Raises:
        ValueError: no run has a validation column or a training loss.
    """
    columns = list(dict.fromkeys(column for history in curves.values() for column in history
                                 if column.startswith("val_") or column == "train_loss"))
    columns.sort(key=lambda column: column == "train_loss")  # validation first
    if not columns:
        raise ValueError("no run has per-epoch validation metrics or a training loss "
                         "(results.json 'history')")
    fig = NotebookFigure(figsize=(4.8 * len(columns), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(columns)))
    for ax, column in zip(axes, columns, strict=True):
        for label, history in curves.items():
            if column in history:
                x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
                ax.plot(x, history[column], marker="o", ms=3, label=label)
        ax.set(title=column, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0].get_legend_handles_labels()
    longest = max((len(label) for label in labels), default=0)
    fig.legend(handles, labels, loc="outside lower center", fontsize=7,
               ncols=max(1, min(len(labels), int(6.5 * len(columns) // max(longest, 1)))))
    return fig


def plot_study(
    trials: pd.DataFrame, metric: str, direction: str, importances: dict[str, float]
) -> Figure:
    """A search at a glance: each trial's value and the best so far (the optimisation
    history), and the parameters' importances when known.

    Args:
        trials: one row per trial with number, state and `metric` (as `tune` writes).
        metric: the optimised metric.
        direction: "minimize" or "maximize".
        importances: parameter -> importance (summing to 1); empty leaves the panel out.
    """
    panels = 2 if importances else 1
    fig = NotebookFigure(figsize=(5.2 * panels, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels))
    done = trials[trials["state"] == "complete"]
    pruned = trials[trials["state"] == "pruned"]
    ax = axes[0]
    ax.scatter(done["number"], done[metric], color="#4C72B0", label="complete", zorder=3)
    if len(pruned) and pruned[metric].notna().any():
        ax.scatter(pruned["number"], pruned[metric], color="#BBBBBB", label="pruned")
    if len(done):
        values = done[metric].to_numpy(dtype=float)
        best = np.minimum.accumulate(values) if direction == "minimize" else (
            np.maximum.accumulate(values))
        ax.step(done["number"], best, where="post", color="#C44E52", label="best so far")
    ax.set(title="optimisation history", xlabel="trial", ylabel=f"validation {metric}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    if importances:
        names = list(importances)[::-1]
        axes[1].barh(names, [importances[name] for name in names], color="#55A868")
        axes[1].set(title="parameter importance", xlabel="share of the variance (fANOVA)")
    return fig


def plot_runs(table: pd.DataFrame, metric: str) -> Figure:
    """Horizontal bars of `metric` per (run, model), as from `report.collect_runs`."""
    if metric not in table:
        raise ValueError(f"metric {metric!r} is not in the runs table; have {list(table.columns)}")
    shown = table.dropna(subset=[metric])
    labels = (
        shown["run"].astype(str)
        + " / "
        + shown.get("model", pd.Series("", index=shown.index)).astype(str)
    )
    fig = NotebookFigure(figsize=(8, 0.35 * max(len(shown), 3) + 1), layout="constrained")
    ax = fig.subplots()
    ax.barh(labels, shown[metric].to_numpy(dtype=float), color="#4C72B0")
    ax.invert_yaxis()
    ax.set(xlabel=metric, title=f"{metric} per run")
    return fig


def save_figure(fig: Figure, folder: str | Path, name: str) -> Path:
    """Save `fig` as `<folder>/<name>.png` (150 dpi) and return the path."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def save_figures(folder: str | Path, **figures: Figure) -> list[str]:
    """Save each figure as `<folder>/<name>.png` (`save_figures(folder, metrics=fig)`);
    returns the paths as strings, JSON-ready."""
    return [str(save_figure(fig, folder, name)) for name, fig in figures.items()]
