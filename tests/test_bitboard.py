"""The batched bitboard core: perft against the independent reference table, and exact
agreement with the per-board contract methods and with the plain reference rules."""
import numpy as np
import pytest

from othello.bitboard import bitboard_rules, popcount
from othello.OthelloGame import OthelloGame
from tests.conftest import random_positions
from tests.reference_rules import legal_squares
from tests.reference_rules import play as reference_play


def batched_perft(rules, max_depth):
    """Both perft tables of perft6.json, computed level by level over whole batches:
    `counts` drops lines whose game ended early, `ended_as_leaves` counts each once."""
    mine, theirs = np.array([rules.start_mine], np.uint64), np.array([rules.start_theirs], np.uint64)
    counts, ended_as_leaves, ended_so_far = {}, {}, 0
    for depth in range(1, max_depth + 1):
        mask = rules.action_mask(mine, theirs)  # (B, A); all zero where the game is over
        ended_so_far += int((mask.sum(axis=1) == 0).sum())
        board_index, action = np.nonzero(mask)
        mine, theirs = rules.next_position(mine[board_index], theirs[board_index], action)
        counts[depth] = len(mine)
        ended_as_leaves[depth] = len(mine) + ended_so_far
    return counts, ended_as_leaves


def test_perft_matches_reference_counts(perft_reference):
    counts, ended_as_leaves = batched_perft(bitboard_rules(6), 10)
    for depth in range(1, 11):
        assert counts[depth] == perft_reference["counts"][str(depth)], depth
        assert ended_as_leaves[depth] == perft_reference["counts_with_ended_games_as_leaves"][str(depth)], depth


def test_perft_8x8_matches_published_counts():
    # Standard 8x8 Othello perft (published widely; no early game ends at these depths).
    counts, _ = batched_perft(bitboard_rules(8), 6)
    assert [counts[d] for d in range(1, 7)] == [4, 12, 56, 244, 1396, 8200]


def contract_perft(game, board, player, depth):
    if depth == 0:
        return 1
    if game.getGameEnded(board, player):
        return 0
    return sum(contract_perft(game, *game.getNextState(board, player, int(a)), depth - 1)
               for a in np.flatnonzero(game.getValidMoves(board, player)))


def test_contract_methods_perft(game, perft_reference):
    for depth in range(1, 6):
        assert contract_perft(game, game.getInitBoard(), 1, depth) == perft_reference["counts"][str(depth)]


@pytest.mark.parametrize("n", [4, 6, 8])
def test_batched_api_equals_contract_methods(n):
    game, rules = OthelloGame(n), bitboard_rules(n)
    positions = random_positions(game, 3000 if n == 6 else 800, seed=n)
    canonical = np.stack([game.getCanonicalForm(b, p) for b, p in positions])
    mine, theirs = rules.from_boards(canonical)
    masks = rules.action_mask(mine, theirs)
    over = rules.is_over(mine, theirs)
    rng = np.random.default_rng(0)
    actions = np.array([rng.choice(np.flatnonzero(m)) if m.any() else n * n for m in masks])
    next_boards = rules.to_boards(*rules.next_position(mine, theirs, actions))
    for i, (board, player) in enumerate(positions):
        np.testing.assert_array_equal(masks[i], game.getValidMoves(board, player))
        assert over[i] == (game.getGameEnded(board, player) != 0)
        if not over[i]:
            expected, next_player = game.getNextState(board, player, int(actions[i]))
            # The batch returns the next side to move's canonical board.
            np.testing.assert_array_equal(next_boards[i], game.getCanonicalForm(expected, next_player))


def test_contract_methods_equal_plain_reference_rules(game):
    for board, player in random_positions(game, 2000, seed=1):
        legal = legal_squares(board, player)
        valid = game.getValidMoves(board, player)
        assert list(np.flatnonzero(valid[:-1])) == legal
        for action in legal:
            np.testing.assert_array_equal(game.getNextState(board, player, action)[0],
                                          reference_play(board, player, action))


def test_board_conversions_round_trip(game):
    boards = np.stack([game.getCanonicalForm(b, p) for b, p in random_positions(game, 500, seed=2)])
    rules = game.rules
    mine, theirs = rules.from_boards(boards)
    np.testing.assert_array_equal(rules.to_boards(mine, theirs), boards)
    np.testing.assert_array_equal(rules.pack(rules.unpack(mine)), mine)
    np.testing.assert_array_equal(popcount(mine), (boards == 1).reshape(len(boards), -1).sum(axis=1))


def test_game_over_with_empty_squares():
    rules = bitboard_rules(6)
    a1, f6 = 1 << 0, 1 << 35
    assert rules.is_over(a1, f6) and rules.action_mask(a1, f6).sum() == 0


def test_forced_pass_is_the_only_action_and_swaps_sides():
    rules = bitboard_rules(6)
    a1, b1, c1 = 1 << 0, 1 << 1, 1 << 2
    assert rules.legal_moves(a1, b1) == c1  # a1 mine, b1 theirs: c1 brackets b1
    mask = rules.action_mask(b1, a1)  # the b1 side to move cannot bracket a1 on the edge
    assert mask[-1] == 1 and mask[:-1].sum() == 0
    assert rules.next_position(b1, a1, 36) == (a1, b1)
    assert rules.flips(a1, b1, c1) == b1
