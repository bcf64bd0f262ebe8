"""Peak memory and time of drawing a 50,000-rating sample from a huge ratings.csv while
streaming it, next to loading the whole file.

Writes a synthetic MovieLens-shaped ratings.csv (25 million rows by default, ml-25m's
size; kept in --folder and reused by later runs), then runs each case in a fresh
subprocess and measures it with recsys_lib's memory monitor (RSS sampled on a thread every
5 ms) and the kernel's RSS high-water mark (VmHWM, reset at the start of the case):

    full            load_ratings(folder)
    sample-ratings  load_ratings(folder, sample_size=50_000, strategy="ratings")
    sample-users    load_ratings(folder, sample_size=50_000, strategy="users")

Targets: each sample's peak extra RSS under 500 MB and under a third of the full load's.

    .venv/bin/python benchmarks/streaming_sample.py [--rows 25000000] [--sample 50000]
        [--folder /tmp/recsys_streaming_sample] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "full": None,
    "sample-ratings": "ratings",
    "sample-users": "users",
}
TARGET_MB = 500.0
TARGET_SHARE = 1 / 3
# ml-25m holds 25,000,095 ratings by 162,541 users on 59,047 movies.
RATINGS_PER_USER = 154
RATINGS_PER_ITEM = 423


def ensure_csv(folder: Path, rows: int, seed: int) -> Path:
    """Write the synthetic ratings.csv unless a file of this size and seed is there."""
    from recsys_lib.data.synthetic import synthetic_ratings
    from recsys_lib.data.writers import write_ratings

    stamp = folder / "rows-seed.txt"
    if stamp.is_file() and stamp.read_text() == f"{rows} {seed}":
        print(f"reusing {folder / 'ratings.csv'} ({rows:,} rows)")
        return folder
    start = time.perf_counter()
    n_users = max(rows // RATINGS_PER_USER, 1)
    n_items = max(rows // RATINGS_PER_ITEM, 10)
    ratings = synthetic_ratings(n_users, n_items, rows, seed=seed)
    write_ratings(ratings, folder, "csv")
    del ratings
    gc.collect()
    stamp.write_text(f"{rows} {seed}")
    size_mb = (folder / "ratings.csv").stat().st_size / 2**20
    print(
        f"wrote {folder / 'ratings.csv'}: {rows:,} rows, {n_users:,} users, {n_items:,} items, "
        f"{size_mb:,.0f} MB in {time.perf_counter() - start:.0f} s"
    )
    return folder


def measure(case: str, folder: Path, sample: int, seed: int) -> dict:
    """Run one case in this process (called in a fresh subprocess) and return its figures."""
    from recsys_lib.data.loading import load_ratings
    from recsys_lib.memory import MemoryMonitor

    strategy = CASES[case]
    kwargs = {} if strategy is None else {"sample_size": sample, "strategy": strategy}
    gc.collect()
    monitor = MemoryMonitor(interval_s=0.005)
    reset_high_water_mark()
    with monitor.track(case) as record:
        frame = load_ratings(folder, seed=seed, **kwargs)
    return {
        "case": case,
        "seconds": record.seconds,
        "start_rss_mb": record.start_rss_mb,
        "peak_extra_mb": record.peak_rss_mb - record.start_rss_mb,
        "kernel_peak_extra_mb": high_water_mark_mb() - record.start_rss_mb,
        "rows": len(frame),
        "frame_mb": frame.memory_usage(deep=True).sum() / 2**20,
        "rows_read": frame.attrs["sample"]["n_rows_read"],
    }


def reset_high_water_mark() -> None:
    """Make the kernel's RSS high-water mark start again from the current RSS (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def high_water_mark_mb() -> float:
    """The kernel's RSS high-water mark in MB (VmHWM; ru_maxrss where /proc is absent)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_case(case: str, folder: Path, sample: int, seed: int) -> dict:
    command = [
        sys.executable, __file__, "--measure", case, "--folder", str(folder),
        "--sample", str(sample), "--seed", str(seed),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{case} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=25_000_000, help="rows of the ratings.csv")
    parser.add_argument("--sample", type=int, default=50_000, help="sample size (ratings)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/recsys_streaming_sample"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.sample, args.seed)))
        return 0

    ensure_csv(args.folder, args.rows, args.seed)
    print(f"python {platform.python_version()}, {platform.machine()}, one subprocess per case")
    results = {case: run_case(case, args.folder, args.sample, args.seed) for case in CASES}
    print(f"\n{'case':<16}{'rows read':>12}{'rows kept':>11}{'frame MB':>10}"
          f"{'peak extra RSS MB':>19}{'(kernel)':>10}{'seconds':>9}")  # fmt: skip
    for case, r in results.items():
        print(f"{case:<16}{r['rows_read']:>12,}{r['rows']:>11,}{r['frame_mb']:>10.1f}"
              f"{r['peak_extra_mb']:>19.1f}{r['kernel_peak_extra_mb']:>10.1f}"
              f"{r['seconds']:>9.1f}")  # fmt: skip
    full = max(results["full"]["peak_extra_mb"], 1e-9)
    ok = True
    print()
    for case in ("sample-ratings", "sample-users"):
        peak = results[case]["peak_extra_mb"]
        passed = peak < TARGET_MB and peak < TARGET_SHARE * full
        ok &= passed
        print(
            f"{case}: peak extra RSS {peak:.1f} MB = {peak / full:.3f} of the full load's "
            f"{full:.1f} MB; time {results[case]['seconds'] / results['full']['seconds']:.2f}x "
            f"the full load's; target < {TARGET_MB:.0f} MB and < {TARGET_SHARE:.3f}: "
            f"{'met' if passed else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
