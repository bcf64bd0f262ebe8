"""VAE and trainer benchmarks on the embedded ml-latest-small; prints measured figures.

    python benchmarks/vae.py                       # every part
    python benchmarks/vae.py --part overhead,batching --threads 1

Parts:
    quality    the VAE notebook's path on a seeded 80/20 random split with the quick
               configs: epochs chosen by early stopping on 10% of the training ratings,
               refit on all of them; RatingVAE RMSE vs BiasBaseline and SVD, MultVAE
               NDCG@10 vs ALS and Popularity (every training item masked), scored by
               recsys_lib.evaluation. Targets: RMSE <= SVD's, NDCG@10 (4+ stars relevant)
               >= ALS's, each config's selection + refit under 3 minutes.
    overhead   seconds per epoch of each shipped config (GPU ones on the CPU in float32)
               with the Trainer vs a bare PyTorch loop on the same network, loss,
               optimizer and batches, interleaved in one process (target: ratio <= 1.10).
    batching   one epoch of batches from in-memory tensors (TensorBatches) vs a per-sample
               TensorDataset through a DataLoader.
    cpu_quick  wall time of fitting RatingVAE with notebooks/configs/cpu_quick.yaml on the
               whole data set (90% train, 10% validation); target under 2 minutes.
    cleanup    cost of recsys_lib.memory.cleanup() per call, and per step at several
               `cleanup_every` values.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

from recsys_lib.data import Interactions, embedded_path, load_ratings, split_ratings
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.memory import MemoryMonitor, cleanup
from recsys_lib.models.vae import load_config, vae_kind
from recsys_lib.runs.vae import fit_vae, refit_epochs, refit_vae, vae_data
from recsys_lib.training import TensorBatches, Trainer, seed_everything
from recsys_lib.training.loop import build_optimizer

PARTS = ("quality", "overhead", "batching", "cpu_quick", "cleanup")
SHIPPED_CONFIGS = ("cpu_quick", "mult_vae_quick", "kaggle_t4", "a6000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default=",".join(PARTS),
                        help=f"comma-separated parts to run: {', '.join(PARTS)}")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=42, help="split and training seed")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timing rounds per config (overhead)")
    parser.add_argument("--configs", default=",".join(SHIPPED_CONFIGS),
                        help="comma-separated shipped configs to time (overhead)")
    args = parser.parse_args()
    parts = [part.strip() for part in args.part.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, seed {args.seed}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ratings = load_ratings(embedded_path())
    print(f"data: embedded ml-latest-small, {len(ratings):,} ratings")
    runners: dict[str, Callable[[], None]] = {
        "quality": lambda: quality(ratings, args.seed),
        "overhead": lambda: overhead(ratings, args.seed, args.rounds,
                                     [name for name in args.configs.split(",") if name]),
        "batching": lambda: batching(ratings),
        "cpu_quick": lambda: cpu_quick(ratings, args.seed),
        "cleanup": lambda: cleanup_cost(ratings),
    }
    for part in parts:
        print(f"\n== {part} ==")
        runners[part]()


def quality(ratings, seed: int) -> None:
    """The notebook's path for each quick config: epochs chosen by early stopping on 10%
    of the training ratings, refit on all of them, scored next to the yardsticks fitted
    on all of them, every seen item masked."""
    split = split_ratings(ratings, "random", test_fraction=0.2, seed=seed)
    train = Interactions.from_ratings(split.train)
    data = vae_data(train, seed=seed)
    memory = MemoryMonitor()
    for name, kind in (("cpu_quick", "rating_vae"), ("mult_vae_quick", "mult_vae")):
        config = load_config(name, overrides={"seed": seed, "progress": False})
        start = time.perf_counter()
        selection, _ = fit_vae(config, data, memory)
        model, _ = refit_vae(config, train, refit_epochs(selection), memory)
        seconds = time.perf_counter() - start
        yardsticks = vae_kind(kind).yardsticks(seed)
        for yardstick in yardsticks.values():
            yardstick.fit(train)
        models = {vae_kind(kind).name: model, **yardsticks}
        print(f"{name}: selection {selection.result_.message}; refit "
              f"{len(model.history_)} epochs; {seconds:.1f} s in all (target < 180 s)")
        if kind == "rating_vae":
            scores = {key: evaluate_ratings(m, split.test)["rmse"] for key, m in models.items()}
            print("  RMSE: " + ", ".join(f"{key} {v:.4f}" for key, v in scores.items()))
            met = scores["RatingVAE"] <= scores["SVD"]
            print(f"  target RatingVAE RMSE <= SVD's: {'met' if met else 'NOT met'}")
            continue
        for threshold in (4.0, 0.5):
            scores = {key: evaluate_ranking(m, train, split.test, k=10, seen=train,
                                            relevance_threshold=threshold)["ndcg@10"]
                      for key, m in models.items()}
            print(f"  NDCG@10, test ratings >= {threshold:g} relevant: " + ", ".join(
                f"{key} {v:.4f}" for key, v in scores.items()))
            if threshold == 4.0:
                met = scores["MultVAE"] >= scores["ALS"]
        print(f"  target MultVAE NDCG@10 >= ALS's (4+ stars): {'met' if met else 'NOT met'}")


def overhead(ratings, seed: int, rounds: int, configs: list[str]) -> None:
    """Trainer epochs vs bare-loop epochs of shipped configs, alternating, same network,
    loss, optimizer and batches, two epochs a round. The GPU configs run on the CPU in
    float32."""
    train = Interactions.from_ratings(ratings)
    for name in configs:
        run = load_config(name, overrides={"seed": seed, "progress": True, "epochs": 2,
                                           "max_minutes": None, "device": "cpu",
                                           "mixed_precision": "off", "checkpoint_dir": None,
                                           "full_checkpoints": False})
        trainer_times, bare_times = [], []
        for round_index in range(rounds):  # alternate which goes first: load drifts
            if round_index % 2:
                bare_times += bare_loop(run, train, epochs=2)
            trainer_times += run.build().fit(train).history_["seconds"].tolist()
            if not round_index % 2:
                bare_times += bare_loop(run, train, epochs=2)
        trainer_s, bare_s = statistics.median(trainer_times), statistics.median(bare_times)
        print(f"{name}: s/epoch Trainer {trainer_s:.3f}, bare loop {bare_s:.3f} (medians of "
              f"{len(trainer_times)}) -> ratio {trainer_s / bare_s:.3f} (target <= 1.10)")


def bare_loop(run, train: Interactions, epochs: int) -> list[float]:
    """The same network, loss, optimizer and batches in a plain loop; seconds per epoch."""
    model = run.build()
    seed_everything(run.trainer.seed)  # as Trainer.fit does before building the network
    trainer = Trainer(run.trainer)
    model.train_ = train
    network = model._build_network(train)
    source = model._batches(train, trainer)
    optimizer = build_optimizer(network, run.trainer)
    clip = run.trainer.gradient_clipping
    network.train()
    times = []
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        for batch in source.epoch(epoch):
            optimizer.zero_grad(set_to_none=True)
            for micro in batch.split(run.trainer.micro_batch):
                model._loss(network, micro, step).loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(network.parameters(), clip)
            optimizer.step()
            step += 1
        times.append(time.perf_counter() - start)
    return times


def batching(ratings) -> None:
    n = len(ratings)
    tensors = [torch.tensor(ratings[column].to_numpy())
               for column in ("user_id", "item_id", "rating")]
    batch_size = 1024

    def in_memory() -> int:
        rows = 0
        for batch in TensorBatches(tensors, batch_size, seed=0).epoch(0):
            for micro in batch.split(batch_size):
                rows += len(micro[0])
        return rows

    loader = DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))

    def per_sample() -> int:
        return sum(len(users) for users, _, _ in loader)

    fast, slow = best_of(in_memory, 3), best_of(per_sample, 3)
    print(f"one epoch of {n:,} rating triples, batch {batch_size}: in-memory "
          f"{fast * 1000:.1f} ms, per-sample DataLoader {slow * 1000:.1f} ms -> "
          f"{slow / fast:.0f}x faster")


def best_of(function: Callable[[], int], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_quick(ratings, seed: int) -> None:
    inner = split_ratings(ratings, "random", test_fraction=0.1, seed=seed)
    run = load_config("cpu_quick", overrides={"seed": seed, "progress": False})
    monitor = MemoryMonitor()
    with monitor.track("cpu_quick fit") as record:
        model = run.build().fit(Interactions.from_ratings(inner.train),
                                Interactions.from_ratings(inner.test))
    print(f"cpu_quick: {record.seconds:.1f} s wall for {len(model.history_)} epochs on "
          f"{len(inner.train):,} + {len(inner.test):,} ratings (target < 120 s), peak RSS "
          f"{record.peak_rss_mb:,.0f} MB; {model.result_.message}")


def cleanup_cost(ratings) -> None:
    train = Interactions.from_ratings(ratings)
    run = load_config("cpu_quick", overrides={"epochs": 1, "progress": False,
                                              "max_minutes": None})
    model = run.build().fit(train)  # a trained model and optimizer leave objects behind
    step_seconds = model.history_["seconds"].iloc[0] / len(model._batches(
        train, Trainer(run.trainer)))
    calls = [cleanup().seconds for _ in range(10)]
    per_call = statistics.median(calls)
    print(f"cleanup(): {per_call * 1000:.2f} ms per call (median of 10), a training step "
          f"{step_seconds * 1000:.2f} ms")
    for every in (1, 10, 100, 1000):
        print(f"  cleanup_every={every}: +{per_call / (every * step_seconds):.1%} per step")


if __name__ == "__main__":
    main()
