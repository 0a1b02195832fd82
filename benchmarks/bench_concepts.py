"""Concept metrics speed: `concept_summary` (sae/concepts.py) for one SAE, against the version of
the module at an earlier revision, side by side in one run and on the same inputs.

The inputs are shaped like the cpu profile's: 20,000 training and 20,000 held-out positions,
the 442 concepts of the shipped model's collection (their base rates spread from 1% to 60%),
and SAE-like features: `--l0` active latents per position, at each width of `--widths`. Both
versions must agree on every number they report, except the board reconstruction, whose rule
changed on purpose since the baseline (per-threshold labels, pooled F1).

    python benchmarks/bench_concepts.py                       # about 2 minutes
    python benchmarks/bench_concepts.py --widths 4096 --baseline ''   # the current code alone
"""
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.cli import parse_config, require_at_least  # noqa: E402
from sae.concepts import concept_summary  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SQUARE_GROUPS = ("mine", "theirs", "empty", "legal", "opponent_legal", "last_move", "flipped", "stable_mine",
                 "stable_theirs", "frontier_mine", "frontier_theirs", "best_move")


@dataclass
class BenchConceptsConfig:
    """Time the concept metrics of one SAE, now and at an earlier revision."""

    widths: str = "1024,4096"
    """comma-separated SAE widths"""
    positions: int = 20_000
    """positions of each split (the cpu profile's concept_positions)"""
    l0: int = 32
    """active latents per position"""
    baseline: str = "33f5397"
    """git revision whose sae/concepts.py is compared ('' for none): the dense version by default"""
    threads: int = 2
    """torch CPU threads"""
    seed: int = 0
    """seeds the inputs"""

    def __post_init__(self):
        require_at_least(self, 1, "positions", "l0", "threads")
        if not all(w.strip().isdigit() and int(w) >= self.l0 for w in self.widths.split(",")):
            raise ValueError(f"--widths takes comma-separated widths of at least --l0, got '{self.widths}'")


def baseline_module(revision, scratch):
    """sae/concepts.py at `revision`, imported from a temporary file."""
    text = subprocess.run(["git", "show", f"{revision}:sae/concepts.py"], cwd=REPO, capture_output=True, text=True)
    if text.returncode != 0:
        raise SystemExit(f"cannot read sae/concepts.py at '{revision}': {text.stderr.strip()} "
                         "(pass --baseline '' to skip the comparison)")
    path = Path(scratch) / "concepts_baseline.py"
    path.write_text(text.stdout)
    spec = importlib.util.spec_from_file_location("concepts_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(rng, width, positions, l0):
    """(features (N, width), concepts (N, 442) bool, names) of one split."""
    names = [f"{group}:{square}" for group in SQUARE_GROUPS for square in range(36)]
    names += [f"scalar{i}" for i in range(9)] + ["value>0"]
    concepts = rng.random((positions, len(names))) < rng.uniform(0.01, 0.6, len(names))
    features = np.zeros((positions, width), np.float32)
    latents = np.argsort(rng.random((positions, width)), axis=1)[:, :l0]
    np.put_along_axis(features, latents, rng.exponential(1.0, (positions, l0)).astype(np.float32), axis=1)
    return features, concepts, names


def timed_summary(summary, train, heldout):
    start = time.perf_counter()
    result = summary(train[0], train[1], heldout[0], heldout[1], train[2])
    return result, time.perf_counter() - start


def main():
    config = parse_config(BenchConceptsConfig)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    print(f"concept_summary of one SAE: {config.positions:,} + {config.positions:,} positions, 442 concepts, "
          f"L0 {config.l0}, {config.threads} threads (seconds)")
    with tempfile.TemporaryDirectory() as scratch:
        old = baseline_module(config.baseline, scratch) if config.baseline else None
        print(f"{'width':>6} {'now':>7}" + (f" {config.baseline:>9} {'speed-up':>8}" if old else ""))
        for width in [int(w) for w in config.widths.split(",")]:
            train, heldout = (inputs(rng, width, config.positions, config.l0) for _ in range(2))
            result, seconds = timed_summary(concept_summary, train, heldout)
            line = f"{width:6d} {seconds:7.2f}"
            if old:
                old_result, old_seconds = timed_summary(old.concept_summary, train, heldout)
                differ = [k for k in result if not k.startswith("reconstruction")
                          and not np.isclose(result[k], old_result[k], rtol=1e-5, atol=1e-6)]
                if differ:
                    raise SystemExit(f"the versions disagree on {', '.join(differ)}")
                line += f" {old_seconds:9.2f} {old_seconds / seconds:7.1f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
