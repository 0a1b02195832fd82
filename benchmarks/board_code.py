"""How the board sits in the layer-2 residual stream: the share of the stream's variance that is
a linear function of the discs (each square mine / theirs as a 0/1 input), fitted by least
squares on training positions and scored on held-out ones; how many of the 256 neurons are
active on a position; how many discs a position has, and how many of the board concepts the
SAEs are scored on hold on it. A dense linear code of ~23 discs is what an SAE with L0 <= 40
must spend its latents on (docs/saes.md, "Why coverage and board reconstruction stop short").

    python benchmarks/board_code.py [--positions 50000]
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.concepts import concept_matrix, quantile_cuts, scalar_values  # noqa: E402
from sae.activations import load_activations, resid_field  # noqa: E402
from sae.concept_data import sample_rows  # noqa: E402
from sae.concepts import concept_groups  # noqa: E402


@dataclass
class BoardCodeConfig:
    """Measure how much of the residual stream is a linear code of the discs."""

    activations: str = "runs/activations"
    """folder written by othello/collect_activations.py"""
    layer: int = 2
    """residual-stream layer"""
    positions: int = 50_000
    """positions of each split used (the fit on train, the score on held-out)"""
    seed: int = 0
    """picks the positions"""

    def __post_init__(self):
        require_at_least(self, 1, "positions")


def disc_inputs(boards):
    """(N, 2 * squares + 1): my discs, their discs (0/1 each) and a constant."""
    boards = np.asarray(boards)
    return np.concatenate([boards == 1, boards == -1, np.ones((len(boards), 1))], axis=1).astype(np.float64)


def linear_share(train_boards, train_x, heldout_boards, heldout_x):
    """1 - held-out residual variance / held-out variance of the least-squares fit x ~ discs."""
    weights, *_ = np.linalg.lstsq(disc_inputs(train_boards), np.asarray(train_x, np.float64), rcond=None)
    heldout_x = np.asarray(heldout_x, np.float64)
    residual = heldout_x - disc_inputs(heldout_boards) @ weights
    return 1 - residual.var(axis=0).sum() / heldout_x.var(axis=0).sum()


def concepts_per_position(boards, last_move, flipped):
    """(total, {group: mean count}): how many of the board concepts (sae/concepts.py's, less the
    model's own: its move and value sign) hold on a position, all and by group."""
    rules = bitboard_rules(int(round(np.asarray(boards).shape[1] ** 0.5)))
    mine, theirs = rules.from_boards(np.asarray(boards))
    names, concepts = concept_matrix(rules, mine, theirs, np.asarray(last_move),
                                     quantile_cuts(scalar_values(rules, mine, theirs)), flipped=np.asarray(flipped))
    groups = concept_groups(names)
    groups["scalars"] = [i for i, name in enumerate(names) if ":" not in name]
    counts = {group: float(concepts[:, columns].sum(axis=1).mean()) for group, columns in groups.items()}
    return float(concepts.sum(axis=1).mean()), counts, len(names)


def main(argv=None):
    config = parse_config(BoardCodeConfig, argv)
    field = resid_field(config.layer)
    rng = np.random.default_rng(config.seed)
    splits = {}
    for split in ("train", "heldout"):
        arrays = load_activations(config.activations, split, ["boards", "last_move", "flipped", field])
        rows = sample_rows(len(arrays["boards"]), config.positions, rng)
        splits[split] = np.asarray(arrays["boards"][rows]), np.asarray(arrays[field][rows])
        if split == "heldout":
            held = {name: np.asarray(arrays[name][rows]) for name in ("boards", "last_move", "flipped")}
    share = linear_share(*splits["train"], *splits["heldout"])
    boards, x = splits["heldout"]
    print(f"layer {config.layer}, {len(x):,} held-out positions: {share:.3f} of the stream's variance is linear in "
          f"the discs; {(x > 0).sum(axis=1).mean():.0f} of {x.shape[1]} neurons active per position; discs per "
          f"position: mine {(boards == 1).sum(axis=1).mean():.1f}, theirs {(boards == -1).sum(axis=1).mean():.1f}")
    total, counts, n_concepts = concepts_per_position(**held)
    print(f"board concepts holding per position: {total:.1f} of {n_concepts} ("
          + ", ".join(f"{group} {count:.1f}" for group, count in counts.items()) + ")")


if __name__ == "__main__":
    main()
