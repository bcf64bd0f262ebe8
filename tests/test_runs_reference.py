"""The run layer's refactor changed no result: a fixed-seed classical run through
`recsys_lib.runs` gives the data summary and metrics that the previous run layer
(`recsys_lib.experiment`, before the refactor) recorded in tests/fixtures/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys_lib.memory import MemoryMonitor
from recsys_lib.runs.classical import ClassicalParams, classical_models
from recsys_lib.runs.steps import EvaluationContext, prepare_data

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "classical_reference.json"
#: Models changed on purpose since the reference was recorded, and why.
CHANGED_ON_PURPOSE = {
    "ItemKNN": "issue 11: similarities on baseline residuals, shrunk by co-rating support",
    "SVD": "issue 11: numpy randomized SVD instead of scikit-learn's (no 0.85 s import)",
}


@pytest.mark.slow
def test_a_fixed_seed_classical_run_matches_the_previous_run_layer():
    reference = json.loads(REFERENCE.read_text())
    params = ClassicalParams(**reference["params"])
    memory = MemoryMonitor()
    data = prepare_data(params, memory)
    summary = data.summary()
    for key, value in reference["data"].items():
        assert summary[key] == value, key
    evaluation = EvaluationContext(data.split.test, memory, seed=params.SEED)
    compared = 0
    for name, model in classical_models(params, data.train.n_items).items():
        if name in CHANGED_ON_PURPOSE or name not in reference["metrics"]:
            continue
        with memory.track(f"fit {name}") as fitting:
            model.fit(data.train)
        metrics = evaluation.evaluate(name, model, fitting).metrics
        expected = reference["metrics"][name]
        assert set(metrics) == set(expected), name
        for metric, value in expected.items():
            assert metrics[metric] == pytest.approx(value, rel=1e-5, abs=1e-7), (name, metric)
        compared += 1
    assert compared == len(reference["metrics"]) - len(CHANGED_ON_PURPOSE)
