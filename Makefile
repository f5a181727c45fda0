# The project's verbs. `make run` and `make test` do all set-up from a fresh clone.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format bench-overhead bench-compression screenshots examples system-packages test-system-packages

## run: install what is missing, migrate, and serve on http://127.0.0.1:$PORT (embedded defaults unless configured)
run: system-packages $(VENV)/.runtime-installed
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py runserver 127.0.0.1:$(PORT)

## test: the same set-up, then the whole test suite
test: test-system-packages $(VENV)/.dev-installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## lint: ruff (lint + format check) and missing migrations
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTHON) manage.py makemigrations --check --dry-run

## screenshots: the main pages at desktop and phone widths, into screenshots/ (git-ignored)
screenshots: test-system-packages $(VENV)/.dev-installed
	$(VENV)/bin/pytest tests/browser/screenshots.py -q -p no:cacheprovider

## examples: remake the landing page's before/after images through the pipeline (static/img/examples/)
examples: $(VENV)/.dev-installed
	$(PYTHON) scripts/make_examples.py

## bench-overhead: what API-key auth, rate limit, quota and request record add to one request (p50, p99)
bench-overhead: system-packages $(VENV)/.runtime-installed
	$(PYTHON) bench/overhead.py

## bench-compression: smart + auto against ImageMagick WebP q80 on the corpus: bytes, SSIMULACRA2, time, memory, PASS/FAIL per target
# The corpus (bench-corpus.sh, from the shared folder beside the repository) goes into the
# git-ignored bench-corpus/, once; the benchmark adds its four extra images there.
BENCH_CORPUS ?= bench-corpus
BENCH_CORPUS_SCRIPT ?= $(firstword $(wildcard ../shared/bench-corpus.sh /work/shared/bench-corpus.sh))
bench-compression: system-packages $(VENV)/.runtime-installed
	@[ -d $(BENCH_CORPUS) ] || bash $(BENCH_CORPUS_SCRIPT) $(BENCH_CORPUS)
	$(PYTHON) bench/compression.py --corpus $(BENCH_CORPUS) $(BENCH_ARGS)

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

system-packages:
	@scripts/system-packages.sh

# The browser tests drive Debian's Chromium; Playwright never downloads a browser.
test-system-packages:
	@scripts/system-packages.sh chromium

$(PYTHON):
	python3 -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed
