"""The perfect-play yardstick: how often a player's move is optimal on solved 6x6 positions.

`othello/data/solved6.json` (a copy of the team's shared reference) holds 770 positions with
12 to 24 empty squares and the exact final disc difference of every legal move under perfect
play. Two rates are reported:
- exact: the move played has the maximal value;
- outcome-preserving on the critical positions (where the legal moves do not all lead to the
  same win / draw / loss): sign(value of the move) == sign(best value), i.e. the result holds.
"""
import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import make_player  # noqa: E402

SOLVED_PATH = Path(__file__).resolve().parent / "data" / "solved6.json"


@dataclass
class SolvedPosition:
    board: np.ndarray
    """canonical (6, 6) int8 board, +1 = the side to move"""
    values: dict
    """{action: exact final disc difference for the side to move after that move}"""
    critical: bool


def load_solved_positions(path=SOLVED_PATH):
    try:
        data = json.loads(Path(path).read_text())
        positions = []
        for record in data["positions"]:
            cells = np.array([{"x": 1, "o": -1, ".": 0}[c] for c in record["board"]], np.int8)
            values = {int(a): int(v) for a, v in record["values"].items()}
            positions.append(SolvedPosition(cells.reshape(6, 6), values, bool(record["critical"])))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: it ships with the repo (git checkout -- {path})") from None
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a valid solved-positions file: {error!r}") from None
    return positions


@dataclass
class SolvedScore:
    exact_rate: float
    """share of all positions where the move has the best value"""
    critical_outcome_rate: float
    """share of critical positions where the move keeps the perfect-play outcome"""
    positions: int
    critical_positions: int


def score_moves(positions, moves) -> SolvedScore:
    """Score one chosen action per position."""
    exact, kept, critical = 0, 0, 0
    for position, move in zip(positions, moves, strict=True):
        if move not in position.values:
            raise ValueError(f"action {move} is not legal in a solved position")
        best = max(position.values.values())
        exact += bool(position.values[move] == best)
        if position.critical:
            critical += 1
            kept += bool(np.sign(position.values[move]) == np.sign(best))
    return SolvedScore(exact / len(positions), kept / max(critical, 1), len(positions), critical)


def score_player(player, positions=None) -> SolvedScore:
    """Score a player's `play(canonical_board)` on every solved position."""
    positions = load_solved_positions() if positions is None else positions
    moves = []
    for position in positions:
        player.reset()
        moves.append(int(player.play(position.board)))
    return score_moves(positions, moves)


def main(argv=None):
    """python -m othello.solved [PLAYER ...]: score engines on the solved positions."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("players", nargs="*", default=["random", "greedy", "alphabeta:2", "alphabeta:4"],
                        help="engines: random, greedy, alphabeta[:depth], perfect")
    args = parser.parse_args(argv)
    game, positions = OthelloGame(6), load_solved_positions()
    print(f"{'player':16}{'exact moves':>14}{'outcome kept (critical)':>26}")
    for spec in args.players:
        score = score_player(make_player(spec, game), positions)
        print(f"{spec:16}{score.exact_rate:>14.1%}{score.critical_outcome_rate:>26.1%}")


if __name__ == "__main__":
    main()
