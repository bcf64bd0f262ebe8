"""Notebook parameters: strict configs; each unknown name and bad value is named."""

from __future__ import annotations

import pytest

from recsys_lib.config import ConfigError
from recsys_lib.runs.classical import ClassicalParams


def test_defaults_match_the_design_contract():
    params = ClassicalParams()
    assert (params.SAMPLE_SIZE, params.SEED, params.DATA_PATH, params.RESULTS_DIR) == (
        50_000,
        42,
        None,
        None,
    )
    assert (params.SVD_COMPONENTS, params.KNN_NEIGHBORS) == (30, 15)
    assert (params.ALS_FACTORS, params.ALS_ITERATIONS) == (30, 5)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("SAMPLE_SIZE", 0, "SAMPLE_SIZE must be positive or None, got 0"),
        ("SAMPLE_SIZE", -5, "got -5"),
        ("SAMPLE_SIZE", 2.5, "'SAMPLE_SIZE' must be int or null, got 2.5"),
        ("SPLIT", "sideways", "SPLIT must be one of random"),
        ("SAMPLING", "items", "SAMPLING must be one of ratings, users"),
        ("KNN_NEIGHBORS", 0, "KNN_NEIGHBORS must be positive, got 0"),
        ("SVD_COMPONENTS", True, "'SVD_COMPONENTS' must be int, got True"),
        ("TEST_FRACTION", 1.0, "TEST_FRACTION must be a number between 0 and 1"),
        ("SEED", "x", "'SEED' must be int, got 'x'"),
    ],
)
def test_bad_classical_parameters_are_named(field, value, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        ClassicalParams(**{field: value})
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        ClassicalParams.from_dict({field: value})


def test_vae_parameters_are_named():
    from recsys_lib.runs.vae import VAEParams

    assert VAEParams().SAMPLE_SIZE is None
    for field, value in [("MODEL", "gan"), ("EPOCHS", 0), ("BATCH_SIZE", -1),
                         ("MAX_MINUTES", 0), ("CONFIG", "")]:
        with pytest.raises(ValueError, match=field):
            VAEParams(**{field: value})


def test_from_namespace_takes_upper_case_names_and_refuses_unknown_ones():
    namespace = {"SAMPLE_SIZE": 123, "SEED": 7, "sample_size": 5, "In": [], "print": print}
    assert ClassicalParams.from_namespace(namespace).SAMPLE_SIZE == 123
    with pytest.raises(ConfigError, match=r"'SAMPEL_SIZE' \(did you mean 'SAMPLE_SIZE'\?\)"):
        ClassicalParams.from_namespace({**namespace, "SAMPEL_SIZE": 100})


def test_float_parameters_accept_integers():
    from recsys_lib.runs.vae import VAEParams

    assert VAEParams.from_dict({"MAX_MINUTES": 2}).MAX_MINUTES == 2.0


@pytest.mark.parametrize("value", ["", "a b", "../up", "-x"])
def test_an_experiment_id_must_be_a_folder_name(value):
    from recsys_lib.runs.params import NotebookParams

    with pytest.raises(ValueError, match="EXPERIMENT_ID must be letters"):
        NotebookParams.from_dict({"EXPERIMENT_ID": value})
    assert NotebookParams.from_dict({"EXPERIMENT_ID": "kl-sweep_2.1"}).EXPERIMENT_ID == (
        "kl-sweep_2.1")
