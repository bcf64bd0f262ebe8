"""The runs report: differing settings, training columns, success rate, failure groups,
curves."""

from __future__ import annotations

import json

import pytest

from recsys_lib.cli import main
from recsys_lib.runs.report import build_report, error_type


def write_run(folder, status="ok", *, kl=0.01, lr=0.003, ndcg=None, rmse=None, error=None,
              epochs=None, experiment="kl"):
    folder.mkdir(parents=True)
    results = {
        "status": status, "notebook": "vae_training", "experiment_id": experiment,
        "params": {"SEED": 42, "RESULTS_DIR": str(folder), "EXPERIMENT_ID": experiment},
        "config": {"model": "rating_vae", "kl_weight": kl, "lr": lr, "dropout_rate": 0.1,
                   "checkpoint_dir": str(folder / "checkpoints")},
        "metrics": {"RatingVAE": {"rmse": rmse, "ndcg@10": ndcg}} if rmse else {},
    }
    if error:
        results["error"] = error
    if epochs:
        results["training"] = {"epochs_run": epochs, "stop_reason": "early_stopping",
                               "seconds": 90.0 * epochs}
        results["history"] = [{"epoch": e, "train_loss": 1.0 / e, "val_rmse": 1.0 + 0.1 / e}
                              for e in range(1, epochs + 1)]
    (folder / "results.json").write_text(json.dumps(results))


@pytest.fixture
def runs(tmp_path):
    write_run(tmp_path / "a", kl=0.01, rmse=0.91, ndcg=0.05, epochs=4)
    write_run(tmp_path / "b", kl=0.1, rmse=0.88, ndcg=0.07, epochs=2)
    write_run(tmp_path / "c", "failed", kl=1.0, lr=0.1, error="TrainingDiverged: NaN loss")
    write_run(tmp_path / "d", "failed", kl=1.0, lr=0.05, error="TrainingDiverged: NaN loss")
    write_run(tmp_path / "e", "interrupted", kl=0.1, error="interrupted by SIGTERM")
    write_run(tmp_path / "other", experiment="else", kl=5.0, rmse=2.0, ndcg=0.0)
    return tmp_path


def test_the_report_shows_what_differs_and_how_each_run_trained(runs):
    report = build_report(runs, metric="rmse", experiment="kl")
    assert report.varying == ("kl_weight", "lr")  # dropout, SEED, folders: the same or ignored
    assert report.success_rate == pytest.approx(2 / 5)
    best = report.models.iloc[0]
    assert (best["run"], best["kl_weight"], best["epochs"], best["stop_reason"]) == (
        "b", 0.1, 2, "early_stopping")
    assert best["train_minutes"] == pytest.approx(3.0)  # 2 epochs x 90 s


def test_failures_are_grouped_by_type_with_the_settings_they_share(runs):
    failures = build_report(runs, experiment="kl").failures()
    assert failures["error_type"].tolist() == ["TrainingDiverged", "interrupted"]
    diverged = failures.iloc[0]
    assert diverged["n_runs"] == 2 and diverged["runs"] == "c, d"
    assert diverged["shared"] == "kl_weight=1.0"  # lr differs between them


def test_error_types():
    assert error_type("ValueError: SPLIT must be one of x", "failed") == "ValueError"
    assert error_type("interrupted by SIGTERM", "interrupted") == "interrupted"
    assert error_type("the notebook ended without finishing the run", "failed") == "error"


def test_report_cli_prints_the_sections_and_plots_the_curves(runs, capsys):
    assert main(["report", str(runs), "--experiment", "kl", "--metric", "rmse",
                 "--plot", "curves"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 runs: 2 ok, 2 failed, 1 interrupted (success rate 40%)")
    assert "settings that differ: kl_weight, lr" in out
    assert "epochs" in out and "stop_reason" in out and "train_minutes" in out
    assert "TrainingDiverged: 2 run(s) (c, d); they share kl_weight=1.0" in out
    assert "other" not in out
    assert (runs / "report_curves.png").stat().st_size > 10_000


def test_curves_need_a_history(runs, capsys):
    assert main(["report", str(runs), "--experiment", "else", "--plot", "curves"]) == 2
    assert "none of the selected runs has per-epoch curves" in capsys.readouterr().err
