"""`recsys` commands: help everywhere, one-line errors, and each command's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_lib.cli import main, parse_grid, parse_value
from recsys_lib.data import synthetic_ratings, write_ratings


@pytest.mark.parametrize(
    "argv",
    [[], ["run"], ["report"], ["memory"], ["data"], ["data", "info"], ["recommend"],
     ["similar"], ["tune"]],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    assert "usage: recsys" in capsys.readouterr().out


def test_kaggle_help_is_passed_through():
    done = subprocess.run([sys.executable, "-m", "recsys_lib.cli", "kaggle", "build", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--username" in done.stdout


def test_memory_prints_the_limit_and_available(capsys):
    assert main(["memory"]) == 0
    out = capsys.readouterr().out.lower()
    assert "limit" in out and "available" in out and "rss" in out


def test_memory_json_is_parseable(capsys):
    assert main(["memory", "--json"]) == 0
    snapshot = json.loads(capsys.readouterr().out)
    assert snapshot["limit_mb"] > snapshot["rss_mb"] > 0


def test_data_info_reports_format_and_counts(tmp_path, capsys):
    ratings = synthetic_ratings(n_users=50, n_items=40, n_ratings=600, seed=3)
    folder = write_ratings(ratings, tmp_path / "export", "ml-1m")
    assert main(["data", "info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "ml-1m" in out
    assert "n_ratings" in out and "600" in out
    assert "n_users" in out and "50" in out


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsys data: error: DataError:")
    assert "missing" in err and "Traceback" not in err and err.count("\n") == 1


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="missing"):
        main(["--debug", "data", "info", str(tmp_path / "missing")])


def test_report_prints_table_and_writes_csv_and_plot(tmp_path, capsys):
    for name, ndcg in [("r1", 0.25), ("r2", 0.5)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"status": "ok", "notebook": "classical_cf", "params": {},
             "metrics": {"ALS": {"ndcg@10": ndcg}}}))
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("r2") < out.index("r1")  # best first
    assert (tmp_path / "report.csv").read_text().count("\n") == 3
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_report_on_a_missing_folder_fails_clearly(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no runs folder" in capsys.readouterr().err


def test_grid_with_results_dir_makes_one_folder_per_combination(tmp_path, monkeypatch, capsys):
    from recsys_lib.runs import runner

    calls = []

    def fake_run(name, params, *, progress, results_dir):
        calls.append((name, params, results_dir))
        results = {"status": "ok", "notebook": "vae_training", "params": params,
                   "experiment_id": params.get("EXPERIMENT_ID"), "metrics": {}}
        Path(results_dir).mkdir(parents=True)
        (Path(results_dir) / "results.json").write_text(json.dumps(results))
        return runner.RunOutcome(Path(results_dir), Path(results_dir) / "x.ipynb", results)

    monkeypatch.setattr(runner, "run_notebook", fake_run)
    assert main(["run", "vae", "--grid", "SEED=1,2", "--grid", "hidden_dims=[64,32],[8]",
                 "--set", "lr=0.01", "--results-dir", str(tmp_path / "grid"),
                 "--experiment-id", "wide-vs-narrow"]) == 0
    folders = [Path(results_dir).relative_to(tmp_path).as_posix() for *_, results_dir in calls]
    assert folders == ["grid/SEED-1_hidden_dims-64x32", "grid/SEED-1_hidden_dims-8",
                       "grid/SEED-2_hidden_dims-64x32", "grid/SEED-2_hidden_dims-8"]
    assert all(params["EXPERIMENT_ID"] == "wide-vs-narrow" for _, params, _ in calls)
    assert calls[1][1]["OVERRIDES"] == {"lr": 0.01, "hidden_dims": [8]}
    capsys.readouterr()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text(json.dumps(
        {"status": "ok", "notebook": "classical_cf", "params": {}, "metrics": {}}))
    assert main(["report", str(tmp_path), "--experiment", "wide-vs-narrow"]) == 0
    out = capsys.readouterr().out
    assert out.count("grid/SEED-") == 4 and "other" not in out


@pytest.mark.slow
def test_run_grid_records_failures_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECSYS_OUTPUT_DIR", str(tmp_path))
    status = main(["run", "classical", "--no-progress", "-p", "SAMPLE_SIZE", "3000",
                   "-p", "EVAL_USERS", "100", "--grid", "SPLIT=random,sideways",
                   "--experiment-id", "splits"])
    assert status == 1  # one of the two runs failed
    out = capsys.readouterr().out
    results = sorted(tmp_path.glob("splits/*/results.json"))  # grouped by the experiment
    assert len(results) == 2
    assert {json.loads(path.read_text())["experiment_id"] for path in results} == {"splits"}
    statuses = sorted(json.loads(path.read_text())["status"] for path in results)
    assert statuses == ["failed", "ok"]
    assert "SPLIT must be one of" in out
    assert "ALS" in out and "ndcg@10" in out


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30000", 30000),
        ("0.5", 0.5),
        ("None", None),
        ("True", True),
        ("false", False),
        ("ml-1m", "ml-1m"),
        ("/data/x", "/data/x"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_grid_is_the_cartesian_product_in_order():
    grid = parse_grid(["SAMPLE_SIZE=30000,50000", "SEED=1,2,3"])
    assert len(grid) == 6
    assert grid[0] == {"SAMPLE_SIZE": 30000, "SEED": 1}
    assert grid[-1] == {"SAMPLE_SIZE": 50000, "SEED": 3}


def test_empty_grid_is_one_run():
    assert parse_grid([]) == [{}]


@pytest.mark.parametrize("spec", ["SEED", "=1,2", "SEED="])
def test_bad_grid_spec_is_named(spec):
    with pytest.raises(ValueError, match="NAME=v1,v2"):
        parse_grid([spec])


def test_repeated_grid_parameter_is_rejected():
    with pytest.raises(ValueError, match="SEED is given twice"):
        parse_grid(["SEED=1", "SEED=2"])


def test_recommend_prints_the_users_favourites_and_the_best_models_top_k(trained_run, capsys):
    assert main(["recommend", str(trained_run), "--user", "3", "-k", "2"]) == 0
    out = capsys.readouterr().out
    favourites, recommended = out.split("Top-2 recommendations by ")
    assert favourites.startswith("User 3: top-rated movies in ItemKNN's training data")
    assert recommended.startswith("ItemKNN")  # the best non-yardstick, not Popularity
    lines = recommended.strip().splitlines()[2:]
    assert len(lines) == 2
    items = [int(line.split()[1]) for line in lines]
    seen = {int(line.split()[0]) for line in favourites.strip().splitlines()[2:]}
    assert set(items) <= set(range(1, 11)) - seen  # user 3's block, nothing already rated


def test_recommend_all_exports_every_users_top_k_in_batches(trained_run, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "top.csv"
    assert main(["recommend", str(trained_run), "--all", "--out", str(out), "-k", "2",
                 "--model", "ALS", "--batch-users", "7"]) == 0
    assert "ALS: 120 recommendations for 60 users" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score", "title"]
    assert table["user_id"].nunique() == 60 and (table.groupby("user_id").size() == 2).all()
    from recsys_lib.models import load_model

    model = load_model(trained_run / "models" / "ALS.npz")
    seen = set(zip(*[model.train_.to_frame()[c] for c in ("user_id", "item_id")], strict=True))
    assert not seen & set(zip(table["user_id"], table["item_id"], strict=True))
    direct, _ = model.recommend(model.train_.user_ids, 2)  # one batch: the same top-2
    assert table["item_id"].tolist() == direct.ravel().tolist()


def test_recommend_all_needs_out(trained_run, capsys):
    assert main(["recommend", str(trained_run), "--all"]) == 2
    assert "give --out FILE.csv" in capsys.readouterr().err


def test_similar_finds_the_movie_forgivingly_and_lists_its_block(trained_run, capsys):
    assert main(["similar", str(trained_run), "--movie", "toy story", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Movies like Toy Story (1995) (id 1), by ItemKNN")
    items = [int(line.split()[1]) for line in out.strip().splitlines()[2:]]
    assert len(items) == 3 and set(items) <= set(range(2, 11))


def test_similar_lists_the_candidates_of_an_ambiguous_title(trained_run, capsys):
    assert main(["similar", str(trained_run), "--movie", "heat", "--model", "ALS"]) == 2
    err = capsys.readouterr().err
    assert "'heat' matches 2 movies" in err and "Heat (1972) (id 13)" in err


def test_similar_refuses_a_model_without_item_similarities(trained_run, capsys):
    assert main(["similar", str(trained_run), "--movie", "1", "--model", "Popularity"]) == 2
    assert "Popularity has no item similarities" in capsys.readouterr().err
