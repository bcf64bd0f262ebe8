"""recsys tune: search spaces, in-process trials, pruning, a killed study resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from recsys_lib.cli import main
from recsys_lib.config import ConfigError
from recsys_lib.runs.space import PACKAGED_SPACES, SearchSpace

optuna = pytest.importorskip("optuna")

TINY_VAE = """\
notebook: vae
fixed:
  CONFIG: test_tiny
  SAMPLE_SIZE: 3000
  DEVICE: cpu
  epochs: 3
search:
  kl_weight: {low: 0.001, high: 0.1, log: true}
  hidden_dims: {choices: [[8], [16, 8]]}
  latent_dim: {low: 2, high: 8, step: 2}
"""


def write_space(folder: Path, text: str) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("notebook: vae\nsearch:\n  kl_weight: {low: 1, hihg: 2}\n", "did you mean 'high'"),
        ("notebook: vae\nsearch:\n  kl_weight: {low: 2, high: 1}\n", "low 2 must be below"),
        ("notebook: vae\nserch: {}\n", "did you mean 'search'"),
        ("notebook: classical\nmodel: SVD\nsearch:\n  lr: {low: 0.1, high: 1}\n",
         "no config keys: lr"),
        ("notebook: classical\nsearch:\n  SEED: {choices: [1, 2]}\n", "names the 'model'"),
        ("notebook: gbm\nsearch:\n  SEED: {choices: [1]}\n", "notebook must be one of"),
    ],
)
def test_a_bad_space_is_named(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words):
        SearchSpace.from_yaml(write_space(tmp_path, text))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("rating_vae", ("rmse", "minimize")), ("mult_vae", ("ndcg@100", "maximize")),
     ("classical_svd", ("rmse", "minimize")), ("classical_knn", ("ndcg@10", "maximize")),
     ("classical_als", ("ndcg@10", "maximize"))],
)
def test_the_shipped_spaces_name_real_settings(name, expected):
    from recsys_lib.runs.trials import objective_direction

    assert (PACKAGED_SPACES / f"{name}.yaml").is_file()
    metric, direction = objective_direction(SearchSpace.from_yaml(name))
    assert direction == expected[1] and metric.split("@")[0] == expected[0].split("@")[0]


def test_a_misspelt_config_key_fails_before_any_trial(tmp_path):
    from recsys_lib.runs.tune import tune

    space = SearchSpace.from_yaml(write_space(tmp_path, TINY_VAE.replace("kl_weight",
                                                                         "kl_wieght")))
    with pytest.raises(ConfigError, match="did you mean 'kl_weight'"):
        tune(space, 2, study_dir=tmp_path / "study")
    assert not (tmp_path / "study" / "study.db").exists()


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_a_pruned_trial_stops_training_after_the_epoch_it_was_pruned(tmp_path):
    from recsys_lib.runs.tune import tune

    space = SearchSpace.from_yaml(write_space(tmp_path, TINY_VAE))
    outcome = tune(space, 1, study_dir=tmp_path / "study", pruner=AlwaysPrune())
    assert outcome.trials["state"].tolist() == ["pruned"]
    results = json.loads((tmp_path / "study" / "trials" / "trial-000" /
                          "results.json").read_text())
    assert results["training"]["epochs_run"] == 1  # of 3: stopped when pruned
    assert results["trial"]["pruned_at_epoch"] == 1
    assert outcome.best_value is None and "best" not in outcome.files


def test_a_classical_study_writes_the_best_parameters(tmp_path, capsys):
    space = write_space(tmp_path, "notebook: classical\nmodel: SVD\nmetric: rmse\nfixed:\n"
                        "  SAMPLE_SIZE: 3000\nsearch:\n  SVD_COMPONENTS: {low: 2, high: 20}\n")
    assert main(["tune", "classical", "--space", str(space), "--trials", "2",
                 "--results-dir", str(tmp_path / "study")]) == 0
    out = capsys.readouterr().out
    trials = pd.read_csv(tmp_path / "study" / "trials.csv")
    assert trials["state"].tolist() == ["complete", "complete"]
    assert f"Best validation rmse: {trials['rmse'].min():.6g}" in out
    best = (tmp_path / "study" / "best_params.yaml").read_text()
    winner = int(trials.loc[trials["rmse"].idxmin(), "SVD_COMPONENTS"])
    assert f"SVD_COMPONENTS: {winner}" in best and "SAMPLE_SIZE: 3000" in best


@pytest.mark.slow
def test_a_killed_study_resumes_to_its_trial_count(tmp_path, capsys):
    from recsys_lib.models.vae import load_config

    space = write_space(tmp_path, TINY_VAE)
    study = tmp_path / "study"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    search = subprocess.Popen(
        [sys.executable, "-m", "recsys_lib.cli", "tune", "vae", "--space", str(space),
         "--trials", "4", "--results-dir", str(study)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = study / "trials" / "trial-001" / "results.json"  # trial 0 is told by then
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and search.poll() is None and not second.is_file():
        time.sleep(0.02)
    search.send_signal(signal.SIGKILL)
    search.wait(timeout=30)
    killed = optuna.load_study(study_name="recsys", storage=f"sqlite:///{study / 'study.db'}")
    done_before = sum(t.state.is_finished() for t in killed.trials)
    assert 1 <= done_before < 4

    assert main(["tune", "vae", "--trials", "4", "--resume", str(study)]) == 0
    out = capsys.readouterr().out
    resumed = optuna.load_study(study_name="recsys", storage=f"sqlite:///{study / 'study.db'}")
    states = [t.state.name for t in resumed.trials if not t.user_attrs.get("killed")]
    assert len(states) == 4 and "RUNNING" not in states
    killed_trials = [t for t in resumed.trials if t.user_attrs.get("killed")]
    assert len(killed_trials) == 1  # trial 1, cut short, ran again with the same settings
    assert any(t.params == killed_trials[0].params for t in resumed.trials
               if t.number > killed_trials[0].number)
    assert json.loads(second.read_text())["status"] == "interrupted"
    assert json.loads((study / "tune.json").read_text())["status"] == "ok"
    assert len(pd.read_csv(study / "trials.csv")) == len(resumed.trials)
    best = load_config(study / "best_config.yaml")  # what recsys run vae --config reads
    assert 0.001 <= best.model_config.kl_weight <= 0.1
    assert best.model_config.kl_weight == pytest.approx(resumed.best_params["kl_weight"])
    assert "Best validation rmse" in out and (study / "study.png").stat().st_size > 10_000
