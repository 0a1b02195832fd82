import json
from pathlib import Path

import numpy as np
import pytest

from othello.bitboard import bitboard_rules
from othello.OthelloGame import OthelloGame
from othello.solver import move_values

REPO = Path(__file__).resolve().parent.parent


def random_positions(game, count, seed=0):
    """(board, player) pairs visited by uniformly random games from the start, the finished
    positions included."""
    rng = np.random.default_rng(seed)
    positions = []
    while len(positions) < count:
        board, player = game.getInitBoard(), 1
        positions.append((board, player))
        while not game.getGameEnded(board, player):
            action = int(rng.choice(np.flatnonzero(game.getValidMoves(board, player))))
            board, player = game.getNextState(board, player, action)
            positions.append((board, player))
    return positions[:count]


class SolvedPlayer:
    """A stand-in for a classical player: it picks the move of lowest (pick=min) or highest
    (pick=max) exact value, so which positions it loses is known."""

    def __init__(self, pick):
        self.pick = pick

    def play(self, board):
        mine, theirs = bitboard_rules(6).from_boards(board[None])
        values = move_values(int(mine[0]), int(theirs[0]))
        return self.pick(values, key=values.get)


@pytest.fixture(scope="session")
def game():
    return OthelloGame(6)


@pytest.fixture(scope="session")
def perft_reference():
    """The move-count table computed by independent move generators (a copy of the team's
    shared perft6.json)."""
    return json.loads((REPO / "tests" / "data" / "perft6.json").read_text())


@pytest.fixture(scope="session")
def tiny_activations(tmp_path_factory):
    """A small activation folder collected from the shipped model (a few seconds)."""
    from othello.collect_activations import CollectConfig, collect

    out = tmp_path_factory.mktemp("activations")
    config = CollectConfig(positions=600, sims=4, batch_games=8, opponents="random,greedy", heldout_fraction=0.25,
                           out=str(out), progress=False)
    return out, collect(config)
