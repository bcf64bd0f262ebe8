# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # VAE training on MovieLens with the memory-lean trainer
#
# **RatingVAE** (user and item embeddings through an MLP VAE to one rating) or **MultVAE**
# (Liang et al., 2018: a multinomial VAE over each user's items), trained with mixed
# precision, gradient accumulation, clipping, NaN guards, out-of-memory recovery, a time
# budget and atomic checkpoints. The plan cell says how much memory training will take
# *before* it starts. Run headless with
# `papermill vae_training.ipynb out.ipynb -p CONFIG kaggle_t4 -p EPOCHS 30`.

# %%
# Make recsys_lib importable. Already installed: nothing to do. Else a wheel attached as a
# Kaggle input (or in the Colab Drive folder): install it offline. Else, with internet and
# RECSYS_LIB_PIP_SPEC set (for example git+https://github.com/<you>/recsys_lib): install that.
# Else stop and say which dataset to attach.
import glob
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("recsys_lib") is None:
    _roots = [os.environ.get("RECSYS_KAGGLE_INPUT", "/kaggle/input"),
              os.environ.get("RECSYS_COLAB_DIR", "/content/drive/MyDrive/recsys-lib")]
    _wheels = sorted(wheel for root in _roots
                     for wheel in glob.glob(f"{root}/**/recsys_lib-*.whl", recursive=True))
    _spec = os.environ.get("RECSYS_LIB_PIP_SPEC")
    if _wheels:
        _pip = ["--no-index", "--find-links", os.path.dirname(_wheels[-1]), "recsys-lib"]
    elif _spec:
        _pip = [_spec]
    else:
        raise ModuleNotFoundError(
            "recsys_lib is not installed and no recsys_lib wheel is attached. On Kaggle: "
            "Add Input -> Datasets -> 'KAGGLE_DATASET_ID' (built by `recsys kaggle build`, see "
            "kaggle/README.md). On Colab: put the wheels in MyDrive/recsys-lib or set "
            "RECSYS_LIB_PIP_SPEC.")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *_pip], check=True)
    importlib.invalidate_caches()
import recsys_lib

print(f"recsys_lib {recsys_lib.__version__} from {os.path.dirname(recsys_lib.__file__)}")

# %% tags=["parameters"]
# CONFIG: a config name (cpu_quick, mult_vae_quick, kaggle_t4, a6000) or a YAML path;
# None takes MODEL's default config.
CONFIG = None
# MODEL: rating_vae or mult_vae; None takes the config's model.
MODEL = None
# Overrides of the config; None keeps the config's value.
EPOCHS = None
BATCH_SIZE = None
MAX_MINUTES = None
# DEVICE: auto, cpu or cuda.
DEVICE = "auto"
DATA_PATH = None
SAMPLE_SIZE = None
SAMPLING = "ratings"
SPLIT = "random"
TEST_FRACTION = 0.2
# SEED drives the sample and the splits; MODEL_SEED (None: SEED) the model's
# initialisation and batch order; ENSEMBLE_SEEDS models (seeds MODEL_SEED, +1, ...) are
# trained on the same split and averaged when more than one.
SEED = 42
MODEL_SEED = None
ENSEMBLE_SEEDS = 1
# GPUS: CUDA cards to train on, one process each, data parallel (Kaggle's "GPU T4 x2"
# uses both with None); None: every visible card. Ignored on the CPU.
GPUS = None
RESULTS_DIR = None
TOP_K = 10
# ON_BAD_ROWS: "error" stops at the first malformed row (naming its line); "skip" skips them.
ON_BAD_ROWS = "error"
# EXPERIMENT_ID: a name that groups runs (runs/<id>/...; `recsys report --experiment`).
EXPERIMENT_ID = None
# TRACKING: "wandb" logs the run to Weights & Biases when wandb is installed; None: off.
TRACKING = None
# RESUME: a run folder to continue from its last checkpoint (after a dead kernel or a
# SIGTERM), or True for the latest unfinished run; the run's own parameters are used.
RESUME = None
# OVERRIDES: any config keys, e.g. {"kl_weight": 0.02, "hidden_dims": [512, 256]}.
OVERRIDES = None
# Stop training once the validation metric reaches it: TARGET_RMSE (stars, RatingVAE) or
# TARGET_NDCG (NDCG@10, MultVAE); None: no target. results.json "training" says if met.
TARGET_RMSE = None
TARGET_NDCG = None

# %%
from recsys_lib.models.vae import vae_kind
from recsys_lib.runs.notebooks import start_run
from recsys_lib.runs.vae import vae_run_config

run = start_run("vae_training", globals())
params, record = run.params, run.record
config = vae_run_config(params, run.run_dir)
kind = vae_kind(config.model)
record.add("config", config.to_dict())
print(f"Run folder: {run.run_dir}\n{kind.name} from {config.source}")

# %% [markdown]
# ## 1. Memory: CPU and GPU
#
# **How to read this:** *limit* is what the kernel may use before it is killed (on
# Kaggle the container limit); *available* is what is left now. GPU rows show each
# card's total, what torch has allocated and reserved, and the peak so far.

# %%
from recsys_lib.environment import session_warnings
from recsys_lib.memory import MemoryMonitor, snapshot

memory = MemoryMonitor()
for warning in session_warnings():
    print(f"WARNING: {warning}")
snapshot(gpu=True).to_frame()

# %% [markdown]
# ## 2. Data and split
#
# The test set is held out for the final comparison; a further 10% of the training
# ratings is the validation set on which early stopping picks the epoch count (the
# reported VAE then refits on all the training ratings, see section 4).

