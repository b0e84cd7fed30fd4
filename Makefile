# Single entry point: `make demo`, `make quickstart` and `make test` do the whole set-up on a fresh
# machine.
#
# Everything goes into a local virtual environment ($(VENV)). Every pip call gets the one
# constraints file, so later installs cannot drag setuptools past 81 or pull a CUDA torch.
# mmcv 2.1.0 has no wheel for torch 2.13: it is compiled from its sdist (about 13 minutes
# on 2 cores, once; pip caches the wheel, so later set-ups reuse it).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check install -c requirements/constraints.txt
PYTEST_ARGS ?=

.PHONY: install demo audit quickstart test clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch, setuptools<81 and build tools first; then full mmcv compiled against that torch.
$(VENV)/.stamp-mmcv: requirements/build.txt requirements/constraints.txt | $(PY)
	$(PIP) -r requirements/build.txt
	MMCV_WITH_OPS=1 $(PIP) --no-build-isolation mmcv==2.1.0
	touch $@

$(VENV)/.stamp-runtime: $(VENV)/.stamp-mmcv setup.py requirements/runtime.txt requirements/optional.txt
	$(PIP) --no-build-isolation -e '.[optional]'
	touch $@

$(VENV)/.stamp-tests: $(VENV)/.stamp-runtime requirements/tests.txt
	$(PIP) -r requirements/tests.txt
	touch $@

install: $(VENV)/.stamp-runtime

# The project's main job, the bias audit, on its default: a biased Texture-MNIST set, three toy
# models trained briefly on the CPU, one HTML report (work_dirs/audit_texture_mnist/report.html).
demo: $(VENV)/.stamp-runtime
	$(PY) tools/bias_audit.py

audit: demo

# A tiny end-to-end train + test on a generated Cityscapes-layout dataset (under a minute).
quickstart: $(VENV)/.stamp-runtime
	$(PY) tools/quickstart.py

test: $(VENV)/.stamp-tests
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
