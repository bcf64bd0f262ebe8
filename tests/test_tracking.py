"""Run folders and results.json: contents, atomic rewrites, failures recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys_lib.params import ClassicalParams
from recsys_lib.tracking import RunRecorder, new_run_dir, read_results, start_run


def test_results_json_follows_the_contract(tmp_path):
    run = RunRecorder(tmp_path, "classical_cf", {"SAMPLE_SIZE": 100})
    assert read_results(tmp_path)["status"] == "running"
    run.set_data(n_ratings=100, source={"origin": "embedded"})
    run.add_metrics("SVD", {"rmse": np.float32(0.9), "fit_seconds": 0.5})
    run.add_metrics("SVD", {"mae": 0.7})
    path = run.finish()
    results = json.loads(path.read_text())
    assert results["status"] == "ok"
    assert results["notebook"] == "classical_cf"
    assert results["params"] == {"SAMPLE_SIZE": 100}
    assert results["data"]["n_ratings"] == 100
    assert results["metrics"]["SVD"] == {"rmse": pytest.approx(0.9), "fit_seconds": 0.5, "mae": 0.7}
    env = results["environment"]
    assert {"python", "torch", "device", "cpu_count", "memory_limit_mb"} <= env.keys()
    assert not list(tmp_path.glob(".*.tmp")), "temp files must be renamed away"


def test_non_finite_values_are_written_as_null(tmp_path):
    run = RunRecorder(tmp_path, "nb", {})
    run.add_metrics("m", {"rmse": float("nan")})
    assert read_results(tmp_path)["metrics"]["m"]["rmse"] is None


def test_fail_records_the_error_and_finish_keeps_it(tmp_path):
    run = RunRecorder(tmp_path, "nb", {})
    run.fail(ValueError("bad thing"))
    run.finish()
    results = read_results(tmp_path)
    assert results["status"] == "failed"
    assert results["error"] == "ValueError: bad thing"


def test_start_run_records_invalid_parameters_before_raising(tmp_path):
    namespace = {"SAMPLE_SIZE": 0, "RESULTS_DIR": str(tmp_path / "run")}
    with pytest.raises(ValueError, match="SAMPLE_SIZE"):
        start_run("classical_cf", ClassicalParams, namespace)
    results = read_results(tmp_path / "run")
    assert results["status"] == "failed"
    assert "SAMPLE_SIZE must be a positive integer" in results["error"]
    assert results["params"]["SAMPLE_SIZE"] == 0


def test_default_run_folders_are_unique(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_OUTPUT_DIR", str(tmp_path))
    first, second = new_run_dir("nb"), new_run_dir("nb")
    assert first != second
    assert first.parent == tmp_path and first.name.endswith("-nb")


def test_read_results_names_a_corrupt_file(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"results\.json is not valid JSON"):
        read_results(tmp_path)
