"""The sweep behind ItemKNN's defaults: RMSE against BiasBaseline over data sets and sizes.

    python benchmarks/knn_sweep.py
    python benchmarks/knn_sweep.py --k 15 40 --shrinkage 25 100 --min-support 1 3

Data sets (each a seeded random 80/20 split): the embedded ml-latest-small in full (split
seed 42), uniform 30,000- and 50,000-rating samples of it with seeds 1-3 (split with the
same seed), and a synthetic 60,000-rating set (3,000 users, 2,000 items, seed 5). For
every setting it prints the RMSE minus BiasBaseline's on each data set, the mean and the
worst (largest) difference. A good default has a negative worst case (never loses to the
baseline), the best mean difference and a full-data RMSE near the lowest. Similarities
are computed once per (shrinkage, min_support); k and damping only change predictions.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import pandas as pd

from recsys_lib.data import (
    Interactions,
    load_ratings,
    sample_ratings,
    split_ratings,
    synthetic_ratings,
)
from recsys_lib.evaluation import evaluate_ratings
from recsys_lib.models import BiasBaseline, ItemKNN


def data_sets() -> list[tuple[str, pd.DataFrame, int]]:
    """(name, ratings, split seed) for every data set of the sweep."""
    full = load_ratings()
    sets = [("full", full, 42)]
    sets += [
        (f"{size // 1000}k/s{seed}", sample_ratings(full, size, seed=seed), seed)
        for size in (30_000, 50_000)
        for seed in (1, 2, 3)
    ]
    sets.append(("synthetic", synthetic_ratings(3_000, 2_000, 60_000, seed=5), 5))
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[15, 40])
    parser.add_argument("--shrinkage", type=float, nargs="+", default=[25.0, 100.0])
    parser.add_argument("--min-support", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--damping", type=float, nargs="+", default=[0.3, 1.0])
    parser.add_argument("--amplification", type=float, nargs="+", default=[1.0])
    parser.add_argument("--n-candidates", type=int, default=200)
    args = parser.parse_args()
    rows = []
    start = time.perf_counter()
    for name, ratings, seed in data_sets():
        split = split_ratings(ratings, seed=seed)
        train = Interactions.from_ratings(split.train)
        base = evaluate_ratings(BiasBaseline().fit(train), split.test)["rmse"]
        for shrinkage, min_support in itertools.product(args.shrinkage, args.min_support):
            model = ItemKNN(
                n_neighbors=min(args.k), shrinkage=shrinkage, min_support=min_support,
                n_candidates=max(args.n_candidates, *args.k),
            ).fit(train)
            for k, damping, power in itertools.product(args.k, args.damping,
                                                       args.amplification):
                # prediction-time settings
                model.n_neighbors, model.damping, model.amplification = k, damping, power
                rmse = evaluate_ratings(model, split.test)["rmse"]
                rows.append({"data": name, "k": k, "shrinkage": shrinkage,
                             "min_support": min_support, "damping": damping,
                             "amplification": power,
                             "rmse": rmse, "baseline": base, "delta": rmse - base})
        print(f"  {name}: {len(split.train):,} train ratings, BiasBaseline {base:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    settings = ["k", "shrinkage", "min_support", "damping", "amplification"]
    wide = table.pivot_table(index=settings, columns="data", values="delta", sort=False)
    summary = pd.DataFrame({
        "mean_delta": wide.mean(axis=1),
        "worst_delta": wide.max(axis=1),
        "full_rmse": table[table["data"] == "full"].set_index(settings)["rmse"],
    })
    print("\nRMSE minus BiasBaseline's (negative = better than the baseline):")
    print(wide.round(4).to_string())
    print("\nKNN_SWEEP summary (sorted by full-data RMSE, never-losing settings first):")
    summary["never_loses"] = summary["worst_delta"] <= 0
    summary = summary.sort_values(["never_loses", "full_rmse"], ascending=[False, True])
    print(summary.round(4).to_string())
    defaults = ItemKNN().get_params()
    defaults["k"] = defaults["n_neighbors"]
    key = tuple(float(defaults[name]) for name in settings)
    match = [row for row in summary.itertuples() if tuple(map(float, row.Index)) == key]
    if match:
        row = match[0]
        print(f"\ndefault ItemKNN{key}: full RMSE {row.full_rmse:.4f}, mean delta "
              f"{row.mean_delta:+.4f}, worst {row.worst_delta:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
