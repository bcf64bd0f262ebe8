"""Papermill runs: where notebooks are found, and the record of a run the kernel never
finished."""

from __future__ import annotations

import pytest

from recsys_lib.runs.record import read_results
from recsys_lib.runs.runner import _results_after, _results_dir, notebook_path, run_notebook


def test_notebook_path_finds_the_source_tree_notebooks():
    assert notebook_path("classical").name == "classical_cf.ipynb"
    assert notebook_path("vae_training").name == "vae_training.ipynb"


def test_missing_notebook_file_lists_known_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_NOTEBOOKS", str(tmp_path))
    monkeypatch.setattr("recsys_lib.runs.runner.recsys_lib.__file__", str(tmp_path / "x" / "y"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="known runs: classical, vae"):
        notebook_path("classical")


def test_a_run_the_kernel_never_finished_is_recorded_as_failed(tmp_path):
    results = _results_after(tmp_path, "classical_cf", {"SEED": 1}, None)
    assert results["status"] == "failed"
    assert "without finishing" in read_results(tmp_path)["error"]


def test_a_notebook_error_overrides_a_running_status(tmp_path):
    (tmp_path / "results.json").write_text('{"status": "running", "metrics": {}}')
    results = _results_after(tmp_path, "classical_cf", {}, "ValueError: boom (cell 4)")
    assert results["status"] == "failed" and results["error"] == "ValueError: boom (cell 4)"


def test_a_results_dir_parameter_names_the_run_folder(tmp_path):
    assert _results_dir(None, str(tmp_path / "p")) == str(tmp_path / "p")
    assert _results_dir(tmp_path / "a", None) == tmp_path / "a"
    assert _results_dir(tmp_path / "a", str(tmp_path / "a")) == str(tmp_path / "a")
    with pytest.raises(ValueError, match="name different folders"):
        run_notebook("classical", {"RESULTS_DIR": str(tmp_path / "p")},
                     results_dir=tmp_path / "a")
    assert not (tmp_path / "a").exists() and not (tmp_path / "p").exists()
