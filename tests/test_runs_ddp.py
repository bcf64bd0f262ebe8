"""The VAE notebook's training on several processes (gloo on the CPU): `train_vae` with a
world size, SIGTERM passed on to the workers, the torchrun entry point, the GPUS
parameter and the per-card memory plan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_lib.config import ConfigError
from recsys_lib.data import Interactions, split_ratings
from recsys_lib.memory import MemoryMonitor
from recsys_lib.models.vae import load_config
from recsys_lib.runs.notebooks import resumed_params
from recsys_lib.runs.signals import RunInterrupted
from recsys_lib.runs.train_job import load_trained, write_job
from recsys_lib.runs.vae import VAEData, VAEParams, train_vae, training_world_size
from recsys_lib.training import plan_training
from recsys_lib.training.checkpoint import load_checkpoint


def carve_out(ratings: pd.DataFrame) -> tuple[VAEData, Interactions]:
    inner = split_ratings(ratings, "random", test_fraction=0.2, seed=1)
    return (VAEData(Interactions.from_ratings(inner.train), Interactions.from_ratings(inner.test)),
            Interactions.from_ratings(ratings))


def test_train_vae_on_two_processes_returns_rank_zeros_fits(tiny_ratings, tmp_path):
    config = load_config("test_tiny", {"epochs": 3, "patience": None,
                                       "checkpoint_dir": str(tmp_path), "full_checkpoints": True})
    data, train = carve_out(tiny_ratings)
    trained = train_vae(config, data, train, MemoryMonitor(), world_size=2)
    selection, model = trained.selection, trained.model
    assert len(selection.history_) == 3 and len(model.history_) == 3
    assert np.isfinite(selection.history_["val_rmse"]).all()
    frame = data.validation.to_frame()
    predicted = model.predict(frame["user_id"].to_numpy(), frame["item_id"].to_numpy())
    assert predicted.shape == (len(frame),) and np.isfinite(predicted).all()
    # one set of checkpoints (rank 0's), resumable in one process
    assert load_checkpoint(tmp_path / "last.pt", kind="full")["trainer"]["epoch"] == 3
    assert load_checkpoint(tmp_path / "refit" / "last.pt", kind="full")["trainer"]["epoch"] == 3


def test_sigterm_to_the_notebook_stops_the_workers_with_a_checkpoint(tiny_ratings, tmp_path):
    config = load_config("test_tiny", {"epochs": 500, "patience": None,
                                       "checkpoint_dir": str(tmp_path), "full_checkpoints": True})
    data, train = carve_out(tiny_ratings)
    last = tmp_path / "last.pt"

    def terminate_once_an_epoch_is_saved() -> None:
        deadline = time.monotonic() + 120
        while not last.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_an_epoch_is_saved, daemon=True).start()
    with pytest.raises(RunInterrupted, match="SIGTERM") as stopped:
        train_vae(config, data, train, MemoryMonitor(), world_size=2)
    assert stopped.value.checkpoint == last
    epoch = load_checkpoint(last, kind="full")["trainer"]["epoch"]
    assert 1 <= epoch < 500


def test_torchrun_trains_a_written_job(tiny_ratings, tmp_path):
    config = load_config("test_tiny", {"epochs": 2, "patience": None,
                                       "checkpoint_dir": str(tmp_path / "checkpoints")})
    data, train = carve_out(tiny_ratings)
    job = write_job(tmp_path / "job.pt", config, data, train)
    out = tmp_path / "trained.pt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", "-m", "recsys_lib.runs.train_job", str(job), str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    trained = load_trained(out)
    assert len(trained.model.history_) == 2
    assert (tmp_path / "checkpoints" / "refit").is_dir()


def test_gpus_picks_the_world_size(monkeypatch):
    assert training_world_size(None, "cpu") == 1
    assert training_world_size(4, "cpu") == 1  # ignored on the CPU
    monkeypatch.setattr("recsys_lib.runs.vae.resolve_device", lambda device: "cuda")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert training_world_size(None, None) == 2
    assert training_world_size(1, None) == 1
    with pytest.raises(ValueError, match="GPUS=3, but 2 CUDA card"):
        training_world_size(3, None)
    with pytest.raises(ValueError, match="GPUS must be positive"):
        VAEParams(GPUS=0)


def test_the_plan_judges_each_card_and_reports_the_worst():
    module = torch.nn.Linear(500, 500)  # 250k parameters: 4 MB with Adam
    settings = {"batch_size": 64, "micro_batch_size": 64, "activation_bytes_per_sample": 10**5,
                "device": "cuda", "world_size": 2}
    roomy, cramped = 10**9, 8 * 10**6
    plan = plan_training(module, available_bytes=[roomy, cramped], **settings)
    assert [card.verdict for card in plan.cards] == ["fits", "will not fit"]
    assert plan.verdict == "will not fit" and plan.suggested_micro_batch is not None
    table = dict(plan.to_frame().values)
    assert table["cuda:1"].endswith("will not fit") and "x 2 processes" in table["device"]
    assert plan.summary()["cards"][0] == {"device": "cuda:0", "available_mb": pytest.approx(
        roomy / 2**20, abs=0.1), "verdict": "fits"}
    one = plan_training(module, available_bytes=roomy, **{**settings, "world_size": 1})
    assert one.cards == () and one.estimate_mb == plan.estimate_mb  # per card, unchanged
    # processes on the CPU share the machine's memory: their estimates add up
    cpu = {**settings, "device": "cpu"}
    just_one = 1.5 * plan.estimate_mb * 2**20
    assert plan_training(module, available_bytes=int(just_one), **{**cpu, "world_size": 1}
                         ).verdict != "will not fit"
    assert plan_training(module, available_bytes=int(just_one), **cpu).verdict == "will not fit"


def test_a_resumed_run_may_train_on_another_number_of_gpus(tmp_path):
    original = VAEParams(CONFIG="test_tiny", GPUS=2, RESULTS_DIR=str(tmp_path)).as_dict()
    (tmp_path / "results.json").write_text(json.dumps({"status": "interrupted",
                                                       "params": original}))
    params = resumed_params(VAEParams, tmp_path, {"GPUS": 1, "RESUME": str(tmp_path)})
    assert (params["GPUS"], params["CONFIG"]) == (1, "test_tiny")
    with pytest.raises(ConfigError, match="EPOCHS=3"):
        resumed_params(VAEParams, tmp_path, {"GPUS": 1, "EPOCHS": 3})
