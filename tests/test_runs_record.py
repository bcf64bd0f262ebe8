"""Run folders and results.json: contents, atomic rewrites, failures recorded; starting a
notebook run validates its parameters first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys_lib.config import ConfigError
from recsys_lib.runs.notebooks import notebook_spec, start_run
from recsys_lib.runs.record import RunRecord, new_run_dir, read_results


def test_results_json_follows_the_contract(tmp_path):
    record = RunRecord(tmp_path, "classical_cf", {"SAMPLE_SIZE": 100})
    assert read_results(tmp_path)["status"] == "running"
    record.set_data({"n_ratings": 100, "source": {"origin": "embedded"}})
    record.add_metrics("SVD", {"rmse": np.float32(0.9), "fit_seconds": 0.5})
    record.add_metrics("SVD", {"mae": 0.7})
    path = record.finish()
    results = json.loads(path.read_text())
    assert results["status"] == "ok"
    assert results["notebook"] == "classical_cf"
    assert results["params"] == {"SAMPLE_SIZE": 100}
    assert results["data"]["n_ratings"] == 100
    assert results["metrics"]["SVD"] == {"rmse": pytest.approx(0.9), "fit_seconds": 0.5, "mae": 0.7}
    env = results["environment"]
    assert {"python", "torch", "device", "cpu_count", "memory_limit_mb"} <= env.keys()
    assert results["process_peak_rss_mb"] > 10
    assert not list(tmp_path.glob(".*.tmp")), "temp files must be renamed away"


def test_save_model_writes_the_file_and_records_its_size(tmp_path, tiny_ratings):
    from recsys_lib.data import Interactions
    from recsys_lib.models import BiasBaseline

    record = RunRecord(tmp_path, "nb", {})
    model = BiasBaseline().fit(Interactions.from_ratings(tiny_ratings))
    path = record.save_model("BiasBaseline", model)
    assert path == tmp_path / "models" / "BiasBaseline.npz"
    size_mb = read_results(tmp_path)["metrics"]["BiasBaseline"]["model_mb"]
    assert size_mb == pytest.approx(path.stat().st_size / 2**20, abs=1e-3)


def test_non_finite_values_are_written_as_null(tmp_path):
    record = RunRecord(tmp_path, "nb", {})
    record.add_metrics("m", {"rmse": float("nan")})
    assert read_results(tmp_path)["metrics"]["m"]["rmse"] is None


def test_fail_records_the_error_and_finish_keeps_it(tmp_path):
    record = RunRecord(tmp_path, "nb", {})
    record.fail(ValueError("bad thing"))
    record.finish()
    results = read_results(tmp_path)
    assert results["status"] == "failed"
    assert results["error"] == "ValueError: bad thing"


def test_status_and_error_are_not_plain_sections(tmp_path):
    record = RunRecord(tmp_path, "nb", {})
    with pytest.raises(ValueError, match="finish"):
        record.add("status", "ok")


def test_start_run_records_invalid_parameters_before_raising(tmp_path):
    namespace = {"SAMPLE_SIZE": 0, "RESULTS_DIR": str(tmp_path / "run")}
    with pytest.raises(ValueError, match="SAMPLE_SIZE"):
        start_run("classical_cf", namespace)
    results = read_results(tmp_path / "run")
    assert results["status"] == "failed"
    assert "SAMPLE_SIZE must be positive or None, got 0" in results["error"]
    assert results["params"]["SAMPLE_SIZE"] == 0


def test_start_run_refuses_a_misspelt_parameter_and_records_it(tmp_path):
    namespace = {"SAMPEL_SIZE": 100, "RESULTS_DIR": str(tmp_path / "run")}
    with pytest.raises(ConfigError, match=r"'SAMPEL_SIZE' \(did you mean 'SAMPLE_SIZE'\?\)"):
        start_run("classical_cf", namespace)
    results = read_results(tmp_path / "run")
    assert results["status"] == "failed" and "SAMPEL_SIZE" in results["error"]


def test_start_run_records_the_validated_parameters(tmp_path):
    run = start_run("classical", {"SAMPLE_SIZE": 123, "RESULTS_DIR": str(tmp_path)})
    assert run.params.SAMPLE_SIZE == 123 and run.run_dir == tmp_path
    params = read_results(tmp_path)["params"]
    assert params["SAMPLE_SIZE"] == 123 and params["KNN_NEIGHBORS"] == 15


def test_unknown_notebook_lists_the_known_ones():
    assert notebook_spec("vae").stem == "vae_training"
    with pytest.raises(KeyError, match=r"known: classical \(classical_cf\), vae"):
        notebook_spec("nope")


def test_default_run_folders_are_unique(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_OUTPUT_DIR", str(tmp_path))
    first, second = new_run_dir("nb"), new_run_dir("nb")
    assert first != second
    assert first.parent == tmp_path and first.name.endswith("-nb")


@pytest.mark.parametrize(("text", "words"), [("{not json", "is not valid JSON"),
                                              ("[1, 2]", "holds a list")])
def test_read_results_names_a_corrupt_file(tmp_path, text, words):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(ValueError, match=words):
        read_results(tmp_path)
