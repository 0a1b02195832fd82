"""The alpha-zero-general game contract: start, moves, flips, passes, game end, draws and
symmetries, with property-based tests over random games."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from othello.OthelloGame import DRAW, OthelloGame, render
from othello.squares import parse_square, square_name


def test_start_position_and_sizes(game):
    board = game.getInitBoard()
    assert game.getBoardSize() == (6, 6) and game.getActionSize() == 37
    assert board[2, 2] == board[3, 3] == -1  # white on c3 and d4
    assert board[2, 3] == board[3, 2] == 1  # black on d3 and c4
    assert np.abs(board).sum() == 4
    legal = [square_name(a) for a in np.flatnonzero(game.getValidMoves(board, 1))]
    assert legal == ["c2", "b3", "e4", "d5"]


@pytest.mark.parametrize("n", [4, 6, 8])
def test_any_even_size_starts_correctly(n):
    game = OthelloGame(n)
    board, h = game.getInitBoard(), n // 2
    assert board[h - 1, h - 1] == board[h, h] == -1 and board[h - 1, h] == board[h, h - 1] == 1
    assert game.getValidMoves(board, 1).sum() == 4


@pytest.mark.parametrize("n", [3, 5, 10])
def test_bad_board_size_is_rejected(n):
    with pytest.raises(ValueError, match="even"):
        OthelloGame(n)


def test_flips_exact_in_all_directions(game):
    # Black on d4 surrounded: white rings it, black discs two away in all 8 directions.
    board = np.zeros((6, 6), np.int8)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                board[3 + dr, 3 + dc] = -1
                board[3 + 2 * dr, 3 + 2 * dc] = 1
    board[3, 3] = 0
    after, next_player = game.getNextState(board, 1, parse_square("d4"))
    assert next_player == -1
    assert (after == -1).sum() == 0 and (after == 1).sum() == 17


def test_illegal_move_raises_with_legal_moves(game):
    with pytest.raises(ValueError, match="a1 is not a legal move.*c2, b3, e4, d5"):
        game.getNextState(game.getInitBoard(), 1, parse_square("a1"))
    with pytest.raises(ValueError, match="pass is not a legal move"):
        game.getNextState(game.getInitBoard(), 1, 36)


def test_win_loss_and_draw(game):
    board = np.ones((6, 6), np.int8)
    board[:, :3] = -1  # full board, 18-18
    assert game.getGameEnded(board, 1) == DRAW and game.getGameEnded(board, -1) == DRAW
    board[0, 0] = 1  # 19-17 for black
    assert game.getGameEnded(board, 1) == 1 and game.getGameEnded(board, -1) == -1
    assert game.getScore(board, 1) == 2 and game.getScore(board, -1) == -2
    sparse = np.zeros((6, 6), np.int8)
    sparse[0, 0], sparse[5, 5] = 1, -1  # nobody can move: a 1-1 draw with empties left
    assert game.getGameEnded(sparse, -1) == DRAW
    assert game.getGameEnded(game.getInitBoard(), 1) == 0


def test_canonical_form_and_string_representation(game):
    board = game.getInitBoard()
    np.testing.assert_array_equal(game.getCanonicalForm(board, -1), -board)
    assert game.stringRepresentation(board) != game.stringRepresentation(-board)
    assert game.stringRepresentation(board) == game.stringRepresentation(board.copy())


def test_render_shows_square_names_and_legal_moves(game):
    board = game.getInitBoard()
    text = render(board, game.getValidMoves(board, 1))
    assert text.splitlines()[0].split() == list("abcdef")
    assert text.splitlines()[2].split() == ["2", ".", ".", "*", ".", ".", "."]  # c2 legal
    assert "X (black) 2 - O (white) 2" in text


def test_symmetries_carry_the_policy_with_the_board(game):
    rng = np.random.default_rng(0)
    board = rng.integers(-1, 2, (6, 6)).astype(np.int8)
    pi = rng.random(37)
    symmetries = game.getSymmetries(board, pi)
    assert len(symmetries) == 8
    assert len({b.tobytes() for b, _ in symmetries}) == 8  # a random board has no symmetry
    for new_board, new_pi in symmetries:
        assert new_pi[-1] == pi[-1]
        # the probability stays on the same square's content: compare the paired multisets
        pairs = sorted(zip(board.ravel(), pi[:-1]))
        assert sorted(zip(new_board.ravel(), new_pi[:-1])) == pairs


def play_random_game(game, choices):
    """Follow `choices` (an index into the legal moves, modulo their number) from the start,
    checking the per-move invariants; returns the positions visited."""
    board, player, visited = game.getInitBoard(), 1, []
    for choice in choices:
        if game.getGameEnded(board, player):
            break
        valid = game.getValidMoves(board, player)
        legal = np.flatnonzero(valid)
        assert valid[-1] == (len(legal) == 1 and legal[0] == 36)  # pass only when forced
        action = int(legal[choice % len(legal)])
        after, next_player = game.getNextState(board, player, action)
        assert next_player == -player
        mine_before, mine_after = (board == player).sum(), (after == player).sum()
        theirs_before, theirs_after = (board == -player).sum(), (after == -player).sum()
        if action == 36:
            np.testing.assert_array_equal(after, board)
        else:
            flipped = mine_after - mine_before - 1
            assert flipped >= 1  # a real move flips something...
            assert theirs_after == theirs_before - flipped  # ...exactly what the mover gained
            changed = np.flatnonzero((after != board).ravel())
            assert action in changed and len(changed) == flipped + 1
        visited.append((board, player))
        board, player = after, next_player
    visited.append((board, player))
    return visited


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=70, max_size=70))
def test_random_games_keep_the_invariants(choices):
    game = OthelloGame(6)
    visited = play_random_game(game, choices)
    board, player = visited[-1]
    result = game.getGameEnded(board, player)
    assert result != 0  # 70 plies always finish a 6x6 game (32 moves plus passes)
    assert np.sum(game.getValidMoves(board, player)) == 0
    diff = game.getScore(board, player)
    assert result == (1 if diff > 0 else -1 if diff < 0 else DRAW)
    assert game.getGameEnded(board, -player) == (-result if diff else DRAW)


def transform(board, turns, flip):
    out = np.rot90(board, turns)
    return np.fliplr(out) if flip else out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40), st.integers(0, 3), st.booleans())
def test_legal_moves_are_symmetry_equivariant(choices, turns, flip):
    game = OthelloGame(6)
    board, player = play_random_game(game, choices)[-1]
    valid = game.getValidMoves(board, player)
    moved = game.getValidMoves(transform(board, turns, flip), player)
    np.testing.assert_array_equal(moved[:-1].reshape(6, 6), transform(valid[:-1].reshape(6, 6), turns, flip))
    assert moved[-1] == valid[-1]


def test_symmetry_permutations_match_get_symmetries(game):
    rng = np.random.default_rng(1)
    board, pi = rng.integers(-1, 2, (6, 6)).astype(np.int8), rng.random(37)
    for perm, (new_board, new_pi) in zip(game.symmetry_permutations(), game.getSymmetries(board, pi)):
        np.testing.assert_array_equal(board.ravel()[perm[:36]], new_board.ravel())
        np.testing.assert_array_equal(pi[perm], new_pi)
