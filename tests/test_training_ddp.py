"""Data-parallel training on the CPU: two processes on the gloo backend against one process
with the same effective batch; out-of-memory agreement; a killed rank; resume at another
world size."""

from __future__ import annotations

import itertools
import os
import signal

import pytest
import torch
from torch import nn

from recsys_lib.training import (
    LossOutput,
    TensorBatches,
    Trainer,
    TrainerConfig,
    load_checkpoint,
)
from recsys_lib.training.batching import shard_range
from recsys_lib.training.launch import WorkerDied, launch
from recsys_lib.training.recovery import StopFlag
from recsys_lib.training.replicas import Replicas

N_SAMPLES, BATCH = 65, 16  # 5 steps per epoch; the last batch holds one sample


def config(**overrides) -> TrainerConfig:
    values = {"epochs": 2, "batch_size": BATCH, "micro_batch_size": 8, "lr": 0.05,
              "mixed_precision": "off", "progress": False, "device": "cpu",
              "max_minutes": None, "patience": None, "gradient_clipping": 1.0}
    return TrainerConfig(**{**values, **overrides})


def regression_data() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N_SAMPLES, 3, generator=generator)
    return [x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(N_SAMPLES,
                                                                       generator=generator)]


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))


class SquaredError:
    """Mean squared error of a micro-batch; optionally a fake out-of-memory error on one
    rank for micro-batches above a size, or a SIGKILL of one rank at a step."""

    def __init__(self, oom_rank: int | None = None, oom_above: int = 0,
                 kill_rank: int | None = None, kill_at_step: int = -1) -> None:
        self.oom_rank, self.oom_above = oom_rank, oom_above
        self.kill_rank, self.kill_at_step = kill_rank, kill_at_step

    def __call__(self, module: nn.Module, batch, step: int) -> LossOutput:
        x, y = batch
        rank = Replicas.current().rank
        if rank == self.oom_rank and len(x) > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        if rank == self.kill_rank and step == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        loss = ((module(x).squeeze(1) - y) ** 2).mean()
        return LossOutput(loss, {"recon_loss": loss})


def validate(module: nn.Module) -> dict[str, float]:
    x, y = regression_data()
    return {"loss": float(((module(x).squeeze(1) - y) ** 2).mean())}


def fit(cfg: TrainerConfig, loss: SquaredError | None = None,
        resume_from: str | None = None) -> dict:
    """One fit (in this process or in a worker): its final weights and how it went."""
    built: list[nn.Module] = []

    def build() -> nn.Module:
        built.append(network())
        return built[0]

    trainer = Trainer(cfg)
    result = trainer.fit(build, loss or SquaredError(), TensorBatches(
        regression_data(), cfg.batch_size, seed=cfg.seed), validate=validate,
        resume_from=resume_from)
    return {"weights": {key: value.detach().clone() for key, value in
                        built[0].state_dict().items()},
            "micro_batch_size": result.micro_batch_size, "history": result.history,
            "stop_reason": result.stop_reason, "world_size": trainer.replicas.world_size}


def fail_on_rank_one() -> None:
    if Replicas.current().rank == 1:
        raise KeyError("rank one failed")


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys() and a
    return max(float((a[key] - b[key]).abs().max()) for key in a)


@pytest.mark.parametrize(("n", "world"), [(16, 2), (15, 2), (1, 2), (7, 3)])
def test_shards_cover_the_batch_once_in_order(n, world):
    bounds = [shard_range(10, 10 + n, rank, world) for rank in range(world)]
    assert bounds[0][0] == 10 and bounds[-1][1] == 10 + n
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(bounds))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_a_single_process_has_no_group_and_trains_unwrapped(tmp_path):
    replicas = Replicas.current()
    assert (replicas.rank, replicas.world_size, replicas.distributed) == (0, 1, False)
    module = network()
    assert replicas.wrap(module) is module


