"""Progress bars: one live bar where a person watches, one summary line per bar where the
output is saved for later (papermill, `recsys run`, Kaggle's "Save & Run All", a log file).

The mode comes from `RECSYS_PROGRESS` when set ("bar", "lines" or "off"); otherwise:

- Kaggle batch runs (`KAGGLE_KERNEL_RUN_TYPE=Batch`) -> lines;
- inside a Jupyter kernel, the request that runs the cell says whether a person is there:
  interactive front ends (JupyterLab, Notebook, Kaggle's and Colab's editors, VS Code)
  send `allow_stdin=True`, headless executors (nbclient, so papermill and nbconvert) send
  False -> bar or lines;
- elsewhere, a terminal on stderr -> bar, anything else (a pipe, a file) -> lines.

"bar" is tqdm's notebook widget where ipywidgets can draw it and a text bar elsewhere;
"lines" is a bar that draws nothing while it runs and writes one line when it closes:
description, count, elapsed seconds and the last postfix.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from tqdm.std import tqdm as text_tqdm

__all__ = [
    "PROGRESS_DELAY_S", "PROGRESS_ENV", "PROGRESS_MODES", "LineProgress", "progress_bar",
    "progress_mode", "work_progress",
]

PROGRESS_ENV = "RECSYS_PROGRESS"
PROGRESS_MODES = ("bar", "lines", "off")
#: Seconds after which the bars of model work (similarities, scoring) show: the work of
#: MovieLens 25M's shape takes 10-60 s a step on 2 cores, the embedded data's under one.
PROGRESS_DELAY_S = 2.0


def progress_mode() -> str:
    """"bar", "lines" or "off" for this process (see the module docstring).

    Raises:
        ValueError: `RECSYS_PROGRESS` holds another value.
    """
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen:
        if chosen not in PROGRESS_MODES:
            raise ValueError(f"{PROGRESS_ENV}={chosen!r}: expected one of "
                             f"{', '.join(PROGRESS_MODES)}")
        return chosen
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE", "").lower() == "batch":
        return "lines"
    allows_stdin = _kernel_request_allows_stdin()
    if allows_stdin is not None:
        return "bar" if allows_stdin else "lines"
    stream = sys.stderr
    return "bar" if stream is not None and stream.isatty() else "lines"


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm bar in the current `progress_mode()`; the arguments are tqdm's."""
    mode = progress_mode()
    if mode == "off":
        return text_tqdm(*args, **{**kwargs, "disable": True})
    if mode == "lines":
        return LineProgress(*args, **kwargs)
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        tqdm = text_tqdm
    return tqdm(*args, **kwargs)


def work_progress(total: int, desc: str | None, unit: str) -> Any:
    """A `progress_bar` over a model's work (similarity blocks, iterations, scored users)
    that shows only once the work has taken `PROGRESS_DELAY_S`; disabled when `desc` is
    None (the caller asked for no bar)."""
    return progress_bar(total=total, desc=desc, unit=unit, delay=PROGRESS_DELAY_S,
                        disable=desc is None)


class _Discard:
    """A text stream that drops what it is given (where a LineProgress bar draws)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


class LineProgress(text_tqdm):
    """A tqdm bar that draws nothing while it runs and writes one line when it closes,
    such as "epoch 2/5: 40/40 in 3.1 s (loss=0.52, lr=1.00e-03)", to `file` (default
    stderr). `disable=True` silences it like any tqdm bar, and a bar closed sooner than
    its `delay` seconds writes nothing (tqdm's bar would not have shown by then)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._summary_file = kwargs.pop("file", None)
        super().__init__(*args, **{**kwargs, "file": _Discard()})

    def summary(self) -> str:
        """The line written on close: description, count, elapsed seconds, postfix."""
        info = self.format_dict
        if info["unit_scale"] is True:
            count, total = (None if value is None else
                            self.format_sizeof(value, divisor=info["unit_divisor"])
                            for value in (info["n"], info["total"]))
        else:
            count, total = (None if value is None else f"{value:,}"
                            for value in (info["n"], info["total"]))
        unit = "" if info["unit"] == "it" else f" {info['unit']}"
        done = count if total is None else f"{count}/{total}"
        line = f"{info['prefix'] or 'progress'}: {done}{unit} in {info['elapsed']:.1f} s"
        return line + (f" ({info['postfix']})" if info["postfix"] else "")

    def close(self) -> None:
        """Write the summary line once (none within the bar's `delay`), then close it."""
        if not self.disable and not getattr(self, "_summarised", False):
            self._summarised = True
            if self.format_dict["elapsed"] >= self.delay:
                stream = self._summary_file or sys.stderr
                stream.write(self.summary() + "\n")
                stream.flush()
        super().close()


def _kernel_request_allows_stdin() -> bool | None:
    """`allow_stdin` of the request the Jupyter kernel is running, or None outside one."""
    if "ipykernel" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    get_parent = getattr(shell, "get_parent", None)
    if get_parent is None:
        return None
    content = (get_parent() or {}).get("content") or {}
    allows = content.get("allow_stdin")
    return None if allows is None else bool(allows)
