# Everything a newcomer or CI needs: `make demo` and `make test` build the environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: env demo test lint typecheck docs unit bench clean lock

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on a broken link or
# anchor. Not -q: it hides the warnings that --strict counts.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Four workers on two cores: most of the suite waits on the sandbox's rollouts, not the CPU.
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set (they are ignored by
# git): without them every worker compiles, and pytest rewrites, each test module again, and
# each process of the command its modules (about 2.5 s of CPU a worker, once warm).
unit: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 4

# The static checks run beside the suite, in the time its workers wait on the sandbox: mypy
# alone is about 10 s of a 2.5-minute run. Each target's output is printed whole as it ends.
test: $(STAMP)
	$(MAKE) --no-print-directory -j4 --output-sync=target lint typecheck docs unit

# The image's pinned, hashed dependencies (needs the package index): commit what it writes.
lock: $(STAMP)
	$(BIN)/python scripts/lock.py

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache site
