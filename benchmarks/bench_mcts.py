"""MCTS speed in self-play: simulations per second of the batched search (many games in
lockstep, one network call per simulation step) against the sequential reference (one game,
one network call per leaf), with the default network, measured side by side in one run. Then
the trained network's evaluation speed with denormal floats flushed to zero (what
NetworkWrapper sets) and without.

    python benchmarks/bench_mcts.py [--games 512] [--num-simulations 32] [--threads 2]
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from mcts import BatchedMCTS, MCTSConfig, SequentialMCTS  # noqa: E402
from NetworkWrapper import NetworkWrapper  # noqa: E402
from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloPlayers import SHIPPED_MODEL  # noqa: E402


@dataclass
class BenchConfig:
    """Measure MCTS simulations per second in self-play."""

    games: int = 512
    """games searched in lockstep by the batched search"""
    num_simulations: int = 32
    """simulations per move"""
    sequential_seconds: float = 20.0
    """time given to the sequential reference"""
    threads: int = 2
    """torch CPU threads"""
    seed: int = 0
    """seed of the network and of the noise"""
    checkpoint: str = str(SHIPPED_MODEL)
    """trained network whose evaluation is timed with and without denormals flushed"""

    def __post_init__(self):
        require_at_least(self, 1, "games", "num_simulations", "threads")
        if self.sequential_seconds <= 0:
            raise ValueError(f"--sequential-seconds must be positive, got {self.sequential_seconds}")


def batched_self_play(rules, predict, config, rng):
    """Play `config.games` self-play games to the end; returns (simulations, seconds)."""
    mcts = BatchedMCTS(rules, predict, MCTSConfig(num_simulations=config.num_simulations))
    mcts.reset(np.full(config.games, rules.start_mine, np.uint64), np.full(config.games, rules.start_theirs, np.uint64))
    simulations, start = 0, time.perf_counter()
    while mcts.batch_size:
        visits = mcts.search(rng, add_noise=True)
        simulations += config.num_simulations * mcts.batch_size
        actions = np.array([rng.choice(len(v), p=v / v.sum()) for v in visits])
        next_mine, next_theirs = rules.next_position(mcts.mine[:, 0], mcts.theirs[:, 0], actions)
        mcts.advance(actions)
        mcts.keep(np.flatnonzero(~rules.is_over(next_mine, next_theirs)))
    return simulations, time.perf_counter() - start


def sequential_self_play(rules, predict, config, rng):
    """Self-play games one at a time for `sequential_seconds`; returns (simulations, seconds)."""
    mcts_config = MCTSConfig(num_simulations=config.num_simulations)
    mcts = SequentialMCTS(rules, predict, mcts_config)
    simulations, start = 0, time.perf_counter()
    while time.perf_counter() - start < config.sequential_seconds:
        mine, theirs = rules.start_mine, rules.start_theirs
        mcts.reset(mine, theirs)
        while not rules.is_over(mine, theirs) and time.perf_counter() - start < config.sequential_seconds:
            visits = mcts.search()
            simulations += config.num_simulations
            action = int(rng.choice(len(visits), p=visits / visits.sum()))
            mcts.advance(action, capacity=3 * config.num_simulations + 1)
            mine, theirs = rules.next_position(mine, theirs, action)
    return simulations, time.perf_counter() - start


def evaluation_ms(network, boards, flush_denormals, repeats=20):
    """Milliseconds per predict_batch call on `boards`."""
    torch.set_flush_denormal(flush_denormals)
    network.predict_batch(boards)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        network.predict_batch(boards)
    return (time.perf_counter() - start) / repeats * 1000


def main():
    config = parse_config(BenchConfig)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    network = NetworkWrapper(device="cpu")  # the default 4 x 256 network
    rules, rng = bitboard_rules(6), np.random.default_rng(config.seed)
    sequential = sequential_self_play(rules, network.predict_batch, config, rng)
    batched = batched_self_play(rules, network.predict_batch, config, rng)
    print(f"self-play MCTS, {config.num_simulations} simulations per move, network 4 x 256, "
          f"{config.threads} torch threads")
    seq_rate, batch_rate = sequential[0] / sequential[1], batched[0] / batched[1]
    print(f"sequential reference (1 game):      {seq_rate:>10,.0f} simulations/s")
    print(f"batched ({config.games} games in lockstep): {batch_rate:>10,.0f} simulations/s  "
          f"({batch_rate / seq_rate:.0f}x)")

    trained = NetworkWrapper.load_checkpoint(config.checkpoint, device="cpu")
    boards = rng.integers(-1, 2, (config.games, rules.num_squares)).astype(np.float32)
    slow, fast = evaluation_ms(trained, boards, False), evaluation_ms(trained, boards, True)
    print(f"trained network ({config.checkpoint}), {config.games} boards per call: {slow:.1f} ms with denormals, "
          f"{fast:.1f} ms flushed to zero ({slow / fast:.0f}x)")


if __name__ == "__main__":
    main()
