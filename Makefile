# Two commands: `make lab` opens the suite, `make test` checks it. Both install what is missing first.
PYTHON ?= python3
TORCH ?= torch==2.13.0

.PHONY: install lab test unit notebooks notebooks-other-cpu browser book lint execute

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

# Saved outputs compare on any CPU and thread count: numbers that depend on the float path are rounded,
# or their cell is tagged nbval-ignore-output (its asserts still run).
NBVAL = $(PYTHON) -m pytest --nbval notebooks --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

notebooks:
	$(NBVAL)

# The same notebooks on another float path: torch's plain (non-vectorised) kernels, one thread.
notebooks-other-cpu:
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 $(NBVAL)

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
