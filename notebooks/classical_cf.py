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
# # Classical collaborative filtering on MovieLens
#
# Float32 **SVD**, **item-KNN**, **ALS**, **EASE** and a **blend** of them on a
# 50,000-rating sample, next to the **BiasBaseline** (ratings) and **Popularity** (ranking)
# yardsticks, all on one held-out split. Every step reports its memory before and after it
# runs, so the kernel never dies by surprise. Press *Run All*; change the parameters below,
# or run it headless: `papermill classical_cf.ipynb out.ipynb -p SAMPLE_SIZE 30000`.

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
# DATA_PATH: a folder, a ratings file or a release name; None discovers the data
# (RECSYS_DATA, Kaggle inputs, Drive, cache, then the embedded ml-latest-small).
DATA_PATH = None
# SAMPLE_SIZE: ratings to sample (None for all); SAMPLING: "ratings" or "users".
SAMPLE_SIZE = 50000
SAMPLING = "ratings"
# SPLIT: random, per_user, temporal or latest_per_user.
SPLIT = "random"
TEST_FRACTION = 0.2
SEED = 42
# RESULTS_DIR: None makes runs/<timestamp>-classical_cf.
RESULTS_DIR = None
# ON_BAD_ROWS: "error" stops at the first malformed row (naming its line); "skip" skips them.
ON_BAD_ROWS = "error"
# EXPERIMENT_ID: a name that groups runs (runs/<id>/...; `recsys report --experiment`).
EXPERIMENT_ID = None
# TRACKING: "wandb" logs the run to Weights & Biases when wandb is installed; None: off.
TRACKING = None
SVD_COMPONENTS = 30
KNN_NEIGHBORS = 15
ALS_FACTORS = 30
ALS_ITERATIONS = 5
# EASE_LAMBDA: EASE's L2 weight; EASE_MAX_ITEMS: most items it models (4 x N^2 bytes).
EASE_LAMBDA = 500.0
EASE_MAX_ITEMS = 10000
TOP_K = 10
# EVAL_USERS: evaluate on a seeded sample of this many test users (None for all).
EVAL_USERS = None
# DEVICE: auto, cpu or cuda (CUDA scores recommendations on the GPU).
DEVICE = "auto"

# %%
from recsys_lib.device import resolve_device
from recsys_lib.runs.notebooks import start_run

run = start_run("classical_cf", globals())
params, record = run.params, run.record
device = resolve_device(params.DEVICE)
print(f"Run folder: {run.run_dir}  (device: {device})")

# %% [markdown]
# ## 1. Environment and memory
#
# **How to read this:** *limit* is what the kernel may use before it is killed (on
# Kaggle the container limit, not the machine's RAM); *available* is what is left now.
# Every step below is checked against *available* before it runs. GPU rows appear when a
# GPU is on.

# %%
from recsys_lib.environment import session_warnings
from recsys_lib.memory import MemoryMonitor, snapshot

memory = MemoryMonitor()
for warning in session_warnings():
    print(f"WARNING: {warning}")
snapshot().to_frame()

# %% [markdown]
# ## 2. Data: source, sample, split

# %%
from recsys_lib.runs.steps import prepare_data

data = prepare_data(params, memory)
print(data.source.describe())
for note in data.notes():
    print(f"NOTE: {note}")
record.set_data(data.summary())
print(data.split.describe())
data.footprint_table()

# %% [markdown]
# ## 3-4. Models: preflight, fit, evaluate
#
# Each model gets a preflight line (estimated memory vs available, and a verdict) before
# it is fitted; fit time and peak memory come from the memory monitor. Every model is
# scored on the same held-out ratings, with each user's training items excluded.

# %%
from recsys_lib.runs.classical import classical_models
from recsys_lib.runs.steps import EvaluationContext, plan_fit

models = classical_models(params, data.train.n_items)
evaluation = EvaluationContext(data.split.test, memory, k=params.TOP_K, device=device,
                               max_users=params.EVAL_USERS, seed=params.SEED)
for name, model in models.items():
    plan = plan_fit(model, data.train, name)
    print(plan.message)
    plan.raise_if_not_fits()
    with memory.track(f"fit {name}") as fitting:
        model.fit(data.train)
    scores = evaluation.evaluate(name, model, fitting)
    record.add_metrics(name, scores.summary())
    record.save_model(name, model)
    print(scores.describe())
print(models["EASE"].summary())

# %% [markdown]
# ## 5. Results
#
# The yardsticks (BiasBaseline for rating error, Popularity for ranking) are what every
# other model must beat. Rating error is in stars (0.5-5 scale); ranking metrics count a
# held-out rating of 4 stars or more as relevant. A *rating model* predicts stars and ranks
# by them (the blend also learns ranking weights); a *ranker* only ranks. The blend learns
# its weights on three parts of the training data, each held out in turn from copies of its
# members (one part of a sample of users on large data), then combines the members fitted
# above on all of it (each fitted once).

# %%
from recsys_lib.runs.classical import YARDSTICKS
from recsys_lib.runs.tables import diagnostics_table, results_table

table = results_table(record.results["metrics"], YARDSTICKS)
table.round(4)

# %%
diagnostics_table(record.results["metrics"]).round(4)

# %%
from recsys_lib import plots

metrics_figure = plots.plot_metrics(table)
timeline_figure = plots.plot_memory_timeline(memory.samples(), memory.timeline())
ratings_figure = plots.plot_rating_distribution(data.train, data.split.test)
record.add("plots", plots.save_figures(run.run_dir / "plots", metrics=metrics_figure,
                                       memory_timeline=timeline_figure,
                                       rating_distribution=ratings_figure))
metrics_figure

# %%
timeline_figure

# %%
ratings_figure

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
from recsys_lib.runs.tables import best_model

best_ranker = best_model(record.results["metrics"], f"ndcg@{params.TOP_K}", YARDSTICKS)
print(f"{best_ranker}'s top-{params.TOP_K} for user {user} (the best NDCG@{params.TOP_K})")
user_recommendations(models[best_ranker], movies, user, k=params.TOP_K)

# %% [markdown]
# ## 7. Movies like one popular title
#
# EASE's item-item weights say which movies go together in people's ratings.

# %%
from recsys_lib.runs.tables import most_rated_item, similar_movies

movie = most_rated_item(data.train)
title = movies.loc[movies["item_id"] == movie, "title"].iloc[0]
print(f"Movies like {title}, by EASE")
similar_movies(models["EASE"], movies, movie, k=params.TOP_K)

# %% [markdown]
# ## 8. Saved models and results

# %%
results_path = record.finish()
print(f"Models: {sorted(p.name for p in record.models_dir.iterdir())}")
print(f"Results: {results_path}")
print(f"Kernel peak RSS over the run: {record.results['process_peak_rss_mb']:.0f} MB")
