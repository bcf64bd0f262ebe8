#!/usr/bin/env bash
# Creates .venv when missing and installs recsys-lib with its dev extras into it.
# torch is installed only when it cannot be imported (pinned to the local CPU build then);
# an existing torch is never upgraded, because pip keeps any version that satisfies the
# unpinned requirement in pyproject.toml.
set -euo pipefail
venv="${VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "torch not importable in $venv: installing torch==2.13.0"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
"$venv/bin/python" -c "import torch, recsys_lib; print(f'recsys_lib ready (torch {torch.__version__})')"
