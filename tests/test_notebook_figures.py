"""Every figure cell of an executed notebook holds a picture: classical_cf run by papermill
with the plain `python3` kernel and a non-inline matplotlib backend (as on Kaggle's batch
runs) leaves exactly one image/png output per figure cell, and none elsewhere."""

from __future__ import annotations

import base64
import json
import re

import pytest

from recsys_lib.runs.runner import run_notebook

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_classical_notebook_leaves_one_png_per_figure_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no inline backend: only _repr_png_ can show
    outcome = run_notebook("classical", {"SAMPLE_SIZE": 3000, "EVAL_USERS": 200,
                                         "ALS_ITERATIONS": 2},
                           results_dir=tmp_path / "run", progress=False)
    assert outcome.results["status"] == "ok", outcome.results.get("error")
    cells = [cell for cell in json.loads(outcome.executed.read_text())["cells"]
             if cell["cell_type"] == "code"]
    pngs = {}
    for cell in cells:
        images = [out["data"]["image/png"] for out in cell["outputs"]
                  if "image/png" in out.get("data", {})]
        if images:
            pngs["".join(cell["source"]).strip().splitlines()[-1]] = images
    assert sorted(pngs) == ["metrics_figure", "ratings_figure", "timeline_figure"]
    for images in pngs.values():
        (image,) = images
        assert base64.b64decode(image).startswith(PNG_SIGNATURE)
    # No figure anywhere shows only as its text ("<NotebookFigure size 1000x580 ...>").
    bundles = [out.get("data", {}) for cell in cells for out in cell["outputs"]]
    text_only = [data["text/plain"] for data in bundles if "image/png" not in data
                 and re.search(r"Figure size", "".join(data.get("text/plain", "")))]
    assert text_only == []
