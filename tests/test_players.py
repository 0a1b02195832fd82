"""Players, the arena and human input."""
import numpy as np
import pytest

from othello.arena import arena, random_opening
from othello.OthelloGame import OthelloGame
from othello.OthelloPlayers import (AlphaBetaPlayer, GameAborted, GreedyPlayer, HumanPlayer,
                                    PerfectPlayer, RandomPlayer, make_player)
from othello.solved import load_solved_positions, score_player
from othello.squares import parse_square
from tests.conftest import random_positions


@pytest.mark.parametrize("spec", ["random", "greedy", "alphabeta:1", "alphabeta:3"])
def test_engines_play_legal_moves_everywhere(game, spec):
    player = make_player(spec, game, seed=3)
    for board, colour in random_positions(game, 150, seed=4):
        if not game.getGameEnded(board, colour):
            canonical = game.getCanonicalForm(board, colour)
            assert game.getValidMoves(canonical, 1)[player.play(canonical)] == 1


def test_greedy_takes_the_most_discs(game):
    board = np.zeros((6, 6), np.int8)
    board[0, :4] = [1, -1, -1, 0]  # d1 flips two
    board[5, :3] = [1, -1, 0]  # c6 flips one
    assert GreedyPlayer(game).play(board) == parse_square("d1")


def test_alphabeta_takes_a_corner_and_finds_the_win(game):
    # Two moves: a1 (a corner, wins everything in the row) or e3-type inner move.
    board = np.zeros((6, 6), np.int8)
    board[0, 1:5] = -1
    board[0, 5] = 1
    board[2, 2], board[2, 3], board[2, 4] = 1, -1, 0
    assert AlphaBetaPlayer(game, depth=2).play(board) == parse_square("a1")


def test_alphabeta_depth_is_validated(game):
    with pytest.raises(ValueError, match="depth"):
        AlphaBetaPlayer(game, depth=0)


@pytest.mark.parametrize("strong, weak, games, minimum", [
    ("greedy", "random", 40, 0.65),
    ("alphabeta:2", "random", 20, 0.85),
    ("alphabeta:4", "greedy", 20, 0.85),
])
def test_stronger_engines_win(game, strong, weak, games, minimum):
    result = arena(game, make_player(strong, game, 1), make_player(weak, game, 2), games,
                   opening_plies=2, seed=5, progress=False)
    assert result.score >= minimum, result.summary(strong, weak)


def late_positions(game, count, max_empties=18, seed=4):
    """Positions of random games with at most `max_empties` empty squares, the game not over
    (the perfect player solves these in milliseconds; the start position takes about a minute)."""
    return [(b, c) for b, c in random_positions(game, 40 * count, seed)
            if (b == 0).sum() <= max_empties and not game.getGameEnded(b, c)][:count]


def test_perfect_player_plays_legal_moves_and_passes_when_forced(game):
    player = make_player("perfect", game, seed=3)
    assert isinstance(player, PerfectPlayer)
    positions = late_positions(game, 60)
    passes = 0
    for board, colour in positions:
        canonical = game.getCanonicalForm(board, colour)
        valid = game.getValidMoves(canonical, 1)
        assert valid[player.play(canonical)] == 1
        passes += bool(valid[36])
    assert passes > 0  # forced passes were among them


def test_perfect_player_picks_a_move_of_the_best_value_on_every_solved_position(game):
    positions = [p for p in load_solved_positions() if (p.board == 0).sum() <= 16][:80]
    score = score_player(PerfectPlayer(game), positions)
    assert score.exact_rate == 1.0 and score.critical_outcome_rate == 1.0


def test_perfect_player_is_seeded_and_chooses_at_random_among_equal_moves(game):
    positions = [p for p in load_solved_positions() if (p.board == 0).sum() <= 16
                 and sum(v == max(p.values.values()) for v in p.values.values()) > 1][:20]
    assert len(positions) == 20

    def moves(seed):
        player = PerfectPlayer(game, seed=seed)
        return [player.play(p.board) for p in positions]

    assert moves(7) == moves(7)
    assert len({tuple(moves(seed)) for seed in range(4)}) > 1


def test_perfect_player_gets_at_least_the_exact_value_against_anyone(game):
    """From a position the perfect player is to move in, the game ends with at least its exact
    margin, whatever the opponent plays; and it keeps `last_value` up to date."""
    from othello import solver

    for board, colour in late_positions(game, 4, max_empties=20, seed=11):
        perfect, opponent = PerfectPlayer(game), RandomPlayer(game, seed=1)
        value = solver.exact_value(*game.to_bitboards(board, colour))
        me = colour
        while not game.getGameEnded(board, colour):
            mover = perfect if colour == me else opponent
            board, colour = game.getNextState(board, colour, mover.play(game.getCanonicalForm(board, colour)))
            if mover is perfect:
                assert perfect.last_value >= value
        mine, theirs = game.to_bitboards(board, me)
        assert bin(mine).count("1") - bin(theirs).count("1") >= value


