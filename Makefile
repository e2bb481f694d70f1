# Two commands: `make lab` opens the suite, `make test` checks it. Both install what is missing first.
PYTHON ?= python3
TORCH ?= torch==2.13.0

.PHONY: install lab test unit notebooks lint execute

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH)"
	@$(PYTHON) -c "import gptviz, nbval, ruff, playwright" 2>/dev/null || $(PYTHON) -m pip install -e ".[dev]"

lab: install
	$(PYTHON) -m jupyter lab notebooks/

lint:
	$(PYTHON) -m ruff check .

unit:
	$(PYTHON) -m pytest tests

notebooks:
	$(PYTHON) -m pytest --nbval notebooks --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

test: install lint unit notebooks

# Re-run the notebooks (or NB="notebooks/03_self_attention.ipynb ...") and save them with fresh outputs.
execute:
	$(PYTHON) tools/execute_notebooks.py $(NB)
