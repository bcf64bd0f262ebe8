"""Progress bars fall back to text when ipywidgets is missing."""

from __future__ import annotations

import importlib.util

from tqdm.std import tqdm as text_tqdm

from recsys_lib.progress import progress_bar


def test_text_bar_without_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "ipywidgets" else real(name)
    )
    with progress_bar(total=3, disable=True) as bar:
        assert type(bar) is text_tqdm
        bar.update(3)
