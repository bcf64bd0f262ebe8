"""Cost of `recsys_lib.memory.cleanup()` (a full gc.collect, plus torch.cuda.empty_cache on
CUDA) with a realistic notebook heap, so the trainer's default cleanup interval can cite it.

The heap: pandas, scipy, scikit-learn and torch imported; a ratings frame and its float32 CSR
matrix; Python id maps and per-user histories; a MultVAE-sized torch model with Adam state.
A full collection walks every gc-tracked object, so its cost grows with that count, which is
printed next to the timings.

    .venv/bin/python benchmarks/cleanup_cost.py [--ratings 1000000] [--repeats 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn.linear_model  # noqa: F401  (its import heap is part of a notebook's heap)
import torch

from recsys_lib.memory import cleanup, snapshot


def build_heap(n_ratings: int, seed: int) -> dict[str, object]:
    """Objects a training notebook typically holds, from seeded random MovieLens-like data."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n_ratings // 150, 10), max(n_ratings // 50, 10)
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, n_users + 1, n_ratings, dtype=np.int32),
            "item_id": rng.integers(1, n_items + 1, n_ratings, dtype=np.int32),
            "rating": (rng.integers(1, 11, n_ratings) / 2).astype(np.float32),
            "timestamp": rng.integers(9e8, 1.5e9, n_ratings, dtype=np.int32),
        }
    )
    matrix = sp.csr_matrix(
        (ratings["rating"].to_numpy(), (ratings["user_id"] - 1, ratings["item_id"] - 1)),
        shape=(n_users, n_items),
        dtype=np.float32,
    )
    movies = pd.DataFrame({"title": [f"Movie {i} (1999)" for i in range(n_items)]})
    item_index = {int(item): position for position, item in enumerate(range(1, n_items + 1))}
    histories = [row.indices.tolist() for row in matrix[: min(n_users, 5_000)]]
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(n_items, 600), torch.nn.Tanh(), torch.nn.Linear(600, 200)
    )
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(32, n_items)).square().mean().backward()
    optimizer.step()
    return {
        "ratings": ratings,
        "matrix": matrix,
        "movies": movies,
        "item_index": item_index,
        "histories": histories,
        "model": model,
        "optimizer": optimizer,
    }


def time_calls(function: object, repeats: int) -> list[float]:
    """Wall time of each of `repeats` calls, in seconds."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    heap = build_heap(args.ratings, args.seed)
    cleanup()  # the first collection also clears the garbage left by building the heap
    tracked = len(gc.get_objects())
    cleanup_s = time_calls(cleanup, args.repeats)

    median_ms = statistics.median(cleanup_s) * 1000
    rss_mb = snapshot(gpu=False).rss_mb
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs")
    print(f"heap: {args.ratings:,} ratings, {len(heap)} notebook objects, {tracked:,} gc-tracked")
    print(f"      objects, RSS {rss_mb:,.1f} MB, CUDA {torch.cuda.is_available()}")
    print(
        f"cleanup() per call: median {median_ms:.1f} ms, min {min(cleanup_s) * 1000:.1f} ms, "
        f"max {max(cleanup_s) * 1000:.1f} ms over {args.repeats} calls"
    )
    print("overhead of a cleanup every N steps, for a given step time:")
    for every in (1, 10, 50, 100, 500):
        step_ms = median_ms * 100 / every
        print(f"  every {every:>3} steps: <= 1% once a step takes >= {step_ms:,.1f} ms")


if __name__ == "__main__":
    main()
