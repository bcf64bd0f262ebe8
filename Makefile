VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.recsys-installed

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml scripts/setup_venv.sh
	VENV=$(VENV) bash scripts/setup_venv.sh
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/recsys run classical
	$(VENV)/bin/recsys run vae --config notebooks/configs/cpu_quick.yaml

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info
