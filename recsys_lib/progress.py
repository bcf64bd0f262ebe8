"""Progress bars: tqdm's notebook widget where ipywidgets can draw it (Kaggle, Colab,
Jupyter), plain text elsewhere (terminals, papermill without ipywidgets) instead of
tqdm.auto's "IProgress not found" warning."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm bar; the arguments are tqdm's."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
