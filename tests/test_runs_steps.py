"""prepare_data: the loaded frame is described, then freed once the split holds its rows."""

from __future__ import annotations

import gc
import weakref

import recsys_lib.runs.steps as steps
from recsys_lib.data import describe_ratings, load_ratings
from recsys_lib.runs.classical import ClassicalParams


def test_the_loaded_frame_is_described_then_freed(monkeypatch) -> None:
    loaded = []

    def load_and_watch(*args, **kwargs):
        frame = load_ratings(*args, **kwargs)
        loaded.append((weakref.ref(frame), describe_ratings(frame)))
        return frame

    monkeypatch.setattr(steps, "load_ratings", load_and_watch)
    data = steps.prepare_data(ClassicalParams(SAMPLE_SIZE=5_000))
    gc.collect()
    (frame, described), = loaded
    assert frame() is None  # no reference kept: the split's frames hold the ratings
    assert data.loaded == described
    summary = data.summary()
    assert summary["n_ratings"] == len(data.split.train) + len(data.split.test) == 5_000
    assert summary["sample"] == described["sample"] and summary["sample"]["sample_size"] == 5_000
    table = data.footprint_table().set_index("structure")["MB"]
    assert table["loaded frame (freed after the split)"] == round(described["memory_mb"], 3)
    held = table.drop("loaded frame (freed after the split)").sum()
    assert abs(data.footprint_mb - held) < 0.01
