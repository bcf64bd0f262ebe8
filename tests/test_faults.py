"""The fault catalogue: each fault a Kaggle session meets, injected, and what the user sees.

One test per fault, named after it (the README's reliability section lists them). The
end-to-end ones run `recsys run` in a subprocess and signal or kill it.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_lib.cli import main
from recsys_lib.data import Interactions, write_ratings
from recsys_lib.models import BiasBaseline
from recsys_lib.runs.record import RunExistsError, RunRecord, read_results
from recsys_lib.runs.runner import run_notebook

REPO = Path(__file__).resolve().parent.parent


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _no_temp_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*.tmp")]


# ---- 1. disk full -------------------------------------------------------------------------
def test_disk_full_while_saving_a_model_fails_the_run_naming_it(tmp_path, tiny_ratings,
                                                                monkeypatch):
    record = RunRecord(tmp_path, "classical_cf", {})
    model = BiasBaseline().fit(Interactions.from_ratings(tiny_ratings))
    monkeypatch.setattr(np, "savez", _disk_full)
    with pytest.raises(OSError, match=r"disk full: .* MB free on") as error:
        record.save_model("BiasBaseline", model)
    record.fail(error.value)
    results = read_results(tmp_path)
    assert results["status"] == "failed"
    assert results["error"].startswith("DiskFullError: disk full: ")
    assert str(tmp_path / "models") in results["error"]
    assert _no_temp_files(tmp_path) == []


def test_disk_full_while_writing_results_still_records_the_status(tmp_path, monkeypatch):
    record = RunRecord(tmp_path, "classical_cf", {"SEED": 1})
    record.add("history", [{"epoch": epoch, "loss": 1.0} for epoch in range(200)])
    monkeypatch.setattr(Path, "write_text", _disk_full)
    with pytest.raises(OSError, match="disk full"):
        record.add_metrics("SVD", {"rmse": 0.9})
    results = json.loads((tmp_path / "results.json").read_bytes())
    assert results["status"] == "failed" and "disk full" in results["error"]
    assert results["params"] == {"SEED": 1}
    assert _no_temp_files(tmp_path) == []


# ---- 3. no silent overwrite -----------------------------------------------------------------
def test_rerun_into_a_folder_that_holds_a_run_is_refused(tmp_path):
    RunRecord(tmp_path, "classical_cf", {}).finish()
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(RunExistsError, match="already holds a classical_cf run"):
        RunRecord(tmp_path, "classical_cf", {})
    with pytest.raises(RunExistsError, match="already holds"):
        run_notebook("classical", {"SAMPLE_SIZE": 2000}, results_dir=tmp_path, progress=False)
    assert (tmp_path / "results.json").read_text() == before


def test_a_folder_another_live_run_writes_to_is_refused(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".run.lock").write_text(str(other.pid))
        with pytest.raises(RunExistsError, match=f"in use by another run \\(process {other.pid}"):
            RunRecord(tmp_path, "classical_cf", {})
        assert not (tmp_path / "results.json").exists()
    finally:
        other.kill()
        other.wait()
    RunRecord(tmp_path, "classical_cf", {}).finish()  # the lock of a dead process is stale


@pytest.mark.slow
def test_two_concurrent_runs_into_one_folder_the_second_is_refused(tmp_path):
    folder = tmp_path / "same"
    command = [sys.executable, "-m", "recsys_lib.cli", "run", "classical", "--no-progress",
               "-p", "SAMPLE_SIZE", "3000", "--results-dir", str(folder)]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 60
    while not (folder / ".run.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    _, first_err = first.communicate(timeout=300)
    assert second.returncode == 2
    assert "is in use by another run" in second.stderr
    assert first.returncode == 0, first_err
    assert read_results(folder)["status"] == "ok"


# ---- 5. ids that collide with the padding value ---------------------------------------
@pytest.mark.parametrize("layout", ["csv", "ml-1m", "parquet"])
def test_a_negative_item_id_is_a_load_error_naming_its_line(movielens_dir, tiny_ratings, layout):
    from recsys_lib.data import DataError, load_ratings

    ratings = tiny_ratings.copy()
    ratings["rating"] = ratings["rating"].round().clip(1, 5)  # ml-1m holds whole stars
    ratings.loc[3, "item_id"] = -1
    folder = movielens_dir(layout, ratings.astype({"item_id": "int64"}), movies=False)
    with pytest.raises(DataError, match=r"(line|row) \d+: item id .*-1") as error:
        load_ratings(folder)
    assert "negative" in str(error.value)
    assert len(load_ratings(folder, on_bad_rows="skip")) == len(ratings) - 1


# ---- 6. a diverged run ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_diverged_run_records_the_divergence_not_a_later_cell(tmp_path):
    from recsys_lib.models.vae import config_path

    text = config_path("test_tiny").read_text().replace("lr: 0.005", "lr: 1.0e+30")
    text = text.replace("gradient_clipping: 1.0", "gradient_clipping: null")
    config = tmp_path / "diverging.yaml"
    config.write_text(text + "bad_steps_halve_lr: 2\nbad_steps_stop: 3\n")
    outcome = run_notebook("vae", {"CONFIG": str(config), "SAMPLE_SIZE": 3000},
                           results_dir=tmp_path / "run", progress=False)
    results = outcome.results
    assert results["status"] == "failed"
    assert results["error"].startswith("TrainingDiverged: diverged: 3 NaN/Inf steps in a row")
    assert "plottable" not in results["error"]


# ---- 7. the smaller ones ----------------------------------------------------------------------
def test_stale_temp_files_of_a_killed_process_are_removed_when_the_folder_is_next_used(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "models").mkdir()
    stale = [tmp_path / f".results.json.{dead}.tmp",
             tmp_path / "models" / f".SVD.npz.{dead}.tmp"]
    live = tmp_path / f".notes.txt.{os.getpid()}.tmp"
    for path in (*stale, live):
        path.write_bytes(b"x" * 1000)
    (tmp_path / ".run.lock").write_text(dead)
    record = RunRecord(tmp_path, "classical_cf", {}, resume=False)
    assert not any(path.exists() for path in stale)
    assert live.exists(), "a live process's temp file is left alone"
    record.finish()


def test_report_names_and_skips_a_malformed_results_file(tmp_path, capsys):
    good = tmp_path / "good"
    good.mkdir()
    (good / "results.json").write_text(json.dumps(
        {"status": "ok", "notebook": "classical_cf", "params": {},
         "metrics": {"ALS": {"ndcg@10": 0.3}}}))
    for name, text in [("broken", "{oops"), ("shapeless", '{"metrics": [1]}'),
                       ("list", "[1, 2]")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(text)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "0.3" in out
    for name in ("broken", "shapeless", "list"):
        assert name in out and "unreadable" in out


@pytest.mark.slow
def test_a_tiny_sample_runs_the_classical_notebook_to_the_end(tmp_path):
    outcome = run_notebook("classical", {"SAMPLE_SIZE": 200, "KNN_NEIGHBORS": 5},
                           results_dir=tmp_path / "run", progress=False)
    assert outcome.results["status"] == "ok", outcome.results.get("error")


@pytest.mark.slow
def test_on_bad_rows_skip_is_a_notebook_parameter(tmp_path, tiny_ratings):
    data_dir = tmp_path / "data"
    write_ratings(tiny_ratings, data_dir, "csv")
    ratings_file = data_dir / "ratings.csv"
    ratings_file.write_text(ratings_file.read_text() + "1,2,not-a-rating,3\n")
    params = {"DATA_PATH": str(data_dir), "SAMPLE_SIZE": None, "KNN_NEIGHBORS": 5}
    failed = run_notebook("classical", params, results_dir=tmp_path / "a", progress=False)
    assert failed.results["status"] == "failed"
    assert "ON_BAD_ROWS" in failed.results["error"] or "on_bad_rows" in failed.results["error"]
    skipped = run_notebook("classical", {**params, "ON_BAD_ROWS": "skip"},
                           results_dir=tmp_path / "b", progress=False)
    assert skipped.results["status"] == "ok", skipped.results.get("error")
    assert skipped.results["data"]["sample"]["n_bad_rows_skipped"] == 1


def test_sigterm_handler_is_installed_only_inside_a_notebook(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    from recsys_lib.runs.notebooks import start_run

    start_run("classical", {"RESULTS_DIR": str(tmp_path), "SAMPLE_SIZE": 10}).record.finish()
    assert signal.getsignal(signal.SIGTERM) is before


# ---- 2. signals reach the work; 4. resume after a dead kernel ------------------------------
def _long_config(tmp_path: Path, epochs: int, batch_size: int = 16) -> Path:
    """test_tiny with more epochs, no early stopping and small batches (slow enough to be
    stopped mid-training)."""
    from recsys_lib.models.vae import config_path

    text = config_path("test_tiny").read_text()
    text = text.replace("epochs: 2", f"epochs: {epochs}").replace("patience: 2", "patience: null")
    text = text.replace("batch_size: 64", f"batch_size: {batch_size}")
    path = tmp_path / f"long_{epochs}.yaml"
    path.write_text(text)
    return path


def _recsys_run(args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "recsys_lib.cli", "run", "vae", "--no-progress", *args]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            out, err = process.communicate()
            pytest.fail(f"{path} never appeared; the run said:\n{out}\n{err}")
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(("target", "signum"), [("cli_alone", signal.SIGTERM),
                                                ("process_group", signal.SIGTERM),
                                                ("cli_alone", signal.SIGINT)],
                         ids=["SIGTERM-cli", "SIGTERM-group", "SIGINT-cli"])
def test_a_signal_to_recsys_run_checkpoints_and_records_interrupted(tmp_path, target, signum):
    folder = tmp_path / "run"
    config = _long_config(tmp_path, epochs=500)
    process = _recsys_run(["--config", str(config), "-p", "SAMPLE_SIZE", "5000",
                           "--results-dir", str(folder)])
    _wait_for(folder / "checkpoints" / "last.pt", process)
    if target == "cli_alone":
        os.kill(process.pid, signum)
    else:
        os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert f"--resume {folder}" in err
    results = read_results(folder)
    assert results["status"] == "interrupted", results.get("error")
    assert results["interrupted_by"] == signal.Signals(signum).name
    assert Path(results["checkpoint"]).is_file()
    assert "checkpoint" in results["error"] and "written" in results["error"]


@pytest.mark.slow
def test_resume_after_kill_9_of_the_kernel_ends_with_the_uninterrupted_weights(tmp_path):
    import psutil

    config = _long_config(tmp_path, epochs=4)
    params = ["--config", str(config), "-p", "SAMPLE_SIZE", "5000"]
    reference = _recsys_run([*params, "--results-dir", str(tmp_path / "reference")])
    interrupted = tmp_path / "interrupted"
    killed = _recsys_run([*params, "--results-dir", str(interrupted)])
    _wait_for(interrupted / "checkpoints" / "last.pt", killed)
    kernels = psutil.Process(killed.pid).children(recursive=True)
    assert kernels, "the kernel should be running"
    for kernel in kernels:
        kernel.kill()
    killed.communicate(timeout=120)
    assert killed.returncode != 0
    assert read_results(interrupted)["status"] == "failed"
    assert reference.wait(timeout=600) == 0
    resumed = _recsys_run(["--resume", str(interrupted)])
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    results = read_results(interrupted)
    assert results["status"] == "ok" and len(results["resumed_at"]) == 1
    expected = np.load(tmp_path / "reference" / "models" / "RatingVAE.npz")
    got = np.load(interrupted / "models" / "RatingVAE.npz")
    weights = [key for key in expected.files if not key.startswith("_")]
    assert weights
    for key in weights:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert results["metrics"]["RatingVAE"]["rmse"] == pytest.approx(
        read_results(tmp_path / "reference")["metrics"]["RatingVAE"]["rmse"], abs=1e-6)


def test_resume_refuses_a_parameter_that_differs_from_the_run(tmp_path):
    from recsys_lib.config import ConfigError

    folder = tmp_path / "run"
    RunRecord(folder, "vae_training", {"SAMPLE_SIZE": 5000, "EPOCHS": 3}).fail("killed")
    before = (folder / "results.json").read_text()
    with pytest.raises(ConfigError, match=r"EPOCHS=7 \(the run has 3\)"):
        run_notebook("vae", {"EPOCHS": 7}, resume=folder, progress=False)
    assert (folder / "results.json").read_text() == before
    assert main(["run", "vae", "--resume", str(folder), "-p", "EPOCHS", "7"]) == 2
