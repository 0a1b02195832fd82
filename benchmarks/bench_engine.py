"""Engine speed: legal-move generation and whole random games, per-board contract methods
against the batched bitboard API, measured side by side in one run.

    python benchmarks/bench_engine.py [--batch-size 1024] [--seconds 3]
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402


@dataclass
class BenchConfig:
    """Measure the Othello engine's speed."""

    batch_size: int = 1024
    """boards processed together by the batched API"""
    seconds: float = 3.0
    """time spent on each measurement"""
    seed: int = 0
    """seed of the random games"""

    def __post_init__(self):
        require_at_least(self, 1, "batch_size")
        if self.seconds <= 0:
            raise ValueError(f"--seconds must be positive, got {self.seconds}")


def timed(work, seconds):
    """Run `work()` (which returns a count) repeatedly for about `seconds`; count per second."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        count += work()
    return count / (time.perf_counter() - start)


def sample_positions(game, count, rng):
    """Canonical boards from random games (finished positions left out)."""
    boards = []
    while len(boards) < count:
        board, player = game.getInitBoard(), 1
        while not game.getGameEnded(board, player):
            boards.append(game.getCanonicalForm(board, player))
            action = int(rng.choice(np.flatnonzero(game.getValidMoves(board, player))))
            board, player = game.getNextState(board, player, action)
    return np.stack(boards[:count])


def contract_random_game(game, rng):
    board, player = game.getInitBoard(), 1
    while not game.getGameEnded(board, player):
        action = int(rng.choice(np.flatnonzero(game.getValidMoves(board, player))))
        board, player = game.getNextState(board, player, action)
    return 1


def batched_random_games(rules, batch_size, rng):
    """Play `batch_size` random games in lockstep until every one is over."""
    mine = np.full(batch_size, rules.start_mine, np.uint64)
    theirs = np.full(batch_size, rules.start_theirs, np.uint64)
    while len(mine):
        mask = rules.action_mask(mine, theirs)  # (B, A)
        playing = mask.any(axis=1)
        mine, theirs, mask = mine[playing], theirs[playing], mask[playing]
        actions = np.argmax(rng.random(mask.shape) * mask, axis=1)  # a uniform legal action
        mine, theirs = rules.next_position(mine, theirs, actions)
    return batch_size


def main():
    config = parse_config(BenchConfig)
    game, rng = OthelloGame(6), np.random.default_rng(config.seed)
    rules = game.rules
    boards = sample_positions(game, config.batch_size, rng)
    mean_moves = np.mean([game.getValidMoves(b, 1).sum() for b in boards])

    def contract_movegen():
        for board in boards[:64]:
            game.getValidMoves(board, 1)
        return 64

    mine, theirs = rules.from_boards(boards)

    def batched_movegen():
        rules.action_mask(mine, theirs)
        return len(mine)

    rows = [
        ("move generation (positions/s)", timed(contract_movegen, config.seconds),
         timed(batched_movegen, config.seconds)),
        ("random games (games/s)", timed(lambda: contract_random_game(game, rng), config.seconds),
         timed(lambda: batched_random_games(rules, config.batch_size, rng), config.seconds)),
    ]
    print(f"6x6 Othello engine, batch {config.batch_size}, {config.seconds:.0f} s per measurement, "
          f"{mean_moves:.2f} legal moves per position on average")
    print(f"{'':32}{'contract (1 board)':>20}{'batched':>16}{'speed-up':>10}")
    for name, contract, batched in rows:
        print(f"{name:32}{contract:>20,.0f}{batched:>16,.0f}{batched / contract:>9.0f}x")
    movegen_contract, movegen_batched = rows[0][1], rows[0][2]
    print(f"{'moves generated (moves/s)':32}{movegen_contract * mean_moves:>20,.0f}"
          f"{movegen_batched * mean_moves:>16,.0f}")


if __name__ == "__main__":
    main()
