"""`recsys`: run the notebooks, compare runs, show memory, inspect data, build the Kaggle bundle.

Errors print as one line (exit status 2) unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "grid_runs", "main", "parse_grid", "parse_value"]

_SUMMARY_COLUMNS = (
    "run",
    "status",
    "model",
    "rmse",
    "precision@10",
    "ndcg@10",
    "fit_seconds",
    "peak_rss_mb",
    "error",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every `recsys` command."""
    parser = argparse.ArgumentParser(
        prog="recsys", description="Memory-lean recommender training on MovieLens."
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a notebook headlessly into a new run folder",
        description="Run a notebook with papermill. Each run gets a folder with the executed "
        "notebook, results.json, plots and models; a summary table is printed at the end.",
    )
    run.add_argument("notebook", choices=_notebook_keys())
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter, e.g. -p SAMPLE_SIZE 30000 (None, True, numbers parsed)",
    )
    run.add_argument("--config", help="YAML training config (vae): sets the CONFIG parameter")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key (vae), e.g. --set kl_weight=0.02 --set "
        "hidden_dims=[512,256] (values read as YAML); sets the OVERRIDES parameter",
    )
    run.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="one run per combination, e.g. --grid SAMPLE_SIZE=30000,50000 --grid SEED=1,2,3; "
        "lower-case names are config keys (--grid kl_weight=0.01,0.1)",
    )
    run.add_argument(
        "--results-dir",
        help="run folder (default runs/[<experiment>/]<time>-<nb>); with --grid, a folder "
        "holding one sub-folder per combination; one that already holds a run is refused",
    )
    run.add_argument(
        "--experiment-id",
        metavar="NAME",
        help="name and group the runs (sets EXPERIMENT_ID; see recsys report --experiment)",
    )
    run.add_argument(
        "--tracking",
        choices=("wandb",),
        help="log each run to Weights & Biases when it ends (sets TRACKING; needs wandb)",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last checkpoint, with its own parameters",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar over cells")
    run.set_defaults(handler=_run)

    report = commands.add_parser(
        "report",
        help="table of all runs, best first, with what differs and what failed",
        description="Collect every results.json under RUNS_DIR into one table (text and CSV) "
        "with the settings that differ between the runs, epochs, stop reason and training "
        "minutes; the success rate; failed runs grouped by error type with the settings "
        "they share; and a plot.",
    )
    report.add_argument("runs_dir", nargs="?", default=None, help="default: the runs folder")
    report.add_argument("--metric", default="ndcg@10", help="sort key (default ndcg@10)")
    report.add_argument("--experiment", metavar="NAME", help="only the runs of this experiment id")
    report.add_argument("--csv", help="CSV path (default RUNS_DIR/report.csv)")
    report.add_argument(
        "--plot",
        choices=("metrics", "curves"),
        default="metrics",
        help="metrics: bars of --metric per run and model (default); curves: the runs' "
        "validation curves overlaid",
    )
    report.add_argument(
        "--plot-path", help="PNG path (default RUNS_DIR/report.png or report_curves.png)"
    )
    report.set_defaults(handler=_report)

    tune = commands.add_parser(
        "tune",
        help="hyper-parameter search with Optuna (pip install 'recsys-lib[tune]')",
        description="Search a space of config keys and notebook parameters with Optuna. "
        "Trials run in-process on the validation carve-out of the training ratings, VAE "
        "trials pruned per epoch; the study is stored in SQLite in its folder (resume a "
        "killed search with --resume). Prints the best parameters and the trials table, "
        "writes trials.csv, study.png and the best configuration as YAML.",
    )
    tune.add_argument("notebook", choices=("vae", "classical"))
    tune.add_argument("--space", help="space YAML (or a shipped one: rating_vae, mult_vae, "
                      "classical_svd, classical_knn, classical_als); --resume reuses the study's")
    tune.add_argument("--trials", type=int, required=True,
                      help="finished trials the study should hold")
    tune.add_argument("--timeout", type=float, metavar="MIN",
                      help="start no trial after this many minutes")
    tune.add_argument("--resume", nargs="?", const=True, default=None, metavar="STUDY_DIR",
                      help="continue a killed search (default: the latest unfinished one)")
    tune.add_argument("--results-dir", help="study folder (default runs/[<experiment>/]"
                      "<time>-tune-<notebook>)")
    tune.add_argument("--experiment-id", metavar="NAME",
                      help="recorded in every trial (default: the study folder's name)")
    tune.add_argument("--seed", type=int, default=42, help="sampler seed (default 42)")
    tune.set_defaults(handler=_tune)

    recommend = commands.add_parser(
        "recommend",
        help="top-k recommendations of a run's trained model",
        description="Load a model a run saved and print one user's top-k with titles, next "
        "to the user's own top-rated movies; or, with --all --out, export every user's top-k "
        "to a CSV.",
    )
    recommend.add_argument("run_dir", help="the run folder (holding results.json, models/)")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=int, help="a user id of the training data")
    who.add_argument("--all", action="store_true", help="every user (needs --out)")
    recommend.add_argument("-k", type=int, default=10, help="items per user (default 10)")
    recommend.add_argument(
        "--model", help="a saved model's name (default: the best non-yardstick by ndcg@10)"
    )
    recommend.add_argument("--out", help="CSV path for --all")
    recommend.add_argument(
        "--batch-users", type=int, default=500, help="users scored at once with --all"
    )
    recommend.set_defaults(handler=_recommend)

    similar = commands.add_parser(
        "similar",
        help="movies like a movie, from a run's model",
        description="The nearest items of a movie in a model with item similarities or item "
        "factors (ItemKNN, SVD, ALS, EASE). Titles match forgivingly; an ambiguous one lists "
        "the candidates.",
    )
    similar.add_argument("run_dir", help="the run folder")
    similar.add_argument("--movie", required=True, help='a title, part of one, or an item id')
    similar.add_argument("-k", type=int, default=10, help="similar items (default 10)")
    similar.add_argument(
        "--model", help="a saved model's name (default: the best one with item similarities)"
    )
    similar.set_defaults(handler=_similar)

    memory = commands.add_parser("memory", help="memory snapshot: RSS, limit, available, GPU, disk")
    memory.add_argument("--json", action="store_true", help="print JSON instead of a table")
    memory.set_defaults(handler=_memory)

    data = commands.add_parser("data", help="inspect MovieLens data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = data_commands.add_parser(
        "info",
        help="format, counts, density and footprint of a data set",
        description="Find the data set at PATH (a folder, a ratings file or a release name), "
        "load it and print its format, counts, density and memory footprint.",
    )
    info.add_argument("path", nargs="?", default=None, help="default: discover as notebooks do")
    from recsys_lib.data.loading import BAD_ROW_POLICIES

    info.add_argument(
        "--on-bad-rows",
        choices=BAD_ROW_POLICIES,
        default="error",
        help="stop at the first malformed row (default) or skip and count them",
    )
    info.set_defaults(handler=_data_info)

    kaggle = commands.add_parser(
        "kaggle",
        help="build the Kaggle bundle (dataset + notebooks)",
        add_help=False,
        description="Arguments after 'kaggle' go to `python -m recsys_lib.kaggle`.",
    )
    kaggle.add_argument("kaggle_args", nargs=argparse.REMAINDER)
    kaggle.set_defaults(handler=_kaggle)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `recsys` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s"
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"recsys {args.command}: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


