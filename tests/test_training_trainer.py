"""The Trainer's behaviour: accumulation, clipping, NaN/OOM recovery, early stopping,
resume, time budget, SIGTERM and precision, on a small regression problem on the CPU."""

from __future__ import annotations

import itertools
import logging
import os
import signal

import pandas as pd
import pytest
import torch
from torch import nn

from recsys_lib.training import (
    LossOutput,
    OutOfMemoryTrainingError,
    TensorBatches,
    Trainer,
    TrainerConfig,
    load_checkpoint,
    load_weights,
)

N_SAMPLES, BATCH = 64, 16  # 4 steps per epoch


def config(**overrides) -> TrainerConfig:
    values = {"epochs": 3, "batch_size": BATCH, "lr": 0.01, "mixed_precision": "off",
              "progress": False, "device": "cpu", "max_minutes": None, "patience": None,
              "gradient_clipping": None}
    return TrainerConfig(**{**values, **overrides})


def data(n: int = N_SAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=generator)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=generator)


def model(dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 1))


def mse(module: nn.Module, batch, step: int) -> LossOutput:
    x, y = batch
    loss = ((module(x).squeeze(1).float() - y) ** 2).mean()
    return LossOutput(loss, {"recon_loss": loss})


def batches(cfg: TrainerConfig, n: int = N_SAMPLES) -> TensorBatches:
    return TensorBatches(list(data(n)), cfg.batch_size, seed=cfg.seed)


def builder(dropout: float = 0.0):
    """A function building the model (`Trainer.fit` calls it once seeded), and its result."""
    built: list[nn.Module] = []

    def build() -> nn.Module:
        built.append(model(dropout))
        return built[-1]

    return build, built


def run(cfg: TrainerConfig, loss_fn=mse, *, dropout: float = 0.0, callbacks=(), **fit_kwargs):
    trainer = Trainer(cfg, callbacks=callbacks)
    build, built = builder(dropout)
    result = trainer.fit(build, loss_fn, batches(cfg), **fit_kwargs)
    return trainer, built[0], result


def parameters(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_accumulated_gradients_equal_the_large_batch_gradient():
    grads = {}
    for micro in (3, 10):  # 3 + 3 + 3 + 1 versus one pass
        cfg = config(epochs=1, batch_size=10, micro_batch_size=micro)
        trainer = Trainer(cfg)
        torch.manual_seed(0)  # the same initial weights for both micro-batch sizes
        module = model()
        trainer.callbacks.append(lambda info, m=micro, net=module: grads.setdefault(
            m, [p.grad.clone() for p in net.parameters()]))
        reference = model()
        reference.load_state_dict(module.state_dict())
        trainer.fit(module, mse, batches(cfg, n=10))
    mse(reference, data(10), 0).loss.backward()
    for small, large, expected in zip(grads[3], grads[10], reference.parameters(), strict=True):
        torch.testing.assert_close(small, large, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(small, expected.grad, rtol=1e-5, atol=1e-7)


def test_the_pre_clip_norm_is_logged_and_gradients_are_clipped():
    infos, norms = [], []
    cfg = config(epochs=1, batch_size=N_SAMPLES, gradient_clipping=0.01)
    trainer = Trainer(cfg, callbacks=[infos.append, lambda info: norms.append(
        torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in module.parameters()])))])
    module = model()
    reference = model()
    reference.load_state_dict(module.state_dict())
    result = trainer.fit(module, mse, batches(cfg))
    mse(reference, data(), 0).loss.backward()
    pre_clip = torch.linalg.vector_norm(torch.cat([p.grad.flatten()
                                                   for p in reference.parameters()]))
    assert infos[0].grad_norm == pytest.approx(float(pre_clip), rel=1e-5)
    assert float(norms[0]) == pytest.approx(0.01, rel=1e-4)
    assert result.history.loc[0, "grad_norm_mean"] == pytest.approx(float(pre_clip), rel=1e-5)
    assert result.history.loc[0, "clipped_fraction"] == 1.0


def nan_at(steps: set[int], loss_fn=mse):
    def poisoned(module, batch, step):
        out = loss_fn(module, batch, step)
        return LossOutput(out.loss * float("nan"), out.parts) if step in steps else out
    return poisoned


