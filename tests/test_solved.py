"""The perfect-play yardstick."""
import numpy as np
import pytest

from othello.OthelloPlayers import make_player
from othello.solved import SolvedPosition, load_solved_positions, score_moves, score_player


def test_scores_hand_computable_moves():
    board = np.zeros((6, 6), np.int8)
    winning_choice = SolvedPosition(board, {1: 4, 2: -2, 3: 4}, critical=True)
    all_lose = SolvedPosition(board, {5: -10, 6: -2}, critical=False)
    score = score_moves([winning_choice, all_lose], [3, 5])
    assert score.exact_rate == 0.5 and score.critical_outcome_rate == 1.0
    score = score_moves([winning_choice, all_lose], [2, 6])
    assert score.exact_rate == 0.5 and score.critical_outcome_rate == 0.0
    with pytest.raises(ValueError, match="not legal"):
        score_moves([all_lose], [0])


def test_shipped_positions_load_and_their_values_are_legal_moves(game):
    positions = load_solved_positions()
    assert len(positions) == 770 and sum(p.critical for p in positions) == 356
    for position in positions[::25]:
        legal = set(np.flatnonzero(game.getValidMoves(position.board, 1)))
        assert set(position.values) == legal


def test_search_beats_random_on_the_yardstick(game):
    positions = load_solved_positions()
    random = score_player(make_player("random", game), positions)
    search = score_player(make_player("alphabeta:2", game), positions)
    assert search.exact_rate > random.exact_rate + 0.2
    assert search.critical_outcome_rate > random.critical_outcome_rate + 0.2


def test_missing_and_corrupt_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_solved_positions(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"positions": [{"board": "xo"}]}')
    with pytest.raises(ValueError, match="not a valid solved-positions file"):
        load_solved_positions(bad)
