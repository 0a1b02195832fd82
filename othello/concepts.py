"""Board concepts: binary properties of positions that a feature might stand for, from the side
to move's point of view, computed for a whole batch of bitboards at once (numpy only).

Per square (each a (B, n*n) bool array):
    mine, theirs, empty          who holds the square
    legal, opponent_legal        a legal move for the side to move / for the opponent
    last_move                    the opponent's move that led here (where known)
    flipped                      the discs that move flipped (where known)
    stable_mine, stable_theirs   discs that can never be flipped again
    frontier_mine, ...theirs     discs next to an empty square (in any of the 8 directions)
Per position, binarised at quantiles of a reference set (`scalar_concepts`):
    mobility (legal moves), disc_difference (mine - theirs), empties (the game phase)
The model's own outputs, when given (`model_concepts`):
    best_move:<square>           the move its search plays
    value>0                      its value head expects the side to move to win

Stability is the standard conservative test, iterated to a fixed point: a disc is stable when,
along each of the four axes through it, the line is full, or one of its two neighbours on that
axis is off the board or a stable disc of the same colour. Every disc it marks is stable; a
few stable discs in unusual shapes may go unmarked.
"""
import numpy as np

from othello.bitboard import popcount
from othello.squares import square_name

SQUARE_CONCEPTS = ("mine", "theirs", "empty", "legal", "opponent_legal", "last_move", "flipped", "stable_mine",
                   "stable_theirs", "frontier_mine", "frontier_theirs")
SCALARS = ("mobility", "disc_difference", "empties")
# Indices into BitboardRules.directions (E, W, S, N, SE, SW, NE, NW): the four axes as pairs of
# opposite directions.
AXES = ((0, 1), (2, 3), (4, 7), (5, 6))
OPPOSITE = {d: e for a, b in AXES for d, e in ((a, b), (b, a))}


def _shift(rules, x, direction):
    shift, mask = rules.directions[direction]
    return rules._shift(x, shift, mask)


def full_lines(rules, occupied):
    """Per axis (4 of them), the squares whose whole line along that axis is occupied."""
    reach = []  # per direction: occupied squares from which every square up to the edge is occupied
    for d in range(8):
        has_neighbour = _shift(rules, np.uint64(rules.full), OPPOSITE[d])
        run = occupied & ~has_neighbour
        for _ in range(rules.n):
            run = occupied & (~has_neighbour | _shift(rules, run, OPPOSITE[d]))
        reach.append(run)
    return [reach[d] & reach[e] for d, e in AXES]


def stable_discs(rules, own, other):
    """Bitboards of the `own` discs that can never be flipped (see the module docstring)."""
    own, other = np.asarray(own, np.uint64), np.asarray(other, np.uint64)
    full = full_lines(rules, own | other)
    off_board = [~_shift(rules, np.uint64(rules.full), OPPOSITE[d]) & np.uint64(rules.full) for d in range(8)]
    stable = np.zeros_like(own)
    for _ in range(rules.num_squares):
        anchored = own.copy()
        for axis, (d, e) in enumerate(AXES):
            # s is anchored on this axis if its d-neighbour (or e-neighbour) is off the board or stable:
            # shifting the stable set by the opposite direction lands on the squares next to it.
            side_d = off_board[d] | _shift(rules, stable, e)
            side_e = off_board[e] | _shift(rules, stable, d)
            anchored &= full[axis] | side_d | side_e
        if np.array_equal(anchored, stable):
            break
        stable = anchored
    return stable


def frontier(rules, own, empty):
    """`own` discs with an empty neighbour."""
    near_empty = np.zeros_like(own)
    for d in range(8):
        near_empty |= _shift(rules, empty, d)
    return own & near_empty


def unpack(rules, bitboards):
    """(B,) uint64 -> (B, n*n) bool."""
    return rules.unpack(np.asarray(bitboards, np.uint64)).astype(bool)


