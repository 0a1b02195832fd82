# `make` sets up .venv and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

RUN := runs/alphazero

.PHONY: all alphazero match test bench clean

all: alphazero match

# Trains from scratch, or continues the run in $(RUN) (a finished run returns at once).
alphazero: $(VENV)/.installed
	$(BIN)/python train_alphazero.py $$([ -f $(RUN)/resume.pt ] && echo --resume)

match: $(VENV)/.installed
	$(BIN)/python othello/play.py --games 20 --player $(RUN)/best.pth.tar --opponent alphabeta:4

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_mcts.py

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
