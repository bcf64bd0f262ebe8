"""VAE and trainer benchmarks on the embedded ml-latest-small; prints measured figures.

    python benchmarks/vae.py                       # every part
    python benchmarks/vae.py --part overhead,batching --threads 1

Parts:
    quality    RatingVAE RMSE vs BiasBaseline and MultVAE NDCG@10 vs ALS and Popularity on a
               seeded 80/20 random split, scored by recsys_lib.evaluation (targets: RMSE
               below the baseline's, NDCG@10 at least ALS's), NDCG with test ratings of 4+
               stars relevant (the project's default) and with every test rating relevant.
               RatingVAE early-stops on 10% of the training ratings.
    overhead   epoch time of the Trainer vs a bare PyTorch loop on the same network and
               batches, interleaved in one process (target: ratio <= 1.10).
    batching   one epoch of batches from in-memory tensors (TensorBatches) vs a per-sample
               TensorDataset through a DataLoader.
    cpu_quick  wall time of fitting RatingVAE with notebooks/configs/cpu_quick.yaml on the
               whole data set (90% train, 10% validation); target under 2 minutes.
    cleanup    cost of recsys_lib.memory.cleanup() per call, and per step at several
               `cleanup_every` values.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

from recsys_lib.data import Interactions, embedded_path, load_ratings, split_ratings
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.memory import MemoryMonitor, cleanup
from recsys_lib.models import ALS, BiasBaseline, Popularity
from recsys_lib.models.vae import RatingVAE, load_config
from recsys_lib.training import TensorBatches, Trainer, seed_everything

PARTS = ("quality", "overhead", "batching", "cpu_quick", "cleanup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default=",".join(PARTS),
                        help=f"comma-separated parts to run: {', '.join(PARTS)}")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=42, help="split and training seed")
    parser.add_argument("--rounds", type=int, default=6, help="timing rounds (overhead)")
    args = parser.parse_args()
    parts = [part.strip() for part in args.part.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, seed {args.seed}")
    ratings = load_ratings(embedded_path())
    print(f"data: embedded ml-latest-small, {len(ratings):,} ratings")
    runners: dict[str, Callable[[], None]] = {
        "quality": lambda: quality(ratings, args.seed),
        "overhead": lambda: overhead(ratings, args.seed, args.rounds),
        "batching": lambda: batching(ratings),
        "cpu_quick": lambda: cpu_quick(ratings, args.seed),
        "cleanup": lambda: cleanup_cost(ratings),
    }
    for part in parts:
        print(f"\n== {part} ==")
        runners[part]()


def quality(ratings, seed: int) -> None:
    split = split_ratings(ratings, "random", test_fraction=0.2, seed=seed)
    train = Interactions.from_ratings(split.train)

    inner = split_ratings(split.train, "random", test_fraction=0.1, seed=seed)
    run = load_config("cpu_quick", overrides={"seed": seed, "progress": False})
    start = time.perf_counter()
    vae = run.build().fit(Interactions.from_ratings(inner.train),
                          Interactions.from_ratings(inner.test))
    vae_seconds = time.perf_counter() - start
    vae_rmse = evaluate_ratings(vae, split.test)["rmse"]
    baseline = evaluate_ratings(BiasBaseline().fit(train), split.test)["rmse"]
    print(f"RatingVAE RMSE {vae_rmse:.4f} vs BiasBaseline {baseline:.4f} (ratio "
          f"{vae_rmse / baseline:.4f}; fit {vae_seconds:.1f} s, {vae.result_.message})")

    run = load_config("mult_vae_quick", overrides={"seed": seed, "progress": False})
    start = time.perf_counter()
    mult = run.build().fit(train)
    mult_seconds = time.perf_counter() - start
    models = {"MultVAE": mult, "ALS": ALS(seed=seed).fit(train),
              "Popularity": Popularity().fit(train)}
    for threshold in (4.0, 0.5):
        scores = {name: evaluate_ranking(model, train, split.test, k=10,
                                         relevance_threshold=threshold)
                  for name, model in models.items()}
        print(f"NDCG@10, test ratings >= {threshold:g} relevant "
              f"({scores['ALS']['n_users_evaluated']} users): " + ", ".join(
                  f"{name} {score['ndcg@10']:.4f}" for name, score in scores.items()))
    print(f"MultVAE fit {mult_seconds:.1f} s")


def overhead(ratings, seed: int, rounds: int) -> None:
    """Trainer epochs vs bare-loop epochs, alternating, same network shape and batches."""
    train = Interactions.from_ratings(ratings)
    run = load_config("cpu_quick", overrides={"seed": seed, "progress": True,
                                              "max_minutes": None, "epochs": 2})
    trainer_times, bare_times = [], []
    for round_index in range(rounds):  # alternate which goes first: load drifts on a shared box
        if round_index % 2:
            bare_times += bare_loop(run, train, epochs=2)
        trainer_times += run.build().fit(train).history_["seconds"].tolist()
        if not round_index % 2:
            bare_times += bare_loop(run, train, epochs=2)
    ratio = statistics.median(trainer_times) / statistics.median(bare_times)
    print(f"epoch time: Trainer {statistics.median(trainer_times):.3f} s (median of "
          f"{len(trainer_times)}), bare loop {statistics.median(bare_times):.3f} s -> ratio "
          f"{ratio:.3f} (target <= 1.10; Trainer with progress bar, memory monitor, "
          f"NaN guard, gradient-norm logging)")


def bare_loop(run, train: Interactions, epochs: int) -> list[float]:
    """The same RatingVAE network, loss and batches in a plain loop; seconds per epoch."""
    model = RatingVAE(run.model_config, run.trainer)
    seed_everything(run.trainer.seed)  # as Trainer.fit does before building the network
    trainer = Trainer(run.trainer)
    model.train_ = train
    network = model._build_network(train)
    source = model._batches(train, trainer)
    optimizer = torch.optim.Adam(network.parameters(), lr=run.trainer.lr, fused=True)
    clip = run.trainer.gradient_clipping
    network.train()
    times = []
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        for batch in source.epoch(epoch):
            for micro in batch.split(run.trainer.micro_batch):
                optimizer.zero_grad(set_to_none=True)
                loss = model._loss(network, micro, step).loss
                loss.backward()
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