def parse_value(text: str) -> Any:
    """A parameter value from the command line: None, True/False, int, float, else str."""
    if text in ("None", "none", "null"):
        return None
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float)) else text


def parse_grid(specs: list[str]) -> list[dict[str, Any]]:
    """Every combination of `NAME=v1,v2,...` specs, in order (an empty list gives one run).

    UPPER_CASE names are notebook parameters (values read by `parse_value`); lower-case
    names are config keys (values read as YAML, so `hidden_dims=[64,32],[128]` is two).

    Raises:
        ValueError: a spec is not `NAME=VALUES`, or a name repeats.
    """
    from recsys_lib.runs.overrides import parse_config_value, split_values

    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name or not values:
            raise ValueError(f"grid spec {spec!r} must look like NAME=v1,v2 (e.g. SEED=1,2,3)")
        if name in axes:
            raise ValueError(f"grid parameter {name} is given twice")
        parse = parse_value if name.isupper() else parse_config_value
        axes[name] = [parse(value.strip()) for value in split_values(values)]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def grid_runs(
    grid: list[dict[str, Any]], settings: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The notebook parameters of each grid combination: its UPPER_CASE names as they are,
    its config keys (lower case) merged over `settings` (`--set`) into OVERRIDES."""
    runs = []
    for combo in grid:
        params = {name: value for name, value in combo.items() if name.isupper()}
        overrides = {**(settings or {}),
                     **{name: value for name, value in combo.items() if not name.isupper()}}
        if overrides:
            params["OVERRIDES"] = overrides
        runs.append(params)
    return runs


def _notebook_keys() -> list[str]:
    from recsys_lib.runs.notebooks import NOTEBOOKS

    return list(NOTEBOOKS)


def _run(args: argparse.Namespace) -> int:
    from recsys_lib.runs.runner import run_grid, run_notebook

    base: dict[str, Any] = {name: parse_value(value) for name, value in args.param}
    if args.config:
        base["CONFIG"] = (
            str(Path(args.config).resolve()) if Path(args.config).exists() else args.config
        )
    from recsys_lib.runs.notebooks import notebook_spec
    from recsys_lib.runs.overrides import parse_settings

    settings = parse_settings(args.set)
    grid = grid_runs(parse_grid(args.grid), settings)
    if any("OVERRIDES" in combo for combo in grid) and "OVERRIDES" not in (
        notebook_spec(args.notebook).params_type().field_names()
    ):
        raise ValueError(f"config keys (--set, lower-case --grid names) apply to the vae "
                         f"notebook; {args.notebook} takes only -p NAME VALUE parameters")
    if args.resume and (args.grid or args.results_dir):
        raise ValueError("--resume continues one run in its own folder; drop --grid and "
                         "--results-dir")
    if args.experiment_id:
        base["EXPERIMENT_ID"] = args.experiment_id
    if args.tracking:
        base["TRACKING"] = args.tracking
    if len(grid) == 1 and not args.grid:
        outcomes = [
            run_notebook(
                args.notebook,
                {**base, **grid[0]},
                results_dir=args.results_dir,
                resume=args.resume,
                progress=not args.no_progress,
            )
        ]
    else:
        outcomes = run_grid(args.notebook, base, grid, progress=not args.no_progress,
                            results_dir=args.results_dir)
    rows = []
    for outcome in outcomes:
        results = outcome.results
        models = results.get("metrics") or {"": {}}
        for model, values in models.items():
            rows.append(
                {
                    "run": outcome.run_dir.name,
                    "status": results.get("status"),
                    "model": model,
                    **values,
                    "error": results.get("error"),
                }
            )
        error = "" if outcome.ok else f" ({results.get('error')})"
        print(f"{outcome.run_dir.name}: {results.get('status')}{error}")
        print(f"  executed notebook: {outcome.executed}")
        print(f"  results:           {outcome.run_dir / 'results.json'}")
    _print_table(rows, _SUMMARY_COLUMNS)
    interrupted = next((o.interrupted_by for o in outcomes if o.interrupted_by), None)
    if interrupted:
        print(f"interrupted by {interrupted}; resume with: recsys run {args.notebook} "
              f"--resume {outcomes[-1].run_dir}", file=sys.stderr)
        return 128 + signal.Signals[interrupted].value
    failed = sum(not outcome.ok for outcome in outcomes)
    if failed:
        print(f"{failed} of {len(outcomes)} runs failed", file=sys.stderr)
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from recsys_lib.environment import output_root
    from recsys_lib.plots import plot_runs, plot_validation_curves, save_figure
    from recsys_lib.runs.report import build_report

    runs_dir = Path(args.runs_dir) if args.runs_dir else output_root()
    report = build_report(runs_dir, metric=args.metric, experiment=args.experiment)
    if report.runs.empty:
        which = f" of experiment {args.experiment!r}" if args.experiment else ""
        print(f"no results.json{which} under {runs_dir}")
        return 0
    print(report.to_text())
    csv_path = Path(args.csv) if args.csv else runs_dir / "report.csv"
    report.models.to_csv(csv_path, index=False)
    print(f"\nCSV: {csv_path}")
    if args.plot == "curves":
        curves = report.curves()
        if not curves:
            raise ValueError("none of the selected runs has per-epoch curves "
                             "(results.json 'history'; VAE runs have them)")
        figure, default = plot_validation_curves(curves), "report_curves"
    elif args.metric in report.models and report.models[args.metric].notna().any():
        figure, default = plot_runs(report.models, args.metric), "report"
    else:
        return 0
    plot_path = Path(args.plot_path) if args.plot_path else runs_dir / default
    print(f"Plot: {save_figure(figure, plot_path.parent, plot_path.stem)}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from recsys_lib.runs.space import SearchSpace
    from recsys_lib.runs.tune import latest_unfinished_study, tune

    space = SearchSpace.from_yaml(args.space) if args.space else None
    if space is None and not args.resume:
        raise ValueError("give --space SPACE.yaml (or --resume a study)")
    if space is not None and space.notebook != args.notebook:
        raise ValueError(f"{space.source} is a {space.notebook} space, not {args.notebook}")
    study_dir = args.results_dir
    if args.resume is True and study_dir is None:
        study_dir = latest_unfinished_study()
    elif isinstance(args.resume, str):
        study_dir = args.resume
    outcome = tune(space, args.trials, study_dir=study_dir, resume=bool(args.resume),
                   timeout_minutes=args.timeout, experiment_id=args.experiment_id,
                   seed=args.seed)
    print(f"Study: {outcome.study_dir}")
    print(outcome.trials.to_string(index=False, na_rep="", float_format="%.4g"))
    if outcome.best_value is None:
        print(f"no trial completed; validation {outcome.metric} unknown")
    else:
        best = ", ".join(f"{key}={value}" for key, value in outcome.best_params.items())
        print(f"\nBest validation {outcome.metric}: {outcome.best_value:.6g} with {best}")
    for name, path in outcome.files.items():
        print(f"  {name}: {path}")
    if outcome.interrupted:
        print(f"interrupted by {outcome.interrupted}; resume with: recsys tune "
              f"{args.notebook} --trials {args.trials} --resume {outcome.study_dir}",
              file=sys.stderr)
        return 128 + signal.Signals[outcome.interrupted].value
    return 0


def _recommend(args: argparse.Namespace) -> int:
    import numpy as np

    from recsys_lib.runs.tables import with_titles
    from recsys_lib.runs.trained import (
        export_recommendations,
        load_run_model,
        run_movies,
        user_top_rated,
    )

    if args.k <= 0:
        raise ValueError(f"-k must be positive, got {args.k}")
    if args.all and not args.out:
        raise ValueError("--all writes every user's top-k to a CSV: give --out FILE.csv")
    name, model = load_run_model(args.run_dir, args.model)
    movies = run_movies(args.run_dir)
    if args.all:
        written = export_recommendations(model, args.out, movies, args.k, args.batch_users)
        print(f"{name}: {written:,} recommendations for {model.train_.n_users:,} users "
              f"written to {args.out}")
        return 0
    favourites = user_top_rated(model, movies, args.user)
    print(f"User {args.user}: top-rated movies in {name}'s training data")
    print(favourites.to_string(index=False))
    items, scores = model.recommend(np.array([args.user]), args.k)
    keep = items[0] >= 0
    table = with_titles(_item_frame(items[0][keep], scores[0][keep]), movies)
    table.insert(0, "rank", range(1, len(table) + 1))
    print(f"\nTop-{args.k} recommendations by {name}")
    print(table.to_string(index=False, float_format="%.4g"))
    return 0


def _similar(args: argparse.Namespace) -> int:
    import numpy as np

    from recsys_lib.runs.tables import similar_movies, with_titles
    from recsys_lib.runs.titles import find_movie
    from recsys_lib.runs.trained import load_run_model, run_movies

    if args.k <= 0:
        raise ValueError(f"-k must be positive, got {args.k}")
    name, model = load_run_model(args.run_dir, args.model, need_similarity=True)
    movies = run_movies(args.run_dir)
    known = movies.loc[movies["item_id"].isin(model.train_.item_ids)]
    if args.movie.strip().isdigit():
        item = int(args.movie)
    elif known.empty:
        raise ValueError(f"{args.run_dir} records no movie titles: give --movie an item id")
    else:
        item = find_movie(known, args.movie)
    table = similar_movies(model, movies, item, args.k)
    title = with_titles(_item_frame(np.array([item]), np.array([np.nan])), movies)["title"][0]
    print(f"Movies like {title} (id {item}), by {name}")
    print(table.to_string(index=False, float_format="%.4g"))
    return 0


def _item_frame(items: Any, scores: Any, score_name: str = "score") -> Any:
    """A frame of item ids and their scores."""
    import pandas as pd

    return pd.DataFrame({"item_id": items, score_name: scores})


def _memory(args: argparse.Namespace) -> int:
    from recsys_lib.memory import machine_memory

    memory = machine_memory()
    print(json.dumps(memory.to_dict(), indent=2) if args.json else memory.to_text())
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from recsys_lib.data import describe_ratings, find_source, load_ratings

    source = find_source(args.path)
    print(source.describe())
    ratings = load_ratings(source, on_bad_rows=args.on_bad_rows)
    info = {"format": source.layout, **describe_ratings(ratings)}
    width = max(len(key) for key in info)
    for key, value in info.items():
        shown = (
            f"{value:,.6g}"
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int)
            else value
        )
        print(f"{key:<{width}}  {shown}")
    return 0


def _kaggle(args: argparse.Namespace) -> int:
    from recsys_lib.kaggle import main as kaggle_main

    return int(kaggle_main(args.kaggle_args) or 0)


def _print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    import pandas as pd

    table = pd.DataFrame(rows)
    shown = [c for c in columns if c in table and table[c].notna().any()]
    if shown:
        print(table[shown].to_string(index=False, na_rep="", float_format="%.4g"))


if __name__ == "__main__":
    sys.exit(main())
