"""`python -m recsys_lib.kaggle build` (also `recsys kaggle build`): write the bundle."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from recsys_lib.kaggle.bundle import build_bundle
from recsys_lib.kaggle.metadata import DEFAULT_MOVIELENS_DATASET

__all__ = ["main"]

USERNAME_ENV = "KAGGLE_USERNAME"


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
    build.add_argument("--python", dest="python_versions", action="append",
                       metavar="VERSION",
                       help="Python version to fetch dependency wheels for; repeat for more "
                       "(default: 3.10 and 3.11)")
    build.add_argument("--no-deps-wheels", action="store_true",
                       help="skip downloading dependency wheels (no package index needed)")
    build.add_argument("--public", action="store_true", help="make the kernels public")
    build.add_argument("--source", type=Path, default=None,
                       help="source checkout to build from (default: this recsys_lib's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 = bundle written)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.username:
        parser.error(f"no Kaggle user name: pass --username or set {USERNAME_ENV}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = build_bundle(
            args.out,
            username=args.username,
            movielens_dataset=args.movielens_dataset,
            python_versions=tuple(args.python_versions or ("3.10", "3.11")),
            download_dependencies=not args.no_deps_wheels,
            private=not args.public,
            source_dir=args.source,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.to_text())
    return 0
