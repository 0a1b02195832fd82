"""Players, the arena and human input."""
import numpy as np
import pytest

from othello.arena import arena, random_opening
from othello.OthelloPlayers import (AlphaBetaPlayer, GameAborted, GreedyPlayer, HumanPlayer,
                                    RandomPlayer, make_player)
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