def test_nan_loss_steps_are_skipped_counted_and_halve_the_lr():
    infos, snapshots = [], []
    cfg = config(epochs=2, lr_schedule="constant", bad_steps_halve_lr=2, bad_steps_stop=10)
    trainer = Trainer(cfg, callbacks=[infos.append,
                                      lambda info: snapshots.append(parameters(module))])
    module = model()
    result = trainer.fit(module, nan_at({1, 2, 3}), batches(cfg))
    assert [info.skipped for info in infos] == [False, True, True, True] + [False] * 4
    assert [info.lr for info in infos] == pytest.approx([0.01] * 3 + [0.005] * 5)
    for skipped in (1, 2, 3):  # no update while skipping
        assert all(torch.equal(a, b) for a, b in zip(snapshots[0], snapshots[skipped],
                                                      strict=True))
    assert result.skipped_steps == 3
    assert result.history["skipped_steps"].tolist() == [3, 0]
    assert result.stop_reason == "completed"


def test_a_nan_gradient_with_a_finite_loss_is_skipped():
    def nan_gradient(module, batch, step):
        out = mse(module, batch, step)
        if step == 0:  # sqrt at 0: value 0, gradient inf, times 0 -> NaN
            weight = module[0].weight
            return LossOutput(out.loss + torch.sqrt(weight - weight.detach()).sum(), out.parts)
        return out

    infos = []
    _, _, result = run(config(epochs=1), nan_gradient, callbacks=[infos.append])
    assert infos[0].skipped and infos[0].loss == pytest.approx(infos[0].loss)  # finite loss
    assert result.skipped_steps == 1


def test_persistent_nan_stops_with_the_last_good_checkpoint(tmp_path, caplog):
    cfg = config(epochs=5, checkpoint_dir=str(tmp_path), bad_steps_halve_lr=2, bad_steps_stop=3)
    trainer = Trainer(cfg)
    module = model()
    scores = iter([1.0, 2.0, 3.0])
    with caplog.at_level(logging.ERROR):
        result = trainer.fit(module, nan_at(set(range(5, 100))), batches(cfg),
                             validate=lambda m: {"loss": next(scores)})
    assert result.stop_reason == "diverged"
    assert "3 NaN/Inf steps in a row" in result.message
    assert "epoch 1 restored" in result.message
    assert result.steps == 8 and result.skipped_steps == 3
    assert any("training stops" in r.message for r in caplog.records)
    kept = model()
    load_weights(kept, result.best_path)
    assert all(torch.equal(a, b) for a, b in zip(kept.parameters(), module.parameters(),
                                                  strict=True))
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_a_run_diverged_before_any_epoch_has_an_empty_history_with_the_columns():
    validate = {"validate": lambda m: {"loss": 1.0}}
    _, _, whole = run(config(epochs=1), **validate)
    _, _, diverged = run(config(epochs=2, bad_steps_halve_lr=2, bad_steps_stop=3),
                         nan_at(set(range(100))), **validate)
    assert diverged.stop_reason == "diverged"
    assert diverged.message.startswith("diverged: 3 NaN/Inf steps in a row at step 3; no "
                                       "epoch finished")
    assert isinstance(diverged.history, pd.DataFrame) and diverged.history.empty
    # every column a finished epoch has, except the loss parts: no step added any
    assert list(diverged.history.columns) == [c for c in whole.history.columns
                                              if c != "recon_loss"]


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to "
                                                          "allocate 2.00 GiB"),
                                   RuntimeError("CUDA out of memory.")],
                         ids=["OutOfMemoryError", "RuntimeError"])
