"""Data-parallel training (DistributedDataParallel) at world size 1 and 2: seconds per
epoch, and the weights two ranks train against one process; prints measured figures.

    python benchmarks/ddp.py                      # CPU (gloo); CUDA too with 2+ cards
    python benchmarks/ddp.py --config kaggle_t4 --epochs 3

Each case runs in fresh worker processes (`recsys_lib.training.launch`). The timed
workload is the VAE notebook's fit of `--config` on the embedded ml-latest-small (90% of
the ratings, early stopping off); the seconds are rank 0's per epoch, the first epoch
(start-up) left out. On the CPU the ranks share the machine's cores: world size 1 is
timed with all the threads and with the threads one rank gets, so the table shows what
splitting the batch costs and what it saves.

The equality check trains a deterministic network (a two-layer multinomial autoencoder
over the users' rows, no dropout or sampling) on the same data for one epoch with batch
128: once in one process with micro-batches of 64, once on two ranks with 64 each.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
import torch.nn.functional as F
from torch import nn

from recsys_lib.data import Interactions, embedded_path, load_ratings, split_ratings
from recsys_lib.memory import MemoryMonitor
from recsys_lib.models.vae import load_config
from recsys_lib.runs.vae import VALIDATION_FRACTION, VAEData, fit_vae
from recsys_lib.training import LossOutput, SparseRowBatches, Trainer, TrainerConfig
from recsys_lib.training.launch import launch
from recsys_lib.training.replicas import Replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="mult_vae_quick", help="a shipped VAE config")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per case (>= 2)")
    parser.add_argument("--seed", type=int, default=42, help="split and training seed")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"torch {torch.__version__}, {cores} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f}, {torch.cuda.device_count()} CUDA card(s)")
    data = carve_out(args.seed)

    print(f"\n{args.config}: seconds per epoch (rank 0, epochs 2-{args.epochs})")
    cases = [("cpu", 1, cores), ("cpu", 1, max(cores // 2, 1)), ("cpu", 2, max(cores // 2, 1))]
    if torch.cuda.device_count() >= 2:
        cases += [("cuda", 1, cores), ("cuda", 2, cores)]
    timings = {}
    for device, world, threads in cases:
        seconds = launch(epoch_seconds, world, (args.config, data, device, threads,
                                                args.epochs, args.seed))
        timings[device, world, threads] = seconds
        print(f"  {device}, world size {world}, {threads} thread(s) per rank: "
              f"{seconds:.2f} s/epoch")
    for device in ("cpu", "cuda"):
        two = [(key, value) for key, value in timings.items() if key[:2] == (device, 2)]
        for (_, _, threads), seconds in two:
            one = timings.get((device, 1, threads))
            if one:
                print(f"  {device}: world size 2 / world size 1 at {threads} thread(s) per "
                      f"rank: {seconds / one:.2f}x the epoch time")

    single = equality_weights(data.fit)
    double = launch(equality_weights, 2, (data.fit,))
    difference = max(float((single[key] - double[key]).abs().max()) for key in single)
    scale = max(float(value.abs().max()) for value in single.values())
    print(f"\nweights after one epoch, 2 ranks vs 1 process (batch 128, micro-batch 64): "
          f"largest difference {difference:.2e} (largest weight {scale:.3f})")


def carve_out(seed: int) -> VAEData:
    """The embedded ratings split as the VAE notebook splits its training ratings."""
    ratings = load_ratings(embedded_path())
    split = split_ratings(ratings, "random", test_fraction=VALIDATION_FRACTION, seed=seed)
    return VAEData(Interactions.from_ratings(split.train), Interactions.from_ratings(split.test))


def epoch_seconds(config_name: str, data: VAEData, device: str, threads: int, epochs: int,
                  seed: int) -> float:
    """Rank 0's mean seconds per epoch after the first (None on the other ranks)."""
    torch.set_num_threads(threads)
    config = load_config(config_name, {"epochs": epochs, "patience": None, "device": device,
                                       "seed": seed, "progress": False, "max_minutes": None,
                                       "mixed_precision": "off" if device == "cpu" else "auto"})
    model, _ = fit_vae(config, data, MemoryMonitor())
    seconds = model.history_["seconds"].tolist()[1:]
    return statistics.mean(seconds) if Replicas.current().is_main else None


class _Autoencoder(nn.Module):
    def __init__(self, n_items: int, width: int = 200) -> None:
        super().__init__()
        self.encode, self.decode = nn.Linear(n_items, width), nn.Linear(width, n_items)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.decode(torch.tanh(self.encode(F.normalize(rows, dim=1))))


def _multinomial(module: nn.Module, rows: torch.Tensor, step: int) -> LossOutput:
    loss = -(F.log_softmax(module(rows), dim=1) * rows).sum(dim=1).mean()
    return LossOutput(loss, {})


def equality_weights(train: Interactions) -> dict[str, torch.Tensor]:
    """Weights of the deterministic autoencoder after one epoch of batches of 128 rows
    (micro-batches of 64 in one process; one micro-batch of 64 per rank on two)."""
    torch.set_num_threads(1)
    config = TrainerConfig(epochs=1, batch_size=128, micro_batch_size=64, lr=1e-3,
                           mixed_precision="off", progress=False, device="cpu",
                           max_minutes=None, patience=None, seed=0)
    built: list[nn.Module] = []

    def build() -> nn.Module:
        built.append(_Autoencoder(train.n_items))
        return built[0]

    matrix = train.user_items.copy()
    matrix.data[:] = 1.0
    Trainer(config).fit(build, _multinomial, SparseRowBatches(matrix, 128, seed=0))
    return {key: value.detach().clone() for key, value in built[0].state_dict().items()}


if __name__ == "__main__":
    main()
