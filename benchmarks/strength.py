"""Strength of an AlphaZero checkpoint at its play settings: matches against the classic
engines (colours alternating, pairs of games sharing a random opening) and the perfect-play
yardstick, for the search and for the raw policy. The agent is searched for all games at
once (the same deterministic search AlphaZeroPlayer runs one board at a time).

    python benchmarks/strength.py [--checkpoint othello/pretrained/best.pth.tar] [--games 100]
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from coach import evaluate  # noqa: E402
from mcts import SearchActor  # noqa: E402
from othello.arena import PlayerActor, play_match  # noqa: E402
from NetworkWrapper import CheckpointError  # noqa: E402
from othello.cli import parse_config  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import DEFAULT_SIMULATIONS, SHIPPED_MODEL, AlphaZeroPlayer, make_player  # noqa: E402
from othello.solved import load_solved_positions  # noqa: E402


@dataclass
class StrengthConfig:
    """Measure an AlphaZero checkpoint against classic engines and perfect play."""

    checkpoint: str = str(SHIPPED_MODEL)
    """the network to measure"""
    sims: int = DEFAULT_SIMULATIONS
    """MCTS simulations per move (play.py's default)"""
    games: int = 100
    """games against each opponent"""
    opponents: str = "random,greedy,alphabeta:4"
    """comma-separated engines"""
    opening_plies: int = 4
    """random opening plies shared by each pair of games"""
    seed: int = 0
    """seed of the openings and the engines' tie-breaks"""
    threads: int = 2
    """torch CPU threads"""


def main():
    config = parse_config(StrengthConfig)
    torch.set_num_threads(config.threads)
    game, rng = OthelloGame(6), np.random.default_rng(config.seed)
    try:
        player = AlphaZeroPlayer(game, config.checkpoint, config.sims)  # its network and search settings
    except CheckpointError as error:
        sys.exit(f"error: {error}")
    network, mcts_config = player.network, player.mcts_config
    agent = SearchActor(game.rules, network.predict_batch, mcts_config)
    print(f"{config.checkpoint}, {config.sims} simulations per move, {config.games} games per opponent, "
          f"{config.opening_plies}-ply random openings")
    for spec in config.opponents.split(","):
        start = time.perf_counter()
        opponent = PlayerActor(game.rules, make_player(spec, game, seed=config.seed))
        result = play_match(game.rules, agent, opponent, config.games, config.opening_plies, rng)
        print(f"vs {spec:12} {result.wins:>4} wins {result.losses:>4} losses {result.draws:>3} draws  "
              f"score {result.score:6.1%}  mean disc difference {np.mean(result.disc_diffs):+6.2f}  "
              f"({time.perf_counter() - start:.0f}s)")
    metrics = evaluate(game, network.predict_batch, mcts_config, 0, (), 0, rng, load_solved_positions())
    print(f"solved positions: search exact {metrics['solved/exact']:.1%}, outcome kept on critical "
          f"{metrics['solved/critical_outcome']:.1%}; raw policy exact {metrics['solved/policy_exact']:.1%}, "
          f"outcome kept on critical {metrics['solved/policy_critical_outcome']:.1%}")


if __name__ == "__main__":
    main()
