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


# --- the contract driven as alpha-zero-general's Coach, Arena and MCTS drive it: actions come
# from numpy (np.flatnonzero, np.argmax, np.random.choice), so they are numpy integers ---

def contract_perft(game, board, player, depth):
    """Move sequences of exactly `depth` plies through the contract methods alone, keeping the
    board's dtype; lines that end sooner count for nothing (perft6.json's "counts")."""
    if depth == 0:
        return 1
    if game.getGameEnded(board, player):
        return 0
    total = 0
    for action in np.flatnonzero(game.getValidMoves(board, player)):  # numpy int64 actions
        next_board, next_player = game.getNextState(board, player, action)
        total += contract_perft(game, next_board.astype(board.dtype), next_player, depth - 1)
    return total


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.float32, np.float64])
def test_perft_6_through_the_contract_with_numpy_actions(game, perft_reference, dtype):
    assert contract_perft(game, game.getInitBoard().astype(dtype), np.int64(1), 6) == perft_reference["counts"]["6"]


@pytest.mark.parametrize("kind", [np.int8, np.uint8, np.int32, np.int64, np.intp])
def test_numpy_actions_and_players_give_what_python_ints_give(game, kind):
    rng = np.random.default_rng(0)
    board, player = game.getInitBoard(), 1
    while not game.getGameEnded(board, player):
        action = int(rng.choice(np.flatnonzero(game.getValidMoves(board, player))))
        expected, expected_player = game.getNextState(board, player, action)
        np_player = np.int64(player) if kind is np.uint8 else kind(player)  # -1 has no uint8
        got, got_player = game.getNextState(board.astype(np.float64), np_player, kind(action))
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int8 and got_player == expected_player and type(got_player) is int
        np.testing.assert_array_equal(game.getValidMoves(board, np_player), game.getValidMoves(board, player))
        assert game.getScore(board, np_player) == game.getScore(board, player)
        np.testing.assert_array_equal(game.getCanonicalForm(board, np_player), game.getCanonicalForm(board, player))
        board, player = expected, expected_player
    assert game.getGameEnded(board, np.int64(player)) == game.getGameEnded(board, player) != 0


def test_bad_actions_players_and_boards_are_clear_errors(game):
    board = game.getInitBoard()
    with pytest.raises(ValueError, match="action must be a square 0..35 or the pass 36, got 37"):
        game.getNextState(board, 1, 37)
    with pytest.raises(ValueError, match="got -1"):  # not the pass by negative indexing
        game.getNextState(board, 1, np.int64(-1))
    with pytest.raises(TypeError, match="action must be a Python or numpy integer, got float"):
        game.getNextState(board, 1, 8.0)
    with pytest.raises(ValueError, match="player must be 1 .black. or -1 .white., got 2"):
        game.getValidMoves(board, 2)
    with pytest.raises(ValueError, match="a board must have 6x6 squares, got shape .5, 5."):
        game.getValidMoves(np.zeros((5, 5)), 1)