# %%
from recsys_lib.runs.steps import prepare_data
from recsys_lib.runs.vae import vae_data

data = prepare_data(params, memory)
print(data.source.describe())
for note in data.notes():
    print(f"NOTE: {note}")
print(data.split.describe())
vae_split = vae_data(data.train, seed=params.SEED)
record.set_data(data.summary())
record.set_data(vae_split.summary())
data.footprint_table()

# %% [markdown]
# ## 3. Plan: parameters, estimated training memory, verdict (per card with several GPUs)

# %%
from recsys_lib.runs.vae import plan_vae, training_world_size

world_size = training_world_size(params.GPUS, config.trainer.device)
config, plan = plan_vae(config, vae_split.fit, world_size=world_size)
print(plan.preflight.message)
if plan.verdict == "will not fit":
    print(
        f"Training with micro-batch {config.trainer.micro_batch} instead "
        f"(gradients accumulated to the same effective batch of {config.trainer.batch_size})."
    )
record.add("plan", plan.summary())
plan.to_frame()

# %% [markdown]
# ## 4. Training
#
# Early warnings (posterior collapse, a train/validation gap, an early plateau, GPU memory
# above 90% of the card, repeated NaN/Inf steps) are checked every epoch; each prints
# once as a `WARNING:` line, with the epoch it first showed at.
#
# Two fits, so that the comparison is fair: the first trains on the fit part (90%) and
# early stopping on the validation carve-out picks the epoch count; the second, the model
# reported below, trains on **all** the training ratings for that many epochs, as every
# yardstick does. One progress bar per epoch (loss, learning rate, memory). Checkpoints
# are written atomically to the run folder. A SIGTERM (or Kaggle's session end) stops
# after the current step with a checkpoint written: set `RESUME` to the run folder to
# continue from it. With `ENSEMBLE_SEEDS` > 1, that many models train this way on the same
# split (model seeds `MODEL_SEED`, `MODEL_SEED + 1`, ...; `SEED` keeps the data fixed) and
# the reported model averages their predictions and scores. With two or more GPUs
# (`GPUS`), one worker process per card trains on its share of every batch (PyTorch's
# DistributedDataParallel; the effective batch is unchanged) and the cell collects rank
# 0's result; the checkpoints are the same, so a run resumes on any number of cards.

# %%
from recsys_lib.runs.vae import train_vae

trained = train_vae(config, vae_split, data.train, memory,
                    ensemble_seeds=params.ENSEMBLE_SEEDS, resume=bool(params.RESUME),
                    world_size=world_size)
for name, selection in trained.selections.items():
    print(f"{name}: {selection.result_.message}")
warnings = trained.warnings()  # each printed as a WARNING line when it fired
record.add("warnings", [warning.as_dict() for warning in warnings])
record.add("training", trained.selection.result_.summary())
record.add("members", trained.summary())
record.add("history", trained.selection.history_.to_dict(orient="records"))
trained.selection.history_.round(4)

# %%
from recsys_lib.plots import plot_training_history, save_figure

history_figure = plot_training_history(trained.selection.history_)
save_figure(history_figure, run.run_dir / "plots", "training_history")
history_figure

# %% [markdown]
# ## 5. Evaluation next to the yardsticks (same split, same test set)
#
# Every model fitted on all the training ratings (the VAE in its refit) and is scored on
# the same held-out ratings; each user's training ratings, the validation carve-out
# included, are excluded from their recommendations. An ensemble shows each member and
# their average.

# %%
from recsys_lib.runs.steps import EvaluationContext

model = trained.model
evaluation = EvaluationContext(data.split.test, memory, k=params.TOP_K, device=model.device_,
                               seed=params.SEED)
for name, (scored, fitting) in trained.scored().items():
    scores = evaluation.evaluate(name, scored, fitting, seen=data.train)
    record.add_metrics(name, scores.summary())
    if name in trained.members:
        record.save_model(name, scored)
    print(scores.describe())
for name, yardstick in kind.yardsticks(params.SEED).items():
    with memory.track(f"fit {name}") as fitting:
        yardstick.fit(data.train)
    scores = evaluation.evaluate(name, yardstick, fitting, seen=data.train)
    record.add_metrics(name, scores.summary())
    record.save_model(name, yardstick)
    print(scores.describe())

# %%
from recsys_lib.runs.tables import results_table

table = results_table(record.results["metrics"], tuple(kind.yardsticks(params.SEED)))
table.round(4)

# %%
from recsys_lib import plots

metrics_figure = plots.plot_metrics(table)
timeline_figure = plots.plot_memory_timeline(memory.samples(), memory.timeline())
record.add("plots", plots.save_figures(run.run_dir / "plots", metrics=metrics_figure,
                                       memory_timeline=timeline_figure))
metrics_figure

# %%
timeline_figure

# %% [markdown]
# ## 6. Top-10 for one user, next to their favourite movies

# %%
from recsys_lib.data import load_movies
from recsys_lib.runs.tables import example_user, user_favourites, user_recommendations

movies = load_movies(data.source)
user = example_user(data.train, data.split.test)
print(f"User {user}: highest-rated movies in the training data")
user_favourites(data.train, movies, user)

# %%
print(f"{kind.name}'s top-{params.TOP_K} for user {user}")
user_recommendations(model, movies, user, k=params.TOP_K)

# %% [markdown]
# ## 7. Checkpoint and results

# %%
results_path = record.finish()
print(f"Checkpoints: {sorted(p.name for p in (run.run_dir / 'checkpoints').iterdir())}")
print(f"Models: {sorted(p.name for p in record.models_dir.iterdir())}")
print(f"Results: {results_path}")
