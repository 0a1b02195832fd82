"""Self-play examples and evaluation."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from coach import evaluate, learning_rate, self_play
from mcts import MCTSConfig, SearchActor, disc_value
from model import ModelConfig
from NetworkWrapper import NetworkWrapper
from othello.arena import PlayerActor, play_match
from othello.OthelloGame import OthelloGame
from othello.OthelloPlayers import make_player
from othello.solved import load_solved_positions

GAME = OthelloGame(6)
RULES = GAME.rules


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return NetworkWrapper(ModelConfig(width=32, depth=2), device="cpu")


def test_self_play_examples(network):
    rng = np.random.default_rng(0)
    examples, stats = self_play(RULES, network.predict_batch, MCTSConfig(num_simulations=8), 6, 4, 4, rng,
                                progress=False)
    boards, pis, values = examples["boards"], examples["pis"], examples["values"]
    assert len(boards) == len(pis) == len(values) == stats["positions"] >= 6 * 20
    np.testing.assert_allclose(pis.sum(axis=1), 1, rtol=1e-6)
    mine, theirs = RULES.from_boards(boards.reshape(-1, 6, 6))
    assert (pis[RULES.action_mask(mine, theirs) == 0] == 0).all()  # no mass on illegal moves
    assert set(np.unique(values)) <= {-1.0, 0.0, 1.0}
    # Games start from the initial position, black to move: its value is black's result.
    starts = np.flatnonzero((boards == RULES.to_boards(np.array([RULES.start_mine], np.uint64),
                                                        np.array([RULES.start_theirs], np.uint64)).reshape(1, -1)).all(1))
    assert len(starts) == 6
    assert np.mean((values[starts] + 1) / 2) == pytest.approx(stats["black_score"])


def test_self_play_values_alternate_along_a_game(network):
    rng = np.random.default_rng(1)
    examples, stats = self_play(RULES, network.predict_batch, MCTSConfig(num_simulations=4), 1, 1, 0, rng,
                                progress=False)
    values = examples["values"]
    # Every recorded ply (a pass too) hands the move to the other side, whose result is the
    # opposite: values alternate in sign, or are all 0 after a draw.
    assert values[0] == 2 * stats["black_score"] - 1
    assert all(values[i + 1] == -values[i] for i in range(len(values) - 1))


def test_self_play_scores_the_endgame_exactly_with_the_solver(network):
    # Positions with <= 10 empties get their perfect-play value; earlier ones the perfect-play
    # result of their game's first such position, whatever the game's own ending was.
    from othello import solver

    config = MCTSConfig(num_simulations=4, margin_weight=0.25)
    examples, stats = self_play(RULES, network.predict_batch, config, 1, 1, 0, np.random.default_rng(2),
                                progress=False, solver_empties=10)
    boards, values = examples["boards"], examples["values"].astype(np.float64)
    empties = (boards == 0).sum(axis=1)
    first = int(np.argmax(empties <= 10))
    assert empties[first] <= 10 < empties[first - 1]
    mine, theirs = RULES.from_boards(boards.reshape(-1, 6, 6))
    for i in range(first, len(boards)):
        exact = disc_value(solver.exact_value(int(mine[i]), int(theirs[i])), 36, 0.25)
        assert values[i] == pytest.approx(exact, abs=1e-6)
    # q_weight 0: before the endgame the target is the solved result, sign alternating per ply
    sides = (-1.0) ** (first - np.arange(first))
    np.testing.assert_allclose(values[:first], sides * values[first], atol=1e-6)
    assert stats["black_score"] == (np.sign(values[0]) + 1) / 2
    assert stats["solver_seconds"] > 0


def test_search_beats_random_and_evaluate_reports_every_metric(network):
    rng = np.random.default_rng(3)
    agent = SearchActor(RULES, network.predict_batch, MCTSConfig(num_simulations=16))
    result = play_match(RULES, agent, PlayerActor(RULES, make_player("random", GAME)), 10, 2, rng)
    assert result.score >= 0.6  # even an untrained net's search beats random play
    positions = load_solved_positions()[:30]
    metrics = evaluate(GAME, network.predict_batch, MCTSConfig(num_simulations=4), 2, ("random", "greedy"), 2, rng,
                       positions)
    assert set(metrics) == {"eval/random_score", "eval/greedy_score", "solved/exact", "solved/critical_outcome",
                            "solved/policy_exact", "solved/policy_critical_outcome"}
    assert all(0 <= v <= 1 for v in metrics.values())


def test_learning_rate_decays_from_lr_to_lr_final():
    config = SimpleNamespace(lr=1e-3, lr_final=1e-4, iterations=11)
    rates = [learning_rate(config, i) for i in range(1, 12)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert rates[5] == pytest.approx(5.5e-4)  # halfway down the cosine
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert learning_rate(SimpleNamespace(lr=1e-3, lr_final=1e-4, iterations=1), 1) == pytest.approx(1e-3)
