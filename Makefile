# yolo-tfserving: the two set-up commands that work on a fresh machine.
#   make demo   create .venv, install, export the model, verify it (end to end)
#   make test   create .venv, install, run the whole test suite
#   make test-fast   the quick tier (no real model, one shared tiny export)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared
WEIGHTS ?= $(SHARED)/models/yolov5n.pt
IMAGES ?= $(SHARED)/data/coco128/images
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=
# every core, one pytest worker each (pytest-xdist); tests/conftest.py groups the tests that share an export
PYTEST_PARALLEL ?= -n auto --dist loadgroup

.PHONY: install demo test test-fast lint typecheck bench protos clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) scripts/demo.py --weights "$(WEIGHTS)" --images "$(IMAGES)" --out "$(DEMO_OUT)"

test: install
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# the quick tier: no real model, no export but one shared tiny export (tests/conftest.py)
test-fast: install
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow and not shared and not export" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/run_all.py

# regenerate the committed src/yolo_tfserving/_wire/*_pb2*.py(i) from the .proto files there
protos: install
	$(PY) scripts/gen_protos.py

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
