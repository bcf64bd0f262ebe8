"""Command-line parameter parsing and grids for papermill runs."""

from __future__ import annotations

import pytest

from recsys_lib.runner import notebook_path, parse_grid, parse_value


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


def test_notebook_path_finds_the_source_tree_notebooks():
    assert notebook_path("classical").name == "classical_cf.ipynb"


def test_unknown_notebook_lists_known_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_NOTEBOOKS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="known runs: classical, vae"):
        notebook_path("nope")
