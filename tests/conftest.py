import json
from pathlib import Path

import numpy as np
import pytest

from othello.OthelloGame import OthelloGame

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
