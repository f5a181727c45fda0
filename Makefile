# The project's verbs. `make run` and `make test` do all set-up from a fresh clone.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_CORPUS ?= bench-corpus
# The corpus builder ships beside the repository (../shared), as the project docs describe.
BENCH_CORPUS_SCRIPT ?= $(abspath $(CURDIR)/../shared/bench-corpus.sh)
CONFORMANCE_CORPUS ?= conformance-corpus
# What scripts/conformance-corpus.py makes images with: libjpeg-turbo's, libwebp's, libavif's and
# libheif's command-line tools, and Ghostscript's CMYK profile.
CONFORMANCE_PACKAGES := libjpeg-turbo-progs webp libavif-bin libheif-examples libgs-common
# What tests/browser/ runs the docs' code examples with (Python is .venv's).
DOCS_EXAMPLE_PACKAGES := curl nodejs php-cli php-curl

.PHONY: run serve test lint format bench-throughput bench-overhead bench-compression bench-heldout bench-bounds bench-memory bench-client screenshots examples conformance-corpus system-packages test-system-packages bench-system-packages

## run: install what is missing, migrate, collect static files and serve on http://127.0.0.1:$PORT (embedded defaults unless configured)
# With DEBUG=false the pages name their static files from the manifest that collectstatic writes.
run: system-packages $(VENV)/.runtime-installed
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py collectstatic --noinput --verbosity 0
	$(PYTHON) manage.py runserver 127.0.0.1:$(PORT)

## serve: the production stack (gunicorn, Celery worker, Celery beat from the Procfile) on PostgreSQL and Redis (DATABASE_URL, REDIS_URL); migrates and collects static files first
serve: system-packages $(VENV)/.runtime-installed
	@scripts/serve.sh

## bench-throughput: the stack's images/s and p50/p99 latency at concurrency 1, 2, 4 next to the bare pipeline (needs DATABASE_URL and REDIS_URL, like serve)
bench-throughput: system-packages $(VENV)/.runtime-installed $(BENCH_CORPUS)
	$(PYTHON) bench/throughput.py --corpus $(BENCH_CORPUS)

# The development image corpus (never committed): public sample images, built once.
$(BENCH_CORPUS):
	$(BENCH_CORPUS_SCRIPT) $(BENCH_CORPUS)

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

## conformance-corpus: build the input-conformance corpus (images, browser references, manifest; git-ignored) that tests/conformance/ sends through the API
conformance-corpus: test-system-packages $(VENV)/.dev-installed
	$(PYTHON) scripts/conformance-corpus.py $(CONFORMANCE_CORPUS)

## examples: remake the landing page's before/after images through the pipeline (static/img/examples/)
examples: $(VENV)/.dev-installed
	$(PYTHON) scripts/make_examples.py

## bench-overhead: what API-key auth, rate limit, quota and request record add to one request (p50, p99)
bench-overhead: system-packages $(VENV)/.runtime-installed
	$(PYTHON) bench/overhead.py

## bench-compression: smart + auto against ImageMagick WebP q80 on the corpus: bytes, SSIMULACRA2, time, memory, PASS/FAIL per target
# The benchmark adds its extra images (bench/corpus.py) to the (git-ignored) corpus folder.
bench-compression: bench-system-packages $(VENV)/.dev-installed $(BENCH_CORPUS)
	$(PYTHON) bench/compression.py --corpus $(BENCH_CORPUS) $(BENCH_ARGS)

## bench-heldout: bench-compression's targets on images nothing is tuned on (Debian wallpapers and sprites; no memory run)
bench-heldout: system-packages $(VENV)/.dev-installed
	$(PYTHON) bench/compression.py --held-out $(BENCH_ARGS)

## bench-bounds: what any smart search over our encoders' settings could reach at quality 80: the fewest bytes at each image's target, and the least time a search must take to return them (BENCH_ARGS="--held-out" for the held-out images)
bench-bounds: bench-system-packages $(VENV)/.dev-installed
	$(PYTHON) bench/bounds.py $(BENCH_ARGS)

## bench-memory: a worker's peak memory per input size (12-100 MP; WebP, AVIF; smart on/off), against the 1 GiB ceiling
bench-memory: system-packages $(VENV)/.runtime-installed
	$(PYTHON) bench/memory.py $(BENCH_ARGS)

## bench-client: the smolpix command on 200 small images at concurrency 1, 2, 4 against make run's server (make serve's stack with DATABASE_URL and REDIS_URL), next to a naive loop and the pipeline's ceiling
bench-client: system-packages $(VENV)/.dev-installed
	$(PYTHON) bench/client.py $(BENCH_ARGS)

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

system-packages:
	@scripts/system-packages.sh

# The browser tests drive Debian's Chromium (Playwright never downloads a browser) and run the
# docs' examples; the conformance tests build their corpus with the conformance packages.
test-system-packages:
	@scripts/system-packages.sh chromium $(CONFORMANCE_PACKAGES) $(DOCS_EXAMPLE_PACKAGES)

# The compression benchmark's corpus draws diagrams with Graphviz and screenshots with Chromium.
bench-system-packages:
	@scripts/system-packages.sh chromium graphviz

$(PYTHON):
	python3 -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt constraints.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt constraints.txt clients/python/pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.runtime-installed
