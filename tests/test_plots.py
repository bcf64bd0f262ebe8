"""Figures: each draws what it is given and rejects input it cannot draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

from recsys_lib import plots
from recsys_lib.data import Interactions


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
                             "end_s": [1.0, 2.0], "peak_rss_mb": [150.0, 140.0]})
    ax, lanes = plots.plot_memory_timeline(samples, timeline).axes
    assert len(ax.lines) == 1 and list(ax.lines[0].get_ydata()) == [100.0, 150.0, 120.0]
    assert len(ax.patches) == 2  # the shaded stages
    assert [t.get_text() for t in lanes.texts] == ["load (150 MB peak)", "fit (140 MB peak)"]
    assert [(p.get_x(), p.get_width()) for p in lanes.patches] == [(0.0, 1.0), (1.0, 1.0)]


def _text_boxes(fig, texts) -> list[tuple[str, Bbox]]:
    """Each text's box in pixels, after laying the figure out as saving it would."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def test_memory_timeline_labels_do_not_overlap():
    # 14 stages, most of them a few milliseconds long, one nested inside another.
    starts = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 3.0, 3.01, 3.02, 3.5, 3.51, 3.52, 3.9, 0.0]
    ends = [0.01, 0.02, 0.03, 0.04, 0.05, 3.0, 3.01, 3.02, 3.5, 3.51, 3.52, 3.9, 4.0, 4.0]
    timeline = pd.DataFrame({"label": [f"evaluate model number {i}" for i in range(14)],
                             "start_s": starts, "end_s": ends, "peak_rss_mb": [200.0] * 14})
    samples = pd.DataFrame({"time_s": [0.0, 4.0], "rss_mb": [100.0, 200.0]})
    fig = plots.plot_memory_timeline(samples, timeline)
    boxes = _text_boxes(fig, fig.axes[1].texts)
    assert len(boxes) == 14
    overlapping = [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
                   if box_a.overlaps(box_b)]
    assert overlapping == []
    assert all(box.x0 >= 0 and box.x1 <= fig.bbox.width for _, box in boxes)


def test_error_metric_bars_zoom_in_on_the_values():
    table = pd.DataFrame({"rmse": [0.895, 0.891, 0.905], "ndcg@10": [0.1, 0.2, 0.3]},
                         index=["BiasBaseline", "SVD", "ItemKNN"])
    rmse, ndcg = [ax for ax in plots.plot_metrics(table).axes if ax.get_visible()]
    low, high = rmse.get_ylim()
    assert low == pytest.approx(0.891 - 0.007) and high == pytest.approx(0.905 + 0.0056)
    assert "axis not from 0" in rmse.get_title()
    assert ndcg.get_ylim()[0] == 0.0 and "axis not from 0" not in ndcg.get_title()
    assert [t.get_text() for t in rmse.texts] == ["0.895", "0.891", "0.905"]


def test_figures_show_as_png_in_ipython():
    from IPython.core.formatters import DisplayFormatter

    fig = plots.plot_metrics(pd.DataFrame({"rmse": [0.9, 0.8]}, index=["a", "b"]))
    data, _ = DisplayFormatter().format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_rating_distribution_counts_each_star_value(tiny_ratings):
    ax = plots.plot_rating_distribution(tiny_ratings).axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == sorted(tiny_ratings["rating"].value_counts().tolist())


def test_rating_distribution_of_a_split_counts_both_sides_together(tiny_ratings):
    half = len(tiny_ratings) // 2
    train, test = tiny_ratings.iloc[:half], tiny_ratings.iloc[half:]
    whole = plots.plot_rating_distribution(tiny_ratings)
    split = plots.plot_rating_distribution(train, test)
    for ax_whole, ax_split in zip(whole.axes, split.axes, strict=True):
        heights = [[p.get_height() for p in ax.patches] for ax in (ax_whole, ax_split)]
        assert heights[0] == heights[1]
        for line_whole, line_split in zip(ax_whole.lines, ax_split.lines, strict=True):
            np.testing.assert_array_equal(line_whole.get_ydata(), line_split.get_ydata())
    assert len(whole.axes[1].lines[0].get_ydata()) == tiny_ratings["user_id"].nunique()
    encoded = plots.plot_rating_distribution(Interactions.from_ratings(train), test)
    for ax_whole, ax_encoded in zip(whole.axes, encoded.axes, strict=True):
        assert [p.get_height() for p in ax_whole.patches] == [
            p.get_height() for p in ax_encoded.patches]
        for line_whole, line_encoded in zip(ax_whole.lines, ax_encoded.lines, strict=True):
            np.testing.assert_array_equal(line_whole.get_ydata(), line_encoded.get_ydata())
    with pytest.raises(ValueError, match="at least one ratings frame"):
        plots.plot_rating_distribution()


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