def test_oom_halves_the_micro_batch_and_keeps_the_effective_batch(error, caplog):
    def fits_four(module, batch, step):
        if len(batch[0]) > 4:
            raise error
        return mse(module, batch, step)

    with caplog.at_level(logging.WARNING):
        _, module, result = run(config(epochs=1), fits_four)
    assert (result.micro_batch_size, result.oom_retries) == (4, 2)
    assert "out of memory at micro-batch 16: retrying the step with micro-batch 8 and 2 " \
           "accumulation steps (effective batch 16 unchanged)" in caplog.text
    _, direct, _ = run(config(epochs=1, micro_batch_size=4))
    for a, b in zip(module.parameters(), direct.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_oom_at_a_micro_batch_of_one_gives_up_clearly():
    def never_fits(module, batch, step):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(OutOfMemoryTrainingError, match="micro-batch of 1 sample"):
        run(config(epochs=1), never_fits)


def test_other_runtime_errors_are_not_mistaken_for_oom():
    def broken(module, batch, step):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run(config(epochs=1), broken)


def test_early_stopping_restores_the_best_weights():
    snapshots = []
    scores = iter([5.0, 3.0, 4.0, 4.0, 4.0, 4.0])

    def validate(module):
        snapshots.append(parameters(module))
        return {"loss": next(scores)}

    _, module, result = run(config(epochs=6, patience=2), validate=validate)
    assert result.stop_reason == "early_stopping"
    assert result.history["improved"].tolist() == [True, True, False, False]
    assert (result.best_epoch, result.best_metric) == (2, 3.0)
    assert all(torch.equal(a, b) for a, b in zip(module.parameters(), snapshots[1],
                                                  strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(module.parameters(), snapshots[3],
                                                      strict=True))


def test_resuming_an_early_stopped_run_trains_no_further_epoch(tmp_path):
    def worsening(module):
        worsening.calls += 1
        return {"loss": float(worsening.calls)}

    worsening.calls = 0
    cfg = config(epochs=6, patience=2, checkpoint_dir=str(tmp_path), full_checkpoints=True)
    _, _, first = run(cfg, validate=worsening)
    assert (first.stop_reason, len(first.history)) == ("early_stopping", 3)
    _, _, resumed = run(cfg, validate=worsening, resume_from=tmp_path / "last.pt")
    assert (resumed.stop_reason, len(resumed.history), resumed.best_epoch) == (
        "early_stopping", 3, 1)
    assert worsening.calls == 3  # no epoch was trained or validated again


@pytest.mark.parametrize(("mode", "scores", "target", "epochs_run", "met"), [
    ("min", [0.9, 0.86, 0.85, 0.84], 0.86, 2, True),   # <= target stops at epoch 2
    ("max", [0.1, 0.2, 0.25, 0.3], 0.25, 3, True),     # >= target stops at epoch 3
    ("min", [0.9, 0.88, 0.87, 0.87], 0.5, 4, False),   # never reached: all epochs run
])
def test_training_stops_when_the_validation_metric_reaches_its_target(
        mode, scores, target, epochs_run, met):
    values = iter(scores)
    _, _, result = run(config(epochs=4), validate=lambda module: {"m": next(values)},
                       metric="m", mode=mode, target=target)
    assert len(result.history) == epochs_run
    assert result.stop_reason == ("target_reached" if met else "completed")
    assert (result.target, result.target_met) == (target, met)
    assert result.summary()["target_met"] is met
    if met:
        assert f"target val_m {target:g} reached after {epochs_run} epochs" in result.message


def test_a_target_needs_validation_and_no_target_records_none():
    with pytest.raises(ValueError, match=r"a target loss of 0\.5 needs a validate function"):
        run(config(), target=0.5)
    _, _, result = run(config(epochs=1))
    assert (result.target, result.target_met) == (None, None)


def test_schedule_epochs_keeps_a_longer_runs_learning_rate_schedule():
    # 4 steps per epoch: a 3-epoch cosine from 0.01 to 1e-5 ends at 1e-5; spanning 6 epochs,
    # the 3 epochs run stop near the middle of the decay, as the 6-epoch run's do.
    short = run(config(epochs=3, lr_schedule="cosine"))[2].history["lr"].tolist()
    kept = run(config(epochs=3, schedule_epochs=6))[2].history["lr"].tolist()
    full = run(config(epochs=6))[2].history["lr"].tolist()
    assert short[-1] == pytest.approx(1e-5)
    assert kept == pytest.approx(full[:3])
    assert kept[-1] > 0.004


@pytest.mark.parametrize("stop_after_step", [7, 5], ids=["epoch-end", "mid-epoch"])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, stop_after_step):
    def cfg(folder):
        return config(epochs=4, full_checkpoints=True, checkpoint_dir=str(tmp_path / folder))

    _, _, whole = run(cfg("whole"), dropout=0.3)
    stopper = Trainer(cfg("cut"))
    stopper.callbacks.append(lambda info: info.step == stop_after_step and
                             stopper.request_stop())
    first = stopper.fit(lambda: model(0.3), mse, batches(cfg("cut")))
    assert first.stop_reason == "callback" and first.steps == stop_after_step + 1
    resumed_trainer = Trainer(cfg("cut"))
    resumed = resumed_trainer.fit(lambda: model(0.3), mse, batches(cfg("cut")),
                                  resume_from=first.last_path)
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    assert resumed.history["train_loss"].tolist() == whole.history["train_loss"].tolist()


def test_time_budget_ends_after_the_step_with_a_resumable_checkpoint(tmp_path):
    clock = itertools.count(step=60.0).__next__  # one minute per reading
    cfg = config(epochs=3, max_minutes=2.5, checkpoint_dir=str(tmp_path))
    trainer = Trainer(cfg, clock=clock)
    result = trainer.fit(model(), mse, batches(cfg))
    assert (result.stop_reason, result.steps) == ("time_budget", 3)
    assert f"resume from {tmp_path / 'last.pt'}" in result.message
    payload = load_checkpoint(result.last_path, kind="full")
    assert (payload["trainer"]["epoch"], payload["trainer"]["batch"]) == (0, 3)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_after_the_current_step_with_a_checkpoint(tmp_path, signum):
    received = []

    def sentinel(number, frame):
        received.append(number)

    previous = signal.signal(signum, sentinel)
    try:
        def terminate(info):
            if info.step == 1:
                os.kill(os.getpid(), signum)

        _, _, result = run(config(epochs=3, checkpoint_dir=str(tmp_path)),
                           callbacks=[terminate])
        assert signal.getsignal(signum) is sentinel  # the handler was restored
    finally:
        signal.signal(signum, previous)
    reason = signal.Signals(signum).name.lower()
    assert (result.stop_reason, result.steps) == (reason, 2)
    assert received == []  # the Trainer's handler took the signal
    assert load_checkpoint(tmp_path / "last.pt", kind="full")["trainer"]["step"] == 2
    assert f"resume from {tmp_path / 'last.pt'}" in result.message


@pytest.mark.parametrize(("mode", "dtype"), [("auto", torch.bfloat16), ("off", torch.float32)])
def test_cpu_autocast_runs_forward_passes_in_bf16(mode, dtype):
    seen = []

    def recording(module, batch, step):
        seen.append(module(batch[0]).dtype)
        return mse(module, batch, step)

    trainer, _, result = run(config(epochs=1, mixed_precision=mode), recording)
    assert set(seen) == {dtype}
    assert trainer.precision.use_scaler is False
    assert result.history.loc[0, "train_loss"] > 0


def test_history_has_memory_columns_per_epoch():
    trainer, _, result = run(config(epochs=2))
    history = result.history
    assert [r.label for r in trainer.memory.records] == ["epoch 1", "epoch 2"]
    assert history["epoch"].tolist() == [1, 2]
    assert (history["rss_mb"] > 0).all() and (history["peak_rss_mb"] >= history["rss_mb"]).all()
    assert history["peak_gpu_mb"].isna().all()  # no CUDA here


def test_a_missing_validation_metric_is_named():
    with pytest.raises(ValueError, match=r"validate\(\) returned no 'rmse'; it returned \['mae'\]"):
        run(config(epochs=1), validate=lambda m: {"mae": 1.0}, metric="rmse")


def test_cleanup_runs_every_n_steps(monkeypatch):
    calls = []
    monkeypatch.setattr("recsys_lib.training.loop.cleanup", lambda: calls.append(1))
    run(config(epochs=2, cleanup_every=3))  # 8 steps: after steps 3 and 6
    assert len(calls) == 2


def test_building_a_trainer_leaves_the_global_generators_alone():
    network = model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer = Trainer(config(seed=7))
    trainer.plan(network, activation_bytes_per_sample=64, available_bytes=2**30)
    assert torch.equal(torch.rand(3), expected)  # still the first draws after seed 123


def test_two_fits_with_one_seed_give_identical_weights():
    torch.manual_seed(0)  # differs from the fits' seed; a builder is initialised after seeding
    modules = []
    for _ in range(2):
        cfg = config(seed=5)
        trainer = Trainer(cfg)
        build, built = builder(0.3)
        trainer.fit(build, mse, batches(cfg))
        modules.append(built[0])
        torch.rand(7)  # move the global generator on between the fits
    for a, b in zip(modules[0].parameters(), modules[1].parameters(), strict=True):
        assert torch.equal(a, b)
    other = model(0.3)
    Trainer(config(seed=6)).fit(other, mse, batches(config(seed=6)))
    assert not torch.equal(other[0].weight, modules[0][0].weight)
