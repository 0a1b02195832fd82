"""Board concepts on hand-made positions (side to move: X)."""
import numpy as np
import pytest

from othello.bitboard import bitboard_rules
from othello.concepts import (SQUARE_CONCEPTS, concept_matrix, quantile_cuts, scalar_concepts, scalar_values,
                              square_concepts, stable_discs)
from othello.squares import parse_square
from tests.conftest import random_positions

RULES = bitboard_rules(6)


def position(*rows):
    """Bitboards (mine, theirs) from six rows of 'X' (side to move), 'O' and '.'."""
    flat = "".join(rows)
    assert len(flat) == 36
    board = np.array([{"X": 1, "O": -1}.get(c, 0) for c in flat])
    mine, theirs = RULES.from_boards(board[None])
    return mine, theirs


def squares(concept_row):
    return sorted(np.flatnonzero(concept_row).tolist())


def names(*names):
    return sorted(parse_square(name) for name in names)


def test_start_position():
    mine, theirs = RULES.from_boards(np.array([[0] * 14 + [-1, 1, 0, 0, 0, 0, 1, -1] + [0] * 14]))
    concepts = square_concepts(RULES, mine, theirs)
    assert set(concepts) == set(SQUARE_CONCEPTS)
    assert squares(concepts["mine"][0]) == names("d3", "c4")
    assert squares(concepts["legal"][0]) == names("c2", "b3", "e4", "d5")  # black's four openings
    assert squares(concepts["opponent_legal"][0]) == names("d2", "e3", "b4", "c5")
    assert not concepts["stable_mine"].any() and not concepts["stable_theirs"].any()
    assert squares(concepts["frontier_mine"][0]) == names("d3", "c4")  # every disc touches an empty square
    assert not concepts["last_move"].any()


def test_corners_and_anchored_edges_are_stable():
    mine, theirs = position("XXO..X",
                            "X.....",
                            "......",
                            "......",
                            "O.....",
                            "XO....")
    stable = square_concepts(RULES, mine, theirs)
    assert squares(stable["stable_mine"][0]) == names("a1", "b1", "a2", "f1", "a6")
    # c1 (between b1 and an empty d1: X at d1 flips it), a5 and b6 (next to empties along an
    # edge, anchored only by discs of the other colour) can all still be flipped.
    assert squares(stable["stable_theirs"][0]) == []


def test_a_full_line_makes_its_discs_stable_along_that_axis_only():
    # Row 3 is full, but every disc in it can still be flipped along another axis, except where
    # the other three axes are anchored too: none here.
    mine, theirs = position("......",
                            "......",
                            "XOXOXO",
                            "......",
                            "......",
                            "......")
    assert squares(RULES.unpack(stable_discs(RULES, mine, theirs))[0]) == []
    # A full board: everything is stable.
    mine, theirs = position(*["XOXOXO"] * 6)
    concepts = square_concepts(RULES, mine, theirs)
    assert concepts["stable_mine"].sum() == 18 and concepts["stable_theirs"].sum() == 18
    assert not concepts["frontier_mine"].any()


def test_stable_discs_are_never_flipped_in_random_games(game):
    # Soundness on real play: a disc marked stable keeps its colour for the rest of the game.
    positions = random_positions(game, 400, seed=3)
    for (board, player), (later, later_player) in zip(positions, positions[1:]):
        if np.abs(later).sum() <= np.abs(board).sum():  # a new game started
            continue
        mine, theirs = RULES.from_boards((board * player)[None])
        stable = RULES.unpack(stable_discs(RULES, mine, theirs))[0].astype(bool)
        flat, flat_later = (board * player).ravel(), (later * player).ravel()
        assert (flat_later[stable] == flat[stable]).all()


def after_c5():
    """O has just played c5, flipping c4 (it was X's, bracketed by O's c3)."""
    return position("......",
                    "......",
                    "..OX..",
                    "..OO..",
                    "..O...",
                    "......")


def test_last_move_and_scalars():
    mine, theirs = after_c5()
    concepts = square_concepts(RULES, mine, theirs, last_move=np.array([parse_square("c5")]))
    assert squares(concepts["last_move"][0]) == names("c5")
    values = scalar_values(RULES, mine, theirs)
    assert values["disc_difference"][0] == 1 - 4 and values["empties"][0] == 31
    assert values["mobility"][0] == len(squares(concepts["legal"][0]))
    passed = square_concepts(RULES, mine, theirs, last_move=np.array([36]))
    assert not passed["last_move"].any()


def test_scalar_concepts_at_quantiles():
    values = {"mobility": np.array([1, 2, 3, 4, 5, 6, 7, 8])}
    cuts = quantile_cuts(values, (0.5,))
    assert cuts == {"mobility": [4.5]}
    binary = scalar_concepts(values, cuts)
    assert list(binary) == ["mobility>=4.5"] and binary["mobility>=4.5"].sum() == 4


def test_flipped_and_model_outputs_in_the_concept_matrix():
    mine, theirs = after_c5()
    flipped = np.zeros((1, 36), bool)
    flipped[0, parse_square("c4")] = True
    cuts = quantile_cuts(scalar_values(RULES, mine, theirs))
    names_, matrix = concept_matrix(RULES, mine, theirs, np.array([parse_square("c5")]), cuts, flipped=flipped,
                                    best_move=np.array([parse_square("b2")]), value=np.array([-0.3]))
    on = {names_[i] for i in np.flatnonzero(matrix[0])}
    assert {"last_move:c5", "flipped:c4", "best_move:b2"} <= on
    assert not any(name.startswith("flipped:") and name != "flipped:c4" for name in on)
    assert "value>0" in names_ and "value>0" not in on
    without_model, _ = concept_matrix(RULES, mine, theirs, np.array([-1]), cuts)
    assert not any(name.startswith("best_move") or name == "value>0" for name in without_model)