def test_two_ranks_train_the_weights_one_process_does(tmp_path):
    """Two gloo ranks, each accumulating its half of every batch of 16 in one micro-batch of
    8, against one process with micro-batches of 8: the same effective batches, so the
    same weights after each epoch (the last batch of one sample: one rank trains on it,
    the other joins the all-reduce with weight 0)."""
    one = fit(config(checkpoint_dir=str(tmp_path / "one"), full_checkpoints=True))
    two = launch(fit, 2, (config(checkpoint_dir=str(tmp_path / "two"),
                                 full_checkpoints=True),))
    assert two["world_size"] == 2
    assert largest_difference(one["weights"], two["weights"]) < 1e-5
    assert one["history"]["train_loss"].tolist() == pytest.approx(
        two["history"]["train_loss"].tolist(), rel=1e-5)
    assert one["history"]["val_loss"].tolist() == pytest.approx(
        two["history"]["val_loss"].tolist(), rel=1e-5)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())


def test_out_of_memory_on_one_rank_halves_the_micro_batch_on_all(tmp_path):
    cfg = config(checkpoint_dir=str(tmp_path / "oom"), full_checkpoints=True)
    reference = fit(config(checkpoint_dir=str(tmp_path / "ref"), full_checkpoints=True))
    two = launch(fit, 2, (cfg, SquaredError(oom_rank=1, oom_above=4)))
    assert two["micro_batch_size"] == 4
    assert largest_difference(reference["weights"], two["weights"]) < 1e-5


def test_a_killed_rank_stops_the_job_and_its_checkpoint_resumes_in_one_process(tmp_path):
    folder = tmp_path / "killed"
    cfg = config(checkpoint_dir=str(folder), full_checkpoints=True)
    with pytest.raises(WorkerDied, match=r"rank 1 of 2 was killed by SIGKILL.*last\.pt"):
        launch(fit, 2, (cfg, SquaredError(kill_rank=1, kill_at_step=7)))  # epoch 2
    checkpoint = load_checkpoint(folder / "last.pt", kind="full")
    assert checkpoint["trainer"]["epoch"] == 1  # written by rank 0 after epoch 1

    resumed = fit(cfg, resume_from=str(folder / "last.pt"))
    uninterrupted = fit(config(checkpoint_dir=str(tmp_path / "straight"),
                               full_checkpoints=True))
    assert resumed["world_size"] == 1
    assert len(resumed["history"]) == 2
    assert largest_difference(resumed["weights"], uninterrupted["weights"]) < 1e-5


def test_a_one_process_checkpoint_resumes_on_two_ranks(tmp_path):
    folder = tmp_path / "grow"
    fit(config(epochs=1, schedule_epochs=2, checkpoint_dir=str(folder),  # the same lr curve
               full_checkpoints=True))
    two = launch(fit, 2, (config(checkpoint_dir=str(folder), full_checkpoints=True),
                          None, str(folder / "last.pt")))
    straight = fit(config(checkpoint_dir=str(tmp_path / "straight"), full_checkpoints=True))
    assert len(two["history"]) == 2
    assert largest_difference(two["weights"], straight["weights"]) < 1e-5


def test_an_exception_on_a_worker_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="world_size must be >= 1"):
        launch(fit, 0)
    with pytest.raises(KeyError, match="rank one failed"):
        launch(fail_on_rank_one, 2)


def test_a_signal_during_the_stop_agreement_stops_every_rank_at_the_same_step():
    # A SIGTERM whose handler runs while this rank waits in the all-reduce: the other rank
    # saw no stop and trains on, so this one must too (a rank that left alone would leave
    # the other waiting in its next collective), and both stop at the next step.
    replicas, stop = Replicas(rank=1, world_size=2), StopFlag()

    def all_reduce_with_the_signal_arriving(flag: bool) -> bool:
        stop.request("sigterm")
        return flag  # the other rank's flag was not set either

    replicas.any = all_reduce_with_the_signal_arriving
    assert not replicas.agree_stop(stop)
    assert stop.reason == "sigterm"  # kept for the next step's agreement


def test_ranks_that_stopped_for_different_reasons_agree_on_the_lowest_ranks(monkeypatch):
    # rank 0 stopped early (its validation stalled) after a SIGTERM had reached rank 1:
    # both must end alike, or rank 0 would go on to the refit without rank 1
    replicas, stop = Replicas(rank=1, world_size=2), StopFlag()
    stop.request("sigterm")
    replicas.any = lambda flag: True

    def all_gather(reasons: list, reason: str) -> None:
        reasons[:] = ["early_stopping", reason]

    monkeypatch.setattr("recsys_lib.training.replicas.dist.all_gather_object", all_gather)
    assert replicas.agree_stop(stop)
    assert stop.reason == "early_stopping"
