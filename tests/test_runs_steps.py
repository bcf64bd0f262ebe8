"""prepare_data: the loaded frame is described, then freed once split; the training frame
once encoded."""

from __future__ import annotations

import gc
import weakref

import recsys_lib.runs.steps as steps
from recsys_lib.data import describe_ratings, load_ratings, split_ratings
from recsys_lib.runs.classical import ClassicalParams


def test_the_loaded_and_training_frames_are_freed(monkeypatch) -> None:
    loaded = []

    def load_and_watch(*args, **kwargs):
        frame = load_ratings(*args, **kwargs)
        loaded.append((weakref.ref(frame), describe_ratings(frame)))
        return frame

    def split_and_watch(*args, **kwargs):
        split = split_ratings(*args, **kwargs)
        train_frames.append(weakref.ref(split.train))
        return split

    train_frames = []
    monkeypatch.setattr(steps, "load_ratings", load_and_watch)
    monkeypatch.setattr(steps, "split_ratings", split_and_watch)
    data = steps.prepare_data(ClassicalParams(SAMPLE_SIZE=5_000))
    gc.collect()
    (frame, described), = loaded
    assert frame() is None  # no reference kept: the split's frames hold the ratings
    (train_frame,) = train_frames
    assert train_frame() is None  # nor to the training frame: the encoded matrix holds it
    assert data.loaded == described
    summary = data.summary()
    assert summary["n_ratings"] == data.split.n_train + len(data.split.test) == 5_000
    assert data.split.n_train == data.train.nnz
    assert summary["split"]["n_train_users"] == data.train.n_users
    assert summary["sample"] == described["sample"] and summary["sample"]["sample_size"] == 5_000
    table = data.footprint_table().set_index("structure")["MB"]
    assert table["loaded frame (freed after the split)"] == round(described["memory_mb"], 3)
    held = table.drop("loaded frame (freed after the split)").sum()
    assert abs(data.footprint_mb - held) < 0.01
