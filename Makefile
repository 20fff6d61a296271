# The two commands: `make demo` and `make test`. Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: demo test lint format bench clean lock screenshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when the project's dependency list or the pinned versions change. constraints.txt pins
# every package of a tested install (`make lock` rewrites it from .venv), so a fresh clone gets the same.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^wattmesh' > constraints.txt

demo: $(STAMP)
	$(BIN)/wattmesh simulate --out out

# anvil (a real EVM node for the ledger's integration test) from npm: the binary ships inside the
# platform package @foundry-rs/anvil-<os>-<arch>, so nothing is fetched from GitHub.
ANVIL := .tools/node_modules/.bin/anvil
$(ANVIL):
	npm install --prefix .tools --no-save --no-audit --no-fund @foundry-rs/anvil@1.7.1

test: $(STAMP) $(ANVIL)
	$(BIN)/ruff check wattmesh tests benchmarks
	$(BIN)/ruff format --check wattmesh tests benchmarks
	$(BIN)/python -m pytest -n 2 -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check wattmesh tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format wattmesh tests benchmarks
	$(BIN)/ruff check --fix wattmesh tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/simulate_scale.py

# docs/report.png from a real run of the default scenario (three June days) in Debian's Chromium.
screenshot: $(STAMP)
	$(BIN)/python benchmarks/report_screenshot.py

clean:
	rm -rf out .pytest_cache
