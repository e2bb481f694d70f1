# Two commands: `make lab` opens the suite, `make test` checks it. Both install what is missing first.
PYTHON ?= python3
TORCH ?= torch==2.13.0

.PHONY: install lab test unit notebooks browser book lint execute

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH)"
	@$(PYTHON) -P -c "import importlib.metadata as m; [m.version(p) for p in ('gptviz', 'nbval', 'ruff', 'playwright', 'latex2mathml')]" \
		2>/dev/null || $(PYTHON) -m pip install -e ".[dev]"

lab: install
	$(PYTHON) -m jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

lint:
	$(PYTHON) -m ruff check .

unit:
	$(PYTHON) -m pytest tests --ignore=tests/browser

# One thread: the saved outputs were made that way, and the thread count changes floating-point sums.
notebooks:
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest --nbval notebooks --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# Chapters in JupyterLab in headless Chromium (Debian: apt-get install chromium; or GPTVIZ_CHROMIUM=/path/to/chrome).
browser:
	$(PYTHON) -m pytest tests/browser

test: install lint unit notebooks browser

# The notebooks with their saved outputs as a static HTML book: open book/index.html.
book:
	$(PYTHON) -m gptviz.cli book book

# Re-run the notebooks (or NB="notebooks/03_self_attention.ipynb ...") and save them with fresh outputs.
execute:
	$(PYTHON) tools/execute_notebooks.py $(NB)
