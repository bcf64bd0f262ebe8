"""`python -m recsys_lib.kaggle build|check` (also `recsys kaggle ...`): write the bundle,
or show what pip would install from it on each runtime."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from recsys_lib.kaggle.bundle import build_bundle
from recsys_lib.kaggle.metadata import (
    DEFAULT_ACCELERATOR,
    DEFAULT_MOVIELENS_DATASET,
    GPU_ACCELERATORS,
    NO_ACCELERATOR,
)
from recsys_lib.kaggle.resolve import resolve_offline
from recsys_lib.kaggle.runtimes import RUNTIMES, runtimes_for_pythons

__all__ = ["main"]

USERNAME_ENV = "KAGGLE_USERNAME"
_DEFAULT_PYTHONS = ", ".join(f"{r.python} ({r.name})" for r in RUNTIMES)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_lib.kaggle",
        description="Build the Kaggle bundle: a dataset of wheels and one kernel folder per "
        "notebook, ready for `kaggle datasets create` and `kaggle kernels push`.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the bundle (no credentials needed)")
    build.add_argument("--out", type=Path, default=Path("dist/kaggle"),
                       help="bundle folder (default: dist/kaggle)")
    build.add_argument("--username", default=os.environ.get(USERNAME_ENV),
                       help=f"Kaggle user name (default: ${USERNAME_ENV})")
    build.add_argument("--movielens-dataset", default=DEFAULT_MOVIELENS_DATASET,
                       help=f"MovieLens dataset the kernels attach "
                       f"(default: {DEFAULT_MOVIELENS_DATASET})")
    _add_python_option(build)
    build.add_argument("--accelerator", default=DEFAULT_ACCELERATOR,
                       help=f"the kernels' machine shape: {', '.join(GPU_ACCELERATORS)}, or "
                       f"{NO_ACCELERATOR} for a CPU kernel (default: {DEFAULT_ACCELERATOR})")
    build.add_argument("--no-deps-wheels", action="store_true",
                       help="skip downloading dependency wheels (no package index needed)")
    build.add_argument("--public", action="store_true", help="make the kernels public")
    build.add_argument("--source", type=Path, default=None,
                       help="source checkout to build from (default: this recsys_lib's)")
    check = commands.add_parser(
        "check", help="show what pip would install from the bundle on each runtime (offline)")
    check.add_argument("--out", type=Path, default=Path("dist/kaggle"),
                       help="bundle folder (default: dist/kaggle)")
    _add_python_option(check)
    return parser


def _add_python_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--python", dest="python_versions", action="append",
                         metavar="VERSION",
                         help="CPython version to cover; repeat for more; replaces the "
                         f"default ({_DEFAULT_PYTHONS})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 = done, 1 = failed)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "build" and not args.username:
        parser.error(f"no Kaggle user name: pass --username or set {USERNAME_ENV}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        runtimes = runtimes_for_pythons(args.python_versions)
        if args.command == "check":
            return _check(args.out / "dataset", runtimes)
        report = build_bundle(
            args.out,
            username=args.username,
            movielens_dataset=args.movielens_dataset,
            runtimes=runtimes,
            download_dependencies=not args.no_deps_wheels,
            private=not args.public,
            accelerator=args.accelerator,
            source_dir=args.source,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.to_text())
    return 0


def _check(dataset_dir: Path, runtimes: Sequence) -> int:
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"{dataset_dir}: no bundle dataset folder (run build first)")
    failed = False
    with tempfile.TemporaryDirectory(prefix="recsys-check-") as tmp:
        for runtime in runtimes:
            try:
                resolution = resolve_offline(dataset_dir, runtime, Path(tmp))
            except RuntimeError as error:
                print(f"error: {error}", file=sys.stderr)
                failed = True
                continue
            print(resolution.to_text())
            failed = failed or bool(resolution.replaces)
    return 1 if failed else 0
