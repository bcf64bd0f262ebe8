"""Overrides of any VAE config key: --set, OVERRIDES, lower-case grid names."""

from __future__ import annotations

import pytest

from recsys_lib.cli import grid_runs, main, parse_grid
from recsys_lib.config import ConfigError
from recsys_lib.runs.overrides import (
    apply_overrides,
    parse_config_value,
    parse_settings,
    split_values,
)


@pytest.fixture(scope="module")
def tiny_config():
    from recsys_lib.models.vae import load_config

    return load_config("test_tiny")


def test_overrides_reach_model_and_trainer_keys(tiny_config):
    config = apply_overrides(tiny_config, {"kl_weight": 0.02, "hidden_dims": [512, 256],
                                           "lr": 0.1})
    assert config.model_config.kl_weight == 0.02
    assert config.model_config.hidden_dims == (512, 256)
    assert config.trainer.lr == 0.1
    assert tiny_config.model_config.kl_weight == 0.01  # the original is untouched


def test_a_misspelt_key_is_named_with_a_suggestion(tiny_config):
    with pytest.raises(ConfigError, match=r"'kl_weigth' \(did you mean 'kl_weight'\?\)"):
        apply_overrides(tiny_config, {"kl_weigth": 0.02})


def test_a_bad_value_names_its_key(tiny_config):
    with pytest.raises(ConfigError, match="hidden_dims"):
        apply_overrides(tiny_config, {"hidden_dims": "wide"})


def test_the_model_cannot_be_overridden(tiny_config):
    with pytest.raises(ConfigError, match="set MODEL"):
        apply_overrides(tiny_config, {"model": "mult_vae"})


def test_the_notebook_parameter_is_applied_last(tmp_path):
    from recsys_lib.runs.vae import VAEParams, vae_run_config

    params = VAEParams.from_dict({"CONFIG": "test_tiny", "EPOCHS": 3,
                                  "OVERRIDES": {"epochs": 7, "dropout_rate": 0.3}})
    config = vae_run_config(params, tmp_path)
    assert config.trainer.epochs == 7 and config.model_config.dropout_rate == 0.3
    with pytest.raises(ConfigError, match=r"OVERRIDES.*must be a mapping"):
        VAEParams.from_dict({"OVERRIDES": ["kl_weight", 0.02]})


@pytest.mark.parametrize(("text", "value"), [("0.02", 0.02), ("[512,256]", [512, 256]),
                                             ("true", True), ("null", None),
                                             ("cosine", "cosine"), ("3", 3)])
def test_config_values_are_read_as_yaml(text, value):
    assert parse_config_value(text) == value


def test_settings_and_bracket_aware_splitting():
    assert parse_settings(["kl_weight=0.02", "hidden_dims=[64, 32]"]) == {
        "kl_weight": 0.02, "hidden_dims": [64, 32]}
    assert split_values("[512,256],[64],7") == ["[512,256]", "[64]", "7"]
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_settings(["kl_weight"])
    with pytest.raises(ValueError, match="kl_weight is given twice"):
        parse_settings(["kl_weight=1", "kl_weight=2"])


def test_lower_case_grid_names_become_overrides():
    grid = parse_grid(["SEED=1,2", "hidden_dims=[64,32],[128]"])
    runs = grid_runs(grid, {"kl_weight": 0.02})
    assert runs == [
        {"SEED": 1, "OVERRIDES": {"kl_weight": 0.02, "hidden_dims": [64, 32]}},
        {"SEED": 1, "OVERRIDES": {"kl_weight": 0.02, "hidden_dims": [128]}},
        {"SEED": 2, "OVERRIDES": {"kl_weight": 0.02, "hidden_dims": [64, 32]}},
        {"SEED": 2, "OVERRIDES": {"kl_weight": 0.02, "hidden_dims": [128]}},
    ]
    assert grid_runs([{"SEED": 1}]) == [{"SEED": 1}]


def test_config_keys_on_the_classical_notebook_are_refused(capsys):
    assert main(["run", "classical", "--set", "kl_weight=0.1"]) == 2
    assert "apply to the vae notebook" in capsys.readouterr().err


@pytest.mark.slow
def test_run_vae_with_set_records_the_overridden_config(tmp_path, capsys):
    import json

    status = main(["run", "vae", "--no-progress", "--config", "test_tiny", "-p", "SAMPLE_SIZE",
                   "3000", "-p", "DEVICE", "cpu", "--set", "kl_weight=0.02", "--set",
                   "hidden_dims=[16,8]", "--results-dir", str(tmp_path / "run")])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert status == 0, results.get("error")
    assert results["config"]["kl_weight"] == 0.02 and results["config"]["hidden_dims"] == [16, 8]
    assert results["params"]["OVERRIDES"] == {"kl_weight": 0.02, "hidden_dims": [16, 8]}
