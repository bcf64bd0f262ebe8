"""Figures: each draws what it is given and rejects input it cannot draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib import plots


def test_plot_metrics_draws_one_axis_per_available_metric(tmp_path):
    table = pd.DataFrame({"rmse": [0.9, np.nan], "ndcg@10": [0.1, 0.2]}, index=["SVD", "ALS"])
    fig = plots.plot_metrics(table)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().splitlines()[0] for ax in visible] == ["rmse", "ndcg@10"]
    assert len(visible[0].patches) == 1  # ALS has no RMSE bar
    path = plots.save_figure(fig, tmp_path, "metrics")
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="none of"):
        plots.plot_metrics(pd.DataFrame({"other": [1.0]}))


def test_memory_timeline_shades_each_stage():
    samples = pd.DataFrame({"time_s": [0.0, 1.0, 2.0], "rss_mb": [100.0, 150.0, 120.0]})
    timeline = pd.DataFrame({"label": ["load", "fit"], "start_s": [0.0, 1.0],
                             "end_s": [1.0, 2.0], "peak_rss_mb": [150.0, 150.0]})
    ax = plots.plot_memory_timeline(samples, timeline).axes[0]
    assert len(ax.lines) == 1 and list(ax.lines[0].get_ydata()) == [100.0, 150.0, 120.0]
    assert [t.get_text() for t in ax.texts] == ["load", "fit"]


def test_rating_distribution_counts_each_star_value(tiny_ratings):
    ax = plots.plot_rating_distribution(tiny_ratings).axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == sorted(tiny_ratings["rating"].value_counts().tolist())


def test_training_history_groups_columns():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                            "kl": [0.1, 0.2], "lr": [1e-3, 5e-4], "rss_mb": [200.0, 210.0]})
    fig = plots.plot_training_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "KL", "learning rate", "memory (MB)"]
    with pytest.raises(ValueError, match="no plottable columns"):
        plots.plot_training_history(pd.DataFrame({"epoch": [1]}))


def test_plot_runs_needs_the_metric():
    table = pd.DataFrame({"run": ["a", "b"], "model": ["ALS", "SVD"], "ndcg@10": [0.2, 0.1]})
    assert len(plots.plot_runs(table, "ndcg@10").axes[0].patches) == 2
    with pytest.raises(ValueError, match="metric 'rmse' is not in the runs table"):
        plots.plot_runs(table, "rmse")
