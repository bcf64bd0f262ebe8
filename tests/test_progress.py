"""Progress: a live bar where a person watches, one line per bar in headless runs, chosen by
RECSYS_PROGRESS or by what the process can tell about its audience."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from types import SimpleNamespace

import pytest
import torch
from tqdm.std import tqdm as text_tqdm

from recsys_lib.progress import LineProgress, progress_bar, progress_mode
from recsys_lib.training import TensorBatches, Trainer, TrainerConfig


@pytest.fixture(autouse=True)
def _no_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RECSYS_PROGRESS", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)


def _fake_kernel(monkeypatch: pytest.MonkeyPatch, allow_stdin: bool) -> None:
    """A Jupyter kernel running a request with the given allow_stdin."""
    import IPython

    shell = SimpleNamespace(get_parent=lambda: {"header": {"msg_type": "execute_request"},
                                                "content": {"allow_stdin": allow_stdin}})
    monkeypatch.setitem(sys.modules, "ipykernel", SimpleNamespace())
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)


def test_text_bar_without_ipywidgets(monkeypatch):
    monkeypatch.setenv("RECSYS_PROGRESS", "bar")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "ipywidgets" else real(name)
    )
    with progress_bar(total=3, disable=True) as bar:
        assert type(bar) is text_tqdm
        bar.update(3)


@pytest.mark.parametrize(("allow_stdin", "mode"), [(True, "bar"), (False, "lines")])
def test_kernel_request_tells_interactive_from_headless(monkeypatch, allow_stdin, mode):
    _fake_kernel(monkeypatch, allow_stdin)
    assert progress_mode() == mode


def test_environment_overrides_and_kaggle_batch(monkeypatch):
    _fake_kernel(monkeypatch, allow_stdin=True)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert progress_mode() == "lines"
    monkeypatch.setenv("RECSYS_PROGRESS", "Bar")
    assert progress_mode() == "bar"
    monkeypatch.setenv("RECSYS_PROGRESS", "quiet")
    with pytest.raises(ValueError, match=r"RECSYS_PROGRESS='quiet': expected one of bar, "
                                         r"lines, off"):
        progress_mode()


def test_outside_a_kernel_a_pipe_gets_lines(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_mode() == "lines"


def test_line_bar_writes_one_summary_line_on_close():
    out = io.StringIO()
    with LineProgress(total=40, desc="epoch 2/5", file=out, mininterval=0) as bar:
        for _ in range(40):
            bar.update(1)
        bar.set_postfix(loss="0.52", lr="1.00e-03", refresh=False)
        assert out.getvalue() == ""
    bar.close()
    assert re.fullmatch(r"epoch 2/5: 40/40 in \d+\.\d s \(loss=0\.52, lr=1\.00e-03\)\n",
                        out.getvalue())
    with LineProgress(total=3 * 2**20, unit="B", unit_scale=True, unit_divisor=1024,
                      desc="ml-100k.zip", file=out) as bar:
        bar.update(2**20)
    assert out.getvalue().splitlines()[-1].startswith("ml-100k.zip: 1.00M/3.00M B in ")


def test_line_bar_closed_within_its_delay_writes_nothing():
    out = io.StringIO()
    with LineProgress(total=2, desc="quick", file=out, delay=60) as bar:
        bar.update(2)
    assert out.getvalue() == ""
    with LineProgress(total=2, desc="slow", file=out, delay=2) as bar:
        bar.start_t -= 5  # as if it had started 5 s ago
        bar.update(2)
    assert re.fullmatch(r"slow: 2/2 in 5\.\d s\n", out.getvalue())


def test_off_and_disable_write_nothing(monkeypatch):
    out = io.StringIO()
    with LineProgress(total=2, file=out, disable=True) as bar:
        bar.update(2)
    monkeypatch.setenv("RECSYS_PROGRESS", "off")
    with progress_bar(total=2, file=out) as bar:
        bar.update(2)
    assert out.getvalue() == ""


def test_headless_trainer_logs_one_line_per_epoch(monkeypatch, capsys):
    monkeypatch.setenv("RECSYS_PROGRESS", "lines")
    cfg = TrainerConfig(epochs=3, batch_size=4, lr=0.01, mixed_precision="off", progress=True,
                        device="cpu", max_minutes=None, patience=None, gradient_clipping=None)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    module = torch.nn.Linear(3, 1)

    def loss_fn(net, batch, step):
        from recsys_lib.training import LossOutput

        inputs, target = batch
        loss = ((net(inputs).squeeze(1) - target) ** 2).mean()
        return LossOutput(loss, {"recon_loss": loss})

    Trainer(cfg).fit(module, loss_fn, TensorBatches([x, y], cfg.batch_size, seed=0))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(re.match(r"epoch \d/3: 12/12 in \d+\.\d s", line) for line in lines)
    assert "loss=" in lines[-1]


@pytest.mark.slow
def test_papermill_kernel_is_headless(tmp_path, monkeypatch):
    """The real signal: papermill's requests carry allow_stdin=False, so a bar in the
    executed notebook leaves one line."""
    import nbformat
    import papermill

    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(
        "from recsys_lib.progress import progress_bar, progress_mode\n"
        "print(progress_mode())\n"
        "with progress_bar(total=50, desc='epoch 1/1', mininterval=0) as bar:\n"
        "    for _ in range(50):\n"
        "        bar.update(1)"))
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}
    nbformat.write(notebook, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="python3", progress_bar=False)
    outputs = nbformat.read(tmp_path / "out.ipynb", 4).cells[0].outputs
    streams = {out.name: out.text for out in outputs if out.output_type == "stream"}
    assert streams["stdout"] == "lines\n"
    assert re.fullmatch(r"epoch 1/1: 50/50 in \d+\.\d s\n", streams["stderr"])
