"""Classical notebook targets, measured: quality, speed and memory, and scale.

    python benchmarks/classical.py                # all three parts
    python benchmarks/classical.py --part quality --part speed
    python benchmarks/classical.py --part scale --scale-ratings 5000000

quality: the notebook's pipeline on the full embedded ml-latest-small, seeded random 80/20
         split: SVD and ItemKNN RMSE vs BiasBaseline, ALS NDCG@10/P@10 vs Popularity.
speed:   the notebook itself headless with SAMPLE_SIZE=50000 (kernel start included):
         wall time, each fit, kernel peak RSS, data + fitted models in MB.
scale:   SAMPLE_SIZE=None on a synthetic MovieLens-25M-shaped ratings.csv: load, split,
         fit every model, evaluate on 10,000 users; time and peak memory per step, and
         each model's scores.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from recsys_lib.data import synthetic_ratings, write_ratings
from recsys_lib.data.synthetic import ML_25M_SHAPE
from recsys_lib.memory import MemoryMonitor
from recsys_lib.models import Recommender
from recsys_lib.runs.classical import YARDSTICKS, ClassicalParams, classical_models
from recsys_lib.runs.runner import run_notebook
from recsys_lib.runs.steps import EvaluationContext, PreparedData, prepare_data
from recsys_lib.runs.tables import diagnostics_table, results_table


def check(label: str, ok: bool, detail: str) -> bool:
    print(f"  [{'PASS' if ok else 'MISS'}] {label}: {detail}")
    return ok


def fit_and_score(
    models: dict[str, Recommender], data: PreparedData, evaluation: EvaluationContext
) -> dict[str, dict]:
    """Fit each model on the training set and score it (as the notebook does), one at a
    time so a fitted model can be freed before the next."""
    metrics = {}
    for name in list(models):
        model = models.pop(name)
        with evaluation.memory.track(f"fit {name}") as fitting:
            model.fit(data.train)
        metrics[name] = evaluation.evaluate(name, model, fitting).summary()
        del model
    return metrics


def quality() -> bool:
    print("\n== Quality: full embedded ml-latest-small, seeded random 80/20 split ==")
    params = ClassicalParams(SAMPLE_SIZE=None)
    monitor = MemoryMonitor()
    data = prepare_data(params, monitor)
    evaluation = EvaluationContext(data.split.test, monitor, seed=params.SEED)
    metrics = fit_and_score(classical_models(params, data.train.n_items), data, evaluation)
    table = results_table(metrics, YARDSTICKS).join(diagnostics_table(metrics)["map@10"])
    print(table.round(4).to_string())
    base, pop, als = metrics["BiasBaseline"], metrics["Popularity"], metrics["ALS"]
    results = [
        check(
            f"{name} RMSE < BiasBaseline",
            metrics[name]["rmse"] < base["rmse"],
            f"{metrics[name]['rmse']:.4f} vs {base['rmse']:.4f} "
            f"({metrics[name]['rmse'] / base['rmse']:.3f}x)",
        )
        for name in ("SVD", "ItemKNN")
    ]
    results += [
        check(
            f"ALS {metric} > Popularity",
            als[metric] > pop[metric],
            f"{als[metric]:.4f} vs {pop[metric]:.4f} ({als[metric] / pop[metric]:.2f}x)",
        )
        for metric in ("ndcg@10", "precision@10")
    ]
    return all(results)


def speed() -> bool:
    print("\n== Speed and memory: the notebook headless, SAMPLE_SIZE=50000 ==")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        outcome = run_notebook(
            "classical", {"SAMPLE_SIZE": 50_000}, results_dir=folder, progress=False
        )
        wall = time.perf_counter() - start
    results = outcome.results
    if not outcome.ok:
        print(f"  notebook failed: {results.get('error')}")
        return False
    metrics = results["metrics"]
    fits = {name: values["fit_seconds"] for name, values in metrics.items()}
    models_mb = sum(values.get("model_mb", 0.0) for values in metrics.values())
    data_mb = results["data"]["footprint_mb"]
    peak = results["process_peak_rss_mb"]
    print("  fit seconds: " + ", ".join(f"{name} {sec:.2f}" for name, sec in fits.items()))
    return all(
        [
            check("whole notebook (kernel start included) < 60 s", wall < 60, f"{wall:.1f} s"),
            check("every fit < 5 s", max(fits.values()) < 5, f"slowest {max(fits.values()):.2f} s"),
            check("kernel peak RSS < 600 MB", peak < 600, f"{peak:.0f} MB"),
            check(
                "data + fitted models < 50 MB",
                data_mb + models_mb < 50,
                f"{data_mb:.1f} MB data + {models_mb:.1f} MB models = {data_mb + models_mb:.1f} MB",
            ),
        ]
    )


def scale(n_ratings: int, folder: Path) -> bool:
    shape = dict(ML_25M_SHAPE)
    factor = n_ratings / shape["n_ratings"]
    shape = {
        "n_users": max(1000, int(shape["n_users"] * factor)),
        "n_items": max(1000, int(shape["n_items"] * factor**0.5)),
        "n_ratings": n_ratings,
    }
    print(
        f"\n== Scale: synthetic {shape['n_ratings']:,} ratings, {shape['n_users']:,} users, "
        f"{shape['n_items']:,} items; SAMPLE_SIZE=None, 10,000-user evaluation =="
    )
    data_dir = folder / f"synthetic-{n_ratings}"
    if not (data_dir / "ratings.csv").exists():
        start = time.perf_counter()
        write_ratings(synthetic_ratings(**shape, seed=7), data_dir, "csv")
        print(f"  (wrote {data_dir / 'ratings.csv'} in {time.perf_counter() - start:.0f} s)")
    params = ClassicalParams(DATA_PATH=str(data_dir), SAMPLE_SIZE=None, EVAL_USERS=10_000)
    monitor = MemoryMonitor()
    start = time.perf_counter()
    data = prepare_data(params, monitor)
    evaluation = EvaluationContext(
        data.split.test, monitor, max_users=params.EVAL_USERS, seed=params.SEED
    )
    metrics = fit_and_score(classical_models(params, data.train.n_items), data, evaluation)
    total = time.perf_counter() - start
    timeline = monitor.timeline()
    print(timeline[["label", "seconds", "peak_rss_mb"]].round(1).to_string(index=False))
    print(results_table(metrics, YARDSTICKS).round(4).to_string())
    peak_gb = timeline["peak_rss_mb"].max() / 1024
    return all(
        [
            check("load + split + fit + evaluate <= 2 min", total <= 120, f"{total / 60:.1f} min"),
            check("peak RSS <= 1.5 GB", peak_gb <= 1.5, f"{peak_gb:.2f} GB"),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=["quality", "speed", "scale"])
    parser.add_argument("--scale-ratings", type=int, default=ML_25M_SHAPE["n_ratings"])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "recsys_bench"
    )
    args = parser.parse_args()
    parts = args.part or ["quality", "speed", "scale"]
    outcomes = []
    if "quality" in parts:
        outcomes.append(quality())
    if "speed" in parts:
        outcomes.append(speed())
    if "scale" in parts:
        outcomes.append(scale(args.scale_ratings, args.data_dir))
    print("\nall targets met" if all(outcomes) else "\nsome targets missed")
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