class UniformMCTS:
    """alpha-zero-general's MCTS (MCTS.py) with a network that returns a uniform policy and a
    zero value: the same calls on the game, in the same order, with states keyed by
    stringRepresentation and the canonical board passed down."""

    def __init__(self, game, num_simulations=8, c_puct=1.0):
        self.game, self.num_simulations, self.c_puct = game, num_simulations, c_puct
        self.Qsa, self.Nsa, self.Ns, self.Ps, self.Es, self.Vs = {}, {}, {}, {}, {}, {}

    def getActionProb(self, canonicalBoard, temp=1):
        for _ in range(self.num_simulations):
            self.search(canonicalBoard)
        s = self.game.stringRepresentation(canonicalBoard)
        counts = np.array([self.Nsa.get((s, a), 0) for a in range(self.game.getActionSize())], np.float64)
        if temp == 0:
            best = np.random.choice(np.array(np.argwhere(counts == np.max(counts))).flatten())
            probs = [0] * len(counts)
            probs[best] = 1
            return probs
        return list(counts / counts.sum())

    def search(self, canonicalBoard):
        s = self.game.stringRepresentation(canonicalBoard)
        if s not in self.Es:
            self.Es[s] = self.game.getGameEnded(canonicalBoard, 1)
        if self.Es[s] != 0:
            return -self.Es[s]
        if s not in self.Ps:
            valids = self.game.getValidMoves(canonicalBoard, 1)
            self.Ps[s] = valids / np.sum(valids)  # a uniform network's policy, masked
            self.Vs[s], self.Ns[s] = valids, 0
            return 0.0
        valids, best, best_u = self.Vs[s], -float("inf"), None
        for a in range(self.game.getActionSize()):
            if valids[a]:
                q = self.Qsa.get((s, a), 0.0)
                u = q + self.c_puct * self.Ps[s][a] * np.sqrt(self.Ns[s] + 1e-8) / (1 + self.Nsa.get((s, a), 0))
                if u > best:
                    best, best_u = u, a
        a = best_u
        next_s, next_player = self.game.getNextState(canonicalBoard, 1, a)
        v = self.search(self.game.getCanonicalForm(next_s, next_player))
        n = self.Nsa.get((s, a), 0)
        self.Qsa[(s, a)] = (n * self.Qsa.get((s, a), 0.0) + v) / (n + 1)
        self.Nsa[(s, a)], self.Ns[s] = n + 1, self.Ns[s] + 1
        return -v


def test_a_coach_episode_runs_unchanged(game):
    """Coach.executeEpisode: sample the action from the search's pi with np.random.choice,
    store the 8 symmetries of every position, label them with the result."""
    np.random.seed(0)
    mcts, examples = UniformMCTS(game), []
    board, cur_player, step = game.getInitBoard(), 1, 0
    while True:
        step += 1
        canonical_board = game.getCanonicalForm(board, cur_player)
        pi = mcts.getActionProb(canonical_board, temp=int(step < 15))
        for b, p in game.getSymmetries(canonical_board, pi):
            examples.append([b, cur_player, p, None])
        action = np.random.choice(len(pi), p=pi)  # a numpy int64
        board, cur_player = game.getNextState(board, cur_player, action)
        r = game.getGameEnded(board, cur_player)
        if r != 0:
            labelled = [(x[0], x[2], r * ((-1) ** (x[1] != cur_player))) for x in examples]
            break
    assert len(labelled) == 8 * step and step >= 16
    final = game.getScore(board, 1)
    for b, p, v in labelled[::8]:
        assert len(p) == 37 and np.isclose(sum(p), 1)
        assert np.isclose(abs(v), 1 if final else DRAW)


def test_an_arena_game_runs_unchanged(game):
    """Arena.playGame: players indexed by cur_player + 1 get canonical boards and answer with
    np.argmax over a masked policy (numpy actions); the result is cur_player * getGameEnded."""
    rng = np.random.default_rng(0)

    def policy_player(canonical_board):
        return np.argmax(rng.random(37) * game.getValidMoves(canonical_board, 1))

    def first_move_player(canonical_board):
        return np.flatnonzero(game.getValidMoves(canonical_board, 1))[0]

    players = [first_move_player, None, policy_player]
    board, cur_player, moves = game.getInitBoard(), 1, 0
    while game.getGameEnded(board, cur_player) == 0:
        action = players[cur_player + 1](game.getCanonicalForm(board, cur_player))
        valids = game.getValidMoves(game.getCanonicalForm(board, cur_player), 1)
        assert valids[action] > 0
        board, cur_player = game.getNextState(board, cur_player, action)
        moves += 1
    result = cur_player * game.getGameEnded(board, cur_player)
    score = game.getScore(board, 1)
    assert moves >= 16 and result == (1 if score > 0 else -1 if score < 0 else DRAW)
