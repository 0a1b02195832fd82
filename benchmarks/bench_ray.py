"""Self-play on Ray against the single process, side by side in one run (docs/ray.md): games/s
of one self-play iteration played here (1 and 2 threads) and by a pool of Ray workers of one
CPU each (1 worker, 2 workers), all playing exactly the same calls with the default network
(train_alphazero.py's search settings). Ray's overhead per iteration: the one-worker pool
against the single process with one thread, and the pool's wall time less the time its worker
spent playing (publishing the network, handing out calls, returning the examples). Needs
requirements-ray.txt.

    python benchmarks/bench_ray.py [--games 128] [--batch-games 32] [--iterations 1]
"""
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from mcts import MCTSConfig  # noqa: E402
from NetworkWrapper import NetworkWrapper  # noqa: E402
from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.ray_cluster import connect, require_ray  # noqa: E402
from train_alphazero import AlphaZeroConfig  # noqa: E402


@dataclass
class BenchConfig:
    """Measure self-play games/s on Ray against the single process."""

    games: int = 128
    """self-play games per iteration"""
    batch_games: int = 32
    """games per call (searched in lockstep)"""
    num_simulations: int = 64
    """MCTS simulations per move (train_alphazero.py's default)"""
    iterations: int = 1
    """iterations timed per setting, after one that warms up (workers start, network loads)"""
    cpus: int = 2
    """CPUs of the local Ray cluster, and threads of the single process"""

    def __post_init__(self):
        require_at_least(self, 1, "games", "batch_games", "num_simulations", "iterations", "cpus")


def timed(play, iterations):
    """(seconds per iteration of play(iteration) after a warm-up one, the last one's stats)."""
    play(0)
    start = time.perf_counter()
    for iteration in range(1, iterations + 1):
        _, stats = play(iteration)
    return (time.perf_counter() - start) / iterations, stats


def main(argv=None):
    bench = parse_config(BenchConfig, argv)
    ray = require_ray()
    from othello.ray_selfplay import SelfPlayPool, calls, merge, play_call
    config = AlphaZeroConfig(games_per_iteration=bench.games, batch_games=bench.batch_games,
                             num_simulations=bench.num_simulations, ray=True)
    mcts_config = MCTSConfig(config.num_simulations, config.c_puct, config.dirichlet_alpha, config.dirichlet_fraction,
                             config.margin_weight, config.fpu_parent_value)
    torch.manual_seed(0)
    network = NetworkWrapper(config.model_config(), config.train_config(), device="cpu")
    checkpoint = network.checkpoint()
    print(f"self-play: {bench.games} games per iteration in calls of {bench.batch_games}, {bench.num_simulations} "
          f"simulations per move, a {config.width}-wide, {config.depth}-block network; seconds per iteration "
          f"(mean of {bench.iterations} after a warm-up)")
    rows = {}

    def report(name, seconds, note=""):
        rows[name] = seconds
        print(f"{name:<34}{bench.games / seconds:>8.1f} games/s {seconds:>8.2f} s/iteration{note}", flush=True)

    rules = bitboard_rules(6)
    for threads in sorted({1, bench.cpus}):
        torch.set_num_threads(threads)
        report(f"single process, {threads} thread{'s' * (threads > 1)}", timed(lambda i: merge([
            play_call(rules, network.predict_batch, mcts_config, config, i, first, count)
            for first, count in calls(bench.games, bench.batch_games)]), bench.iterations)[0])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    start = time.perf_counter()
    ray.init(address="local", num_cpus=bench.cpus, include_dashboard=False)
    connect()  # the scripts' own connection: reuses this one
    print(f"ray.init: {time.perf_counter() - start:.1f} s (once per run)")
    for workers in (1, bench.cpus):
        start = time.perf_counter()
        pool = SelfPlayPool(config, mcts_config, workers, 1)
        ray.get([worker.node_id.remote() for worker in pool.workers])
        started = time.perf_counter() - start
        try:
            seconds, stats = timed(lambda i: pool.play(checkpoint, i), bench.iterations)
        finally:
            pool.close()
        note = f"  (workers ready in {started:.1f} s)"
        if workers == 1:
            single = rows["single process, 1 thread"]
            note += (f"  overhead {seconds - single:+.2f} s per iteration against one thread here; "
                     f"{stats['seconds'] - stats['worker_seconds']:.2f} s outside the worker's games")
        else:
            note += f"  {rows['Ray, 1 worker x 1 CPU'] / seconds:.2f}x one worker"
        report(f"Ray, {workers} worker{'s' * (workers > 1)} x 1 CPU", seconds, note)
    ray.shutdown()


if __name__ == "__main__":
    main()
