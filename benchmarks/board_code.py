"""How the board sits in the layer-2 residual stream: the share of the stream's variance that is
a linear function of the discs (each square mine / theirs as a 0/1 input), fitted by least
squares on training positions and scored on held-out ones; how many of the 256 neurons are
active on a position; how many discs a position has, and how many of the board concepts the
SAEs are scored on hold on it. A dense linear code of ~23 discs is what an SAE with L0 <= 40
must spend its latents on (docs/saes.md, "Why coverage and board reconstruction stop short").

It also scores the board concepts as a dictionary: each concept a fixed direction, added where
the concept holds (the best such directions, by least squares), so that its FVE and L0 (the
concepts holding per position) sit on the SAEs' axes. An SAE whose latents were these concepts
would reconstruct the stream this well at this L0.

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
    """(N, 2 * squares): my discs, their discs (0/1 each)."""
    boards = np.asarray(boards)
    return np.concatenate([boards == 1, boards == -1], axis=1)


def linear_share(train_inputs, train_x, heldout_inputs, heldout_x):
    """1 - held-out residual variance / held-out variance of the least-squares fit x ~ inputs
    (N, k) and a constant: the FVE of the best decoder for these codes."""
    with_constant = lambda inputs: np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1).astype(np.float64)  # noqa: E731
    weights, *_ = np.linalg.lstsq(with_constant(train_inputs), np.asarray(train_x, np.float64), rcond=None)
    heldout_x = np.asarray(heldout_x, np.float64)
    residual = heldout_x - with_constant(heldout_inputs) @ weights
    return 1 - residual.var(axis=0).sum() / heldout_x.var(axis=0).sum()


def board_concepts(boards, last_move, flipped, cuts=None):
    """(names, (N, C) bool, cuts): the board concepts (sae/concepts.py's, less the model's own:
    its move and value sign), the scalars cut at `cuts` (default: this set's quantiles)."""
    rules = bitboard_rules(int(round(np.asarray(boards).shape[1] ** 0.5)))
    mine, theirs = rules.from_boards(np.asarray(boards))
    cuts = quantile_cuts(scalar_values(rules, mine, theirs)) if cuts is None else cuts
    names, concepts = concept_matrix(rules, mine, theirs, np.asarray(last_move), cuts, flipped=np.asarray(flipped))
    return names, concepts, cuts


def by_group(names):
    """concept_groups(names), and the scalar concepts as "scalars"."""
    return {**concept_groups(names), "scalars": [i for i, name in enumerate(names) if ":" not in name]}


def concepts_per_position(boards, last_move, flipped):
    """(total, {group: mean count}, concepts): how many of the board concepts hold on a
    position, all and by group."""
    names, concepts, _ = board_concepts(boards, last_move, flipped)
    counts = {group: float(concepts[:, columns].sum(axis=1).mean()) for group, columns in by_group(names).items()}
    return float(concepts.sum(axis=1).mean()), counts, len(names)


# The concept dictionaries scored: the discs, with the legal moves, and every board concept
DICTIONARIES = {"discs": ("mine", "theirs"), "discs and legal moves": ("mine", "theirs", "legal"), "every concept": None}


def concept_dictionaries(train, heldout):
    """{dictionary: (FVE, L0)} on held-out positions; `train` and `heldout` are (boards,
    last_move, flipped, x) each."""
    names, train_concepts, cuts = board_concepts(*train[:3])
    _, heldout_concepts, _ = board_concepts(*heldout[:3], cuts=cuts)
    groups, scores = by_group(names), {}
    for name, members in DICTIONARIES.items():
        columns = np.arange(len(names)) if members is None else np.concatenate([groups[g] for g in members])
        share = linear_share(train_concepts[:, columns], train[3], heldout_concepts[:, columns], heldout[3])
        scores[name] = share, float(heldout_concepts[:, columns].sum(axis=1).mean())
    return scores


def main(argv=None):
    config = parse_config(BoardCodeConfig, argv)
    field = resid_field(config.layer)
    rng = np.random.default_rng(config.seed)
    splits = {}
    for split in ("train", "heldout"):  # (boards, last_move, flipped, x) each
        arrays = load_activations(config.activations, split, ["boards", "last_move", "flipped", field])
        rows = sample_rows(len(arrays["boards"]), config.positions, rng)
        splits[split] = tuple(np.asarray(arrays[name][rows]) for name in ("boards", "last_move", "flipped", field))
    (train_boards, *_, train_x), (boards, last_move, flipped, x) = splits["train"], splits["heldout"]
    share = linear_share(disc_inputs(train_boards), train_x, disc_inputs(boards), x)
    print(f"layer {config.layer}, {len(x):,} held-out positions: {share:.3f} of the stream's variance is linear in "
          f"the discs; {(x > 0).sum(axis=1).mean():.0f} of {x.shape[1]} neurons active per position; discs per "
          f"position: mine {(boards == 1).sum(axis=1).mean():.1f}, theirs {(boards == -1).sum(axis=1).mean():.1f}")
    total, counts, n_concepts = concepts_per_position(boards, last_move, flipped)
    print(f"board concepts holding per position: {total:.1f} of {n_concepts} ("
          + ", ".join(f"{group} {count:.1f}" for group, count in counts.items()) + ")")
    print("the board concepts as a dictionary (a least-squares direction each, on where it holds): "
          + "; ".join(f"{name}: FVE {fve:.3f} at L0 {l0:.1f}"
                      for name, (fve, l0) in concept_dictionaries(splits["train"], splits["heldout"]).items()))


if __name__ == "__main__":
    main()
