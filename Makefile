# `make` sets up .venv and runs the whole pipeline from scratch (about 2.3 hours on 2 cores, the
# SAEs 1.25 of them): AlphaZero, a match, activation collection, the 49-SAE sweep and the shipped
# SAEs, the viewer's data, the superhuman positions' analysis (docs/superhuman.md) and the report
# (docs/features.md). `make quick`:
# the same up to the SAEs in minutes, at toy sizes, under runs/quick. `make test`: the tests (with
# Ray, for the --ray paths' tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

RUN := runs/alphazero
QUICK := runs/quick
# The shipped model's recipe (docs/training.md): the default run, longer,
# with a larger replay window, more training per iteration and more exploratory openings.
SHIPPED_RECIPE := --iterations 40 --window-iterations 10 --train-epochs 4 --temperature-moves 16
# The shipped SAEs' recipe (docs/saes.md): the sweep's best architectures at L0 40, trained for
# 6x the sweep's steps, the network's policy KL joining the loss for the last 20%; and the
# viewer's default bundle (shipped in sae/pretrained/): these two and an L1 SAE of the sweep.
SHIPPED_SAES_RECIPE := --l1-penalties "" --architectures batchtopk,matryoshka --ks 40 --arch-widths 1024 --steps 14400 \
	--kl-coefficient 10 --kl-from 0.8
SHIPPED_SAES := runs/shipped_kl10
VIEWER_SAES := $(SHIPPED_SAES)/batchtopk_k40_f1024 $(SHIPPED_SAES)/matryoshka_k40_f1024 runs/saes/l1_lambda3_f1024

.PHONY: all alphazero match activations saes vis superhuman report quick test test-saelens bench clean

all: alphazero match activations saes vis superhuman report

# Trains from scratch, or continues the run in $(RUN) (a finished run returns at once).
alphazero: $(VENV)/.installed
	$(BIN)/python train_alphazero.py $(SHIPPED_RECIPE) $$([ -f $(RUN)/resume.pt ] && echo --resume)

match: $(VENV)/.installed
	$(BIN)/python othello/play.py --games 20 --player $(RUN)/best.pth.tar --opponent alphabeta:4

activations: $(VENV)/.installed
	$(BIN)/python othello/collect_activations.py --checkpoint $(RUN)/best.pth.tar --previous $(RUN)/previous_best.pth.tar

# Resumes: SAEs already trained with the same settings are kept.
saes: $(VENV)/.installed
	$(BIN)/python train_sae.py --checkpoint $(RUN)/best.pth.tar
	$(BIN)/python train_sae.py --checkpoint $(RUN)/best.pth.tar $(SHIPPED_SAES_RECIPE) --out-dir $(SHIPPED_SAES)

vis: $(VENV)/.installed
	$(BIN)/python vis/generate_vis_data.py --checkpoint $(RUN)/best.pth.tar \
		--saes $$(echo $(VIEWER_SAES) | tr ' ' ,)

# Adds its block to the viewer data of the first SAE; run it after `vis`, which rewrites that file.
superhuman: $(VENV)/.installed
	$(BIN)/python vis/superhuman.py --checkpoint $(RUN)/best.pth.tar --sae $(word 1,$(VIEWER_SAES)) \
		--viewer --pictures assets/superhuman

report: $(VENV)/.installed
	$(BIN)/python vis/report.py

quick: $(VENV)/.installed
	$(BIN)/python train_alphazero.py --name quick --iterations 3 --games-per-iteration 128 --batch-games 128 \
		--num-simulations 16 --arena-games 10 --eval-games 10 $$([ -f $(QUICK)/resume.pt ] && echo --resume)
	$(BIN)/python othello/collect_activations.py --checkpoint $(QUICK)/best.pth.tar --opponents random,greedy \
		--positions 50000 --sims 16 --out $(QUICK)/activations
	$(BIN)/python train_sae.py --profile quick --checkpoint $(QUICK)/best.pth.tar --activations $(QUICK)/activations \
		--architectures batchtopk,jumprelu --arch-widths 1024 \
		--out-dir $(QUICK)/saes --scaling $(QUICK)/scaling.json --assets $(QUICK)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

# The SAELens round trip: installs sae-lens (large: ~100 packages) into .venv first.
test-saelens: $(VENV)/.installed-dev
	$(BIN)/pip install sae-lens
	$(BIN)/python -m pytest -q tests/test_export.py

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_mcts.py
	$(BIN)/python benchmarks/bench_sae.py
	$(BIN)/python benchmarks/bench_concepts.py
	$(BIN)/python benchmarks/bench_viewer.py
	$(BIN)/python benchmarks/bench_solver.py
	$(BIN)/python benchmarks/bench_ray.py

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt requirements-ray.txt
	$(BIN)/pip install -r requirements-dev.txt -r requirements-ray.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
