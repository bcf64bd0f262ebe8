"""Notebook parameter validation: each bad value is named in the error."""

from __future__ import annotations

import pytest

from recsys_lib.params import ClassicalParams, VAEParams


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
    assert VAEParams().SAMPLE_SIZE is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("SAMPLE_SIZE", 0, "SAMPLE_SIZE must be a positive integer or None, got 0"),
        ("SAMPLE_SIZE", -5, "got -5"),
        ("SAMPLE_SIZE", 2.5, "got 2.5"),
        ("SPLIT", "sideways", "SPLIT must be one of random"),
        ("SAMPLING", "items", "SAMPLING must be one of ratings, users"),
        ("KNN_NEIGHBORS", 0, "KNN_NEIGHBORS must be a positive integer"),
        ("SVD_COMPONENTS", True, "SVD_COMPONENTS must be a positive integer"),
        ("TEST_FRACTION", 1.0, "TEST_FRACTION must be a number between 0 and 1"),
        ("SEED", "x", "SEED must be an integer"),
    ],
)
def test_bad_classical_parameters_are_named(field, value, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        ClassicalParams(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("MODEL", "gan"), ("EPOCHS", 0), ("BATCH_SIZE", -1), ("MAX_MINUTES", 0), ("CONFIG", "")],
)
def test_bad_vae_parameters_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        VAEParams(**{field: value})


def test_collect_takes_only_known_upper_case_names():
    namespace = {"SAMPLE_SIZE": 123, "SEED": 7, "OTHER": 1, "sample_size": 5}
    assert ClassicalParams.collect(namespace) == {"SAMPLE_SIZE": 123, "SEED": 7}
