"""Config dataclasses: YAML reading, unknown keys and bad values named, run configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_lib.models.vae import MultVAEConfig, RatingVAEConfig, RunConfig, load_config
from recsys_lib.models.vae.config import CONFIG_DIR_ENV, config_path
from recsys_lib.training import ConfigError, TrainerConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "configs"


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_trainer_key_is_named_with_a_suggestion_and_the_file(tmp_path):
    path = write(tmp_path, "epoch: 3\nbatch_size: 8\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError) as error:
        TrainerConfig.from_yaml(path)
    message = str(error.value)
    assert "'epoch' (did you mean 'epochs'?)" in message
    assert "'learning_rate'" in message
    assert str(path) in message


def test_values_are_type_checked_by_key():
    with pytest.raises(ConfigError, match="key 'batch_size' must be int, got 'big'"):
        TrainerConfig.from_dict({"batch_size": "big"})
    with pytest.raises(ConfigError, match="key 'epochs' must be int, got True"):
        TrainerConfig.from_dict({"epochs": True})
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        TrainerConfig.from_dict({"batch_size": 0})
    with pytest.raises(ConfigError, match="full_checkpoints needs a checkpoint_dir"):
        TrainerConfig.from_dict({"full_checkpoints": True})
    with pytest.raises(ConfigError, match="min_lr"):
        TrainerConfig.from_dict({"lr": 0.001, "min_lr": 0.01})


def test_lists_become_tuples_and_ints_floats():
    config = RatingVAEConfig.from_dict({"hidden_dims": [16, 8], "kl_weight": 1})
    assert config.hidden_dims == (16, 8)
    assert config.kl_weight == 1.0 and isinstance(config.kl_weight, float)
    assert RatingVAEConfig.from_dict(config.to_dict()) == config


def test_mixed_precision_accepts_booleans_and_modes_only():
    assert TrainerConfig(mixed_precision=True).mixed_precision == "auto"
    assert TrainerConfig(mixed_precision=False).mixed_precision == "off"
    assert TrainerConfig(mixed_precision="fp16").mixed_precision == "fp16"
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainerConfig.from_dict({"mixed_precision": "fp8"})


def test_invalid_yaml_names_line_and_column(tmp_path):
    path = write(tmp_path, "epochs: 3\nbatch_size: [1, 2\nlr: 0.1\n")
    with pytest.raises(ConfigError, match=r"run\.yaml, line 3, column 3: invalid YAML"):
        TrainerConfig.from_yaml(path)


def test_repeated_key_names_both_lines(tmp_path):
    path = write(tmp_path, "epochs: 3\nlr: 0.1\nepochs: 5\n")
    with pytest.raises(ConfigError, match=r"run\.yaml, line 3: key 'epochs' repeats line 1"):
        TrainerConfig.from_yaml(path)


def test_a_yaml_list_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="must hold a mapping"):
        TrainerConfig.from_yaml(write(tmp_path, "- 1\n- 2\n"))


def test_run_config_splits_one_flat_mapping(tmp_path):
    path = write(tmp_path, "model: mult_vae\nhidden_dims: [32]\nlatent_dim: 8\nepochs: 4\n"
                 "lr: 0.01\ntop_k: 5\n")
    run = RunConfig.from_yaml(path, overrides={"epochs": 2})
    assert run.model == "mult_vae"
    assert run.model_config == MultVAEConfig(hidden_dims=(32,), latent_dim=8, top_k=5)
    assert (run.trainer.epochs, run.trainer.lr) == (2, 0.01)
    assert RunConfig.from_dict(run.to_dict()) == RunConfig.from_dict(run.to_dict(), source="")


def test_run_config_names_keys_of_neither_config(tmp_path):
    path = write(tmp_path, "model: rating_vae\nn_factor: 8\nepochs: 2\n")
    with pytest.raises(ConfigError, match=r"'n_factor' \(did you mean 'n_factors'\?\)"):
        RunConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="must be one of"):
        RunConfig.from_dict({"epochs": 2})
    with pytest.raises(ConfigError, match=r"key 'model' in .*bad\.yaml: VAE kind must be one "
                                          r"of rating_vae, mult_vae; got 'mult_vea' \(did you "
                                          r"mean 'mult_vae'\?\)"):
        RunConfig.from_yaml(write(tmp_path, "model: mult_vea\n", name="bad.yaml"))
    # a RatingVAE key is not a MultVAE key
    with pytest.raises(ConfigError, match="'n_factors'"):
        RunConfig.from_dict({"model": "mult_vae", "n_factors": 8})


def test_overrides_are_checked_too():
    run = RunConfig.from_dict({"model": "rating_vae"})
    assert run.with_overrides({"batch_size": 16}).trainer.batch_size == 16
    with pytest.raises(ConfigError, match="'batchsize'"):
        run.with_overrides({"batchsize": 16})


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    run = load_config(path)
    assert run.build().config == run.model_config


def test_shipped_a6000_config_keeps_the_requested_settings():
    run = load_config("a6000")
    assert run.model_config.n_factors == 200
    assert run.model_config.hidden_dims == (1024, 512, 256, 128)
    assert run.model_config.kl_weight == 0.008
    assert run.trainer.batch_size == 2048
    assert run.trainer.mixed_precision != "off"
    assert load_config("kaggle_t4").trainer.mixed_precision == "fp16"


def test_config_names_resolve_through_the_env_folder(tmp_path, monkeypatch):
    write(tmp_path, "model: rating_vae\nepochs: 1\n", name="mine.yaml")
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert config_path("mine") == tmp_path / "mine.yaml"
    assert load_config("mine").trainer.epochs == 1
    with pytest.raises(ConfigError, match="'nowhere' not found"):
        config_path("nowhere")
