"""W&B tracking at a run's end, offline, into a temporary folder."""

from __future__ import annotations

import logging

import pytest

from recsys_lib.runs.record import RunRecord
from recsys_lib.runs.tracking import track_run_end


def test_an_offline_wandb_run_holds_params_history_and_metrics(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_root"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb_root").mkdir()
    record = RunRecord(tmp_path / "run", "vae_training",
                       {"TRACKING": "wandb", "SEED": 7, "EXPERIMENT_ID": "kl"})
    record.add("config", {"model": "rating_vae", "kl_weight": 0.02})
    record.add("history", [{"epoch": 1, "train_loss": 1.5, "val_rmse": 1.1},
                           {"epoch": 2, "train_loss": 1.2, "val_rmse": 1.0}])
    record.add_metrics("RatingVAE", {"rmse": 0.93})
    record.finish()
    runs = list((tmp_path / "wandb_root" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (stored,) = runs[0].glob("run-*.wandb")  # what `wandb sync` uploads later
    data = stored.read_bytes()
    for written in (b"kl_weight", b"SEED", b"val_rmse", b"train_loss", b"RatingVAE/rmse",
                    b"0.93", b"kl"):
        assert written in data, written


def test_tracking_without_wandb_is_a_warning(monkeypatch, tmp_path, caplog):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("no wandb")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with caplog.at_level(logging.WARNING, logger="recsys_lib.runs.tracking"):
        assert track_run_end({"params": {"TRACKING": "wandb"}, "status": "ok"}, tmp_path) is False
    assert "wandb is not installed" in caplog.text


def test_tracking_is_a_checked_parameter():
    from recsys_lib.runs.params import NotebookParams

    with pytest.raises(ValueError, match="TRACKING must be one of wandb"):
        NotebookParams.from_dict({"TRACKING": "mlflow"})
