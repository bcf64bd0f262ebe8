"""What a notebook run is, one job per module:

- `record`: the run folder and its `results.json` (status, params, data, metrics).
- `params`: the strict parameters base every notebook's parameters share.
- `notebooks`: the notebooks the library runs (one entry each) and `start_run`.
- `steps`: the shared steps: data (`prepare_data`), the memory preflight (`plan_fit`),
  scoring (`EvaluationContext`).
- `classical`, `vae`: one module per notebook, holding its parameters and its own steps.
- `runner`: papermill execution of a notebook or a grid of runs.
- `tables`: the results table of a run, one user's recommendations, run comparisons.

Importing this package imports none of them (`vae` imports torch).
"""

__all__: list[str] = []