def test_perfect_player_refuses_other_board_sizes_and_finished_games(game):
    with pytest.raises(ValueError, match="6x6 only, not 8x8"):
        make_player("perfect", OthelloGame(8))
    board = np.ones((6, 6), np.int8)
    with pytest.raises(ValueError, match="the game is over"):
        PerfectPlayer(game).play(board)


class Recorder:
    """Plays randomly and records how many discs were on the board at its first move."""

    def __init__(self, game):
        self.inner, self.first_seen = RandomPlayer(game), []

    def reset(self):
        self.new_game = True

    def play(self, board):
        if self.new_game:
            self.first_seen.append(int(np.abs(board).sum()))
            self.new_game = False
        return self.inner.play(board)


def test_arena_alternates_colours_and_counts_every_game(game):
    first = Recorder(game)
    result = arena(game, first, RandomPlayer(game, seed=9), 6, progress=False)
    assert first.first_seen == [4, 5, 4, 5, 4, 5]  # black moves on 4 discs, white on 5
    assert result.games == 6 == len(result.disc_diffs)
    assert result.wins == sum(d > 0 for d in result.disc_diffs)
    assert result.losses == sum(d < 0 for d in result.disc_diffs)


def test_arena_result_is_from_the_first_players_view(game):
    result = arena(game, make_player("alphabeta:2", game), RandomPlayer(game), 4, progress=False)
    flipped = arena(game, RandomPlayer(game), make_player("alphabeta:2", game), 4, progress=False)
    assert np.mean(result.disc_diffs) > 0 > np.mean(flipped.disc_diffs)


def test_paired_games_share_their_random_opening(game):
    rng = np.random.default_rng(0)
    opening = random_opening(game, 6, rng)
    assert len(opening) == 6
    board, player = game.getInitBoard(), 1
    for action in opening:  # replays legally
        board, player = game.getNextState(board, player, action)


@pytest.mark.parametrize("spec, message", [
    ("minimax", "unknown player"), ("alphabeta:x", "whole number"), ("greedy:2", "takes no"),
])
def test_bad_player_specs_are_explained(game, spec, message):
    with pytest.raises(ValueError, match=message):
        make_player(spec, game)


def scripted_human(game, lines):
    """A HumanPlayer reading `lines` in turn (an exception instance is raised instead)."""
    feed, shown = iter(lines), []

    def read(prompt):
        line = next(feed, EOFError())
        if isinstance(line, BaseException):
            raise line
        return line

    return HumanPlayer(game, input_fn=read, output_fn=shown.append), shown


@pytest.mark.parametrize("text", ["c2", "C2", " c2 ", "1 2", "1,2"])
def test_human_accepts_names_and_row_col(game, text):
    player, shown = scripted_human(game, [text])
    assert player.play(game.getInitBoard()) == parse_square("c2") and shown == []


def test_human_bad_input_is_explained_and_asked_again(game):
    lines = ["", "hello", "z9", "7 7", "a1", "pass", "12", "e4"]
    player, shown = scripted_human(game, lines)
    assert player.play(game.getInitBoard()) == parse_square("e4")
    assert len(shown) == len(lines) - 1
    assert all("Legal moves: c2, b3, e4, d5" in message for message in shown)
    assert "not a square" in shown[1] and "off the board" in shown[2] and "off the board" in shown[3]
    assert "a1 is not a legal move" in shown[4] and "cannot pass" in shown[5]


def test_human_passes_only_when_forced(game):
    board = np.zeros((6, 6), np.int8)
    board[0, 0], board[0, 1] = -1, 1  # to move: b1 only; nothing to bracket
    player, shown = scripted_human(game, ["c1", "pass"])
    assert player.play(board) == 36 and "not a legal move" in shown[0]
    player, _ = scripted_human(game, [""])
    assert player.play(board) == 36  # Enter passes when passing is the only move


@pytest.mark.parametrize("ending", [EOFError(), KeyboardInterrupt(), "quit"])
def test_human_can_always_leave(game, ending):
    player, _ = scripted_human(game, ["garbage", ending])
    with pytest.raises(GameAborted):
        player.play(game.getInitBoard())