def square_concepts(rules, mine, theirs, last_move=None, flipped=None):
    """{name: (B, n*n) bool} for the SQUARE_CONCEPTS; `last_move` (B,) actions (-1: unknown,
    the pass: no square) or None; `flipped` (B, n*n) the discs it flipped, or None."""
    mine, theirs = np.asarray(mine, np.uint64), np.asarray(theirs, np.uint64)
    empty = ~(mine | theirs) & np.uint64(rules.full)
    boards = {"mine": mine, "theirs": theirs, "empty": empty,
              "legal": rules.legal_moves(mine, theirs), "opponent_legal": rules.legal_moves(theirs, mine),
              "stable_mine": stable_discs(rules, mine, theirs), "stable_theirs": stable_discs(rules, theirs, mine),
              "frontier_mine": frontier(rules, mine, empty), "frontier_theirs": frontier(rules, theirs, empty)}
    concepts = {name: unpack(rules, board) for name, board in boards.items()}
    last = np.zeros((len(mine), rules.num_squares), bool)
    if last_move is not None:
        last_move = np.asarray(last_move)
        placed = (last_move >= 0) & (last_move < rules.num_squares)
        last[np.flatnonzero(placed), last_move[placed]] = True
    concepts["last_move"] = last
    concepts["flipped"] = np.zeros_like(last) if flipped is None else np.asarray(flipped, bool)
    return {name: concepts[name] for name in SQUARE_CONCEPTS}


def scalar_values(rules, mine, theirs):
    """{name: (B,) int} for the SCALARS."""
    mine, theirs = np.asarray(mine, np.uint64), np.asarray(theirs, np.uint64)
    return {"mobility": popcount(rules.legal_moves(mine, theirs)),
            "disc_difference": popcount(mine) - popcount(theirs),
            "empties": rules.num_squares - popcount(mine | theirs)}


def scalar_concepts(values, cuts):
    """{f"{name}>={cut}": (B,) bool} for each scalar and each of its cut points."""
    return {f"{name}>={cut:g}": values[name] >= cut for name in values for cut in cuts[name]}


def quantile_cuts(values, quantiles=(0.25, 0.5, 0.75)):
    """Cut points of each scalar at quantiles of a reference set (distinct values only)."""
    return {name: sorted({float(np.quantile(v, q)) for q in quantiles}) for name, v in values.items()}


def model_concepts(num_squares, best_move, value):
    """{name: (B, n*n) or (B,) bool}: the square the model's search plays (`best_move` (B,)
    actions; a pass marks no square) and whether its value (B,) is positive."""
    best_move = np.asarray(best_move)
    best = np.zeros((len(best_move), num_squares), bool)
    on_board = np.flatnonzero((best_move >= 0) & (best_move < num_squares))
    best[on_board, best_move[on_board]] = True
    return {"best_move": best, "value>0": np.asarray(value) > 0}


def concept_matrix(rules, mine, theirs, last_move, cuts, flipped=None, best_move=None, value=None):
    """(names, (B, C) bool): every square concept as "<concept>:<square>", every scalar at its
    cut points (from `quantile_cuts` on a reference set, so train and held-out agree) and, when
    `best_move` and `value` are given, the model's outputs (`model_concepts`)."""
    squares = square_concepts(rules, mine, theirs, last_move, flipped)
    scalars = scalar_concepts(scalar_values(rules, mine, theirs), cuts)
    square_names = [square_name(i, rules.n) for i in range(rules.num_squares)]
    names = [f"{concept}:{square}" for concept in SQUARE_CONCEPTS for square in square_names] + list(scalars)
    columns = [squares[concept] for concept in SQUARE_CONCEPTS] + [np.stack(list(scalars.values()), axis=1)]
    if best_move is not None and value is not None:
        model = model_concepts(rules.num_squares, best_move, value)
        names += [f"best_move:{square}" for square in square_names] + ["value>0"]
        columns += [model["best_move"], model["value>0"][:, None]]
    return names, np.concatenate(columns, axis=1)
