"""Batched matches (play_match) against the one-game-at-a-time arena."""
import numpy as np
import pytest

from othello.arena import PlayerActor, play_game, play_match
from othello.bitboard import popcount
from othello.OthelloGame import OthelloGame

GAME = OthelloGame(6)
RULES = GAME.rules


class FirstLegal:
    """Deterministic: the lowest legal action."""

    def reset(self):
        pass

    def play(self, board):
        return int(np.flatnonzero(GAME.getValidMoves(board, 1))[0])


class LastLegal(FirstLegal):
    def play(self, board):
        return int(np.flatnonzero(GAME.getValidMoves(board, 1))[-1])


def test_batched_match_equals_playing_games_one_by_one():
    result = play_match(RULES, PlayerActor(RULES, FirstLegal()), PlayerActor(RULES, LastLegal()), 4, 0,
                        np.random.default_rng(0))
    as_black = play_game(GAME, FirstLegal(), LastLegal())
    as_white = -play_game(GAME, LastLegal(), FirstLegal())
    assert result.disc_diffs == [as_black, as_white, as_black, as_white]
    assert result.games == 4


def test_match_openings_are_shared_by_pairs_and_colours_alternate():
    rng = np.random.default_rng(2)
    result = play_match(RULES, PlayerActor(RULES, FirstLegal()), PlayerActor(RULES, FirstLegal()), 10, 4, rng)
    # Identical deterministic players from the same opening: swapping colours mirrors the result.
    diffs = result.disc_diffs
    assert all(diffs[i] == -diffs[i + 1] for i in range(0, 10, 2))
    assert len(set(diffs[::2])) > 1  # the openings differ between pairs



def test_on_move_sees_every_move_of_every_game():
    seen = []
    play_match(RULES, PlayerActor(RULES, FirstLegal()), PlayerActor(RULES, LastLegal()), 6, 2,
               np.random.default_rng(4), on_move=lambda *move: seen.append(move))
    history = {g: [] for g in range(6)}
    for actor, games, mine, theirs, actions in seen:
        for g, m, t, a in zip(games, mine, theirs, actions):
            history[g].append((m, t, a))
    for moves in history.values():
        assert popcount(moves[0][0] | moves[0][1]) == 6  # the first seen is after the 2 opening plies
        # Each seen position follows from the one before and its action; the last move ends the game.
        for (m, t, a), (next_m, next_t, _) in zip(moves, moves[1:]):
            assert RULES.next_position(m, t, a) == (next_m, next_t)
        assert RULES.is_over(*RULES.next_position(*moves[-1]))


def test_only_accepted_openings_are_played():
    def wide(mine, theirs):  # at least 6 legal moves for the side to move
        return [popcount(RULES.legal_moves(int(m), int(t))) >= 6 for m, t in zip(mine, theirs)]

    starts = {}

    def record(actor, games, mine, theirs, actions):
        for g, m, t in zip(games, mine, theirs):
            starts.setdefault(int(g), (int(m), int(t)))

    play_match(RULES, PlayerActor(RULES, FirstLegal()), PlayerActor(RULES, LastLegal()), 20, 4,
               np.random.default_rng(5), on_move=record, accept_opening=wide)
    assert len(starts) == 20 and all(wide([m], [t])[0] for m, t in starts.values())
    assert len(set(starts.values())) > 2  # still random among the accepted ones
    with pytest.raises(ValueError, match="no acceptable opening"):
        play_match(RULES, PlayerActor(RULES, FirstLegal()), PlayerActor(RULES, LastLegal()), 2, 2,
                   np.random.default_rng(5), accept_opening=lambda mine, theirs: [False] * len(mine))
