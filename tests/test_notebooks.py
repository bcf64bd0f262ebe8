"""Notebooks: every jupytext pair in sync and stripped; each notebook executes headlessly
under papermill and leaves a results.json that holds the contract; bad parameters stop the
run early with the failure recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jupytext
import pytest

from recsys_lib.runs.runner import run_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def _cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_every_notebook_has_both_files():
    assert {p.stem for p in SOURCES} >= {"classical_cf", "vae_training"}
    for source in SOURCES:
        assert source.with_suffix(".ipynb").exists(), f"{source.name} has no paired .ipynb"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync_and_stripped(source):
    paired = source.with_suffix(".ipynb")
    from_py = jupytext.read(source)
    from_ipynb = jupytext.read(paired)
    assert _cells(from_py) == _cells(from_ipynb), f"run: jupytext --sync {source}"
    raw = json.loads(paired.read_text())
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{paired.name} is committed with outputs; strip them"
            )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_thin(source):
    notebook = jupytext.read(source)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in notebook.cells[
        [c.cell_type for c in notebook.cells].index("code") + 1
    ].metadata.get("tags", [])
    for cell in code:
        assert "def " not in cell and "class " not in cell, "helpers belong in the library"


def _finite_metrics(results: dict) -> None:
    for model, values in results["metrics"].items():
        for name, value in values.items():
            if isinstance(value, (int, float)):
                assert math.isfinite(value), f"{model} {name} = {value}"


@pytest.mark.slow
def test_classical_notebook_runs_and_beats_baselines(tmp_path):
    # EASE capped at 3,000 items keeps the test's run short; the blend refits it.
    outcome = run_notebook(
        "classical", {"SAMPLE_SIZE": None, "EASE_MAX_ITEMS": 3000},
        results_dir=tmp_path / "run", progress=False,
    )
    results = outcome.results
    assert results["status"] == "ok", results.get("error")
    metrics = results["metrics"]
    assert set(metrics) == {"BiasBaseline", "Popularity", "SVD", "ItemKNN", "ALS", "EASE",
                            "Blend"}
    _finite_metrics(results)
    baseline = metrics["BiasBaseline"]["rmse"]
    assert metrics["SVD"]["rmse"] < baseline
    assert metrics["ItemKNN"]["rmse"] < baseline
    assert metrics["Blend"]["rmse"] <= min(metrics[m]["rmse"] for m in ("SVD", "ItemKNN"))
    for name in ("ndcg@10", "precision@10"):
        for ranker in ("ALS", "EASE", "Blend"):
            assert metrics[ranker][name] > metrics["Popularity"][name], ranker
    assert results["data"]["n_ratings"] > 100_000
    assert {"source", "split", "n_users", "n_items"} <= results["data"].keys()
    assert len(list((tmp_path / "run" / "models").glob("*.npz"))) == 7
    assert len(list((tmp_path / "run" / "plots").glob("*.png"))) == 3
    assert outcome.executed.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("param", "value", "words"),
    [
        ("SAMPLE_SIZE", 0, "SAMPLE_SIZE must be positive or None"),
        ("SAMPEL_SIZE", 100, "did you mean 'SAMPLE_SIZE'"),
        ("SPLIT", "sideways", "SPLIT must be one of"),
        ("KNN_NEIGHBORS", 100_000, "KNN_NEIGHBORS=100000 needs more items"),
    ],
)
def test_bad_parameters_stop_early_and_are_recorded(tmp_path, param, value, words):
    outcome = run_notebook(
        "classical",
        {"SAMPLE_SIZE": 2000, param: value},
        results_dir=tmp_path / "run",
        progress=False,
    )
    assert outcome.results["status"] == "failed"
    assert words in outcome.results["error"]
    assert outcome.results["metrics"] == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "model", "yardsticks"),
    [
        ({"CONFIG": "test_tiny"}, "RatingVAE", {"BiasBaseline", "SVD"}),
        ({"MODEL": "mult_vae", "EPOCHS": 2}, "MultVAE", {"ALS", "Popularity"}),
        ({"CONFIG": "test_tiny", "ENSEMBLE_SEEDS": 2, "MODEL_SEED": 5}, "RatingVAE",
         {"BiasBaseline", "SVD", "RatingVAE seed 5", "RatingVAE seed 6"}),
    ],
    ids=["rating_vae", "mult_vae", "rating_vae_ensemble"],
)
def test_vae_notebook_trains_checkpoints_and_compares(tmp_path, params, model, yardsticks):
    outcome = run_notebook(
        "vae", {"SAMPLE_SIZE": 5000, "DEVICE": "cpu", **params},
        results_dir=tmp_path / "run", progress=False,
    )
    results = outcome.results
    assert results["status"] == "ok", results.get("error")
    assert set(results["metrics"]) == {model} | yardsticks
    _finite_metrics(results)
    assert results["plan"]["verdict"] in ("fits", "tight")
    assert results["plan"]["n_params"] > 0
    assert len(results["history"]) >= 1 and "train_loss" in results["history"][0]
    assert Path(results["training"]["checkpoint"]).exists()
    first = next(iter(results["members"].values()))
    assert first["refit"]["epochs"] == results["training"]["best_epoch"]
    assert first["refit"]["epochs"] == first["refit"]["epochs_run"]
    assert all(set(w) == {"kind", "epoch", "message"} for w in results["warnings"])
    for name in results["members"]:
        assert (tmp_path / "run" / "models" / f"{name}.npz").exists()
    if len(results["members"]) > 1:  # averaging: MSE at most the members' mean MSE
        member_mse = [results["metrics"][name]["rmse"] ** 2 for name in results["members"]]
        assert results["metrics"][model]["rmse"] ** 2 <= sum(member_mse) / len(member_mse)
        assert results["params"]["MODEL_SEED"] == 5
    assert (tmp_path / "run" / "plots" / "training_history.png").exists()


@pytest.mark.slow
def test_vae_notebook_rejects_a_model_config_mismatch(tmp_path):
    outcome = run_notebook(
        "vae", {"CONFIG": "test_tiny", "MODEL": "mult_vae"},
        results_dir=tmp_path / "run", progress=False,
    )
    assert outcome.results["status"] == "failed"
    assert "MODEL='mult_vae' but CONFIG 'test_tiny' is a rating_vae config" in (
        outcome.results["error"]
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_shows_every_parameter_at_its_default(source):
    from recsys_lib.runs.notebooks import notebook_spec

    notebook = jupytext.read(source)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)  # plain assignments of literals
    shown = {name: value for name, value in namespace.items() if name.isupper()}
    params_type = notebook_spec(source.stem).params_type()
    assert set(shown) == set(params_type.field_names())
    assert params_type.from_dict(shown).as_dict() == params_type().as_dict()
