"""Exact 6x6 Othello solver (othello/solver.c, compiled on first use with the system's C
compiler) and the solved openings table it writes.

    python -m othello.solver [--plies 4]   # writes othello/data/openings4.json (each a 28-empty solve)

The table gives the perfect-play outcome of every position reachable in `plies` moves from the
start, one entry per position up to the 8 symmetries of the board. benchmarks/strength.py uses
it to tell which side of each random opening is lost by force.
"""
import ctypes
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402

SOURCE = Path(__file__).resolve().parent / "solver.c"
DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_VALUE = 64  # above any 6x6 disc difference


@lru_cache(maxsize=None)
def _library():
    """The compiled solver, built once per version of solver.c into the user's cache."""
    return load_library(SOURCE)


def load_library(source):
    """Compile a solver source (solver.c, or an older version of it for benchmarks/bench_solver.py)
    into the user's cache unless it is there already, and load it."""
    source = Path(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "othello-alphazero"
    path = cache / f"solver-{digest}.so"
    if not path.exists():
        compiler = os.environ.get("CC", "cc")
        if shutil.which(compiler) is None:
            raise RuntimeError(f"the exact solver needs a C compiler and `{compiler}` was not found: "
                               "install one (e.g. apt-get install gcc) or set CC")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:  # compile aside, then rename: atomic
            built = Path(scratch) / path.name
            # -march=native: the build is for this machine only, and its popcount instruction
            # makes the search 25% faster
            result = subprocess.run([compiler, "-O2", "-march=native", "-shared", "-fPIC", "-o", str(built), str(source)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"compiling {source} failed:\n{result.stderr}")
            os.replace(built, path)
    library = ctypes.CDLL(str(path))
    library.solve.restype = ctypes.c_int
    library.solve.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int, ctypes.c_int]
    if hasattr(library, "solve_exact"):  # older versions have only solve()
        library.solve_exact.restype = ctypes.c_int
        library.solve_exact.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int]
        library.nodes.restype = ctypes.c_uint64
        library.nodes.argtypes = []
        library.clear_table.restype = None
        library.clear_table.argtypes = []
    return library


def _checked(value):
    if value == -1000:
        raise MemoryError("the solver could not allocate its transposition table (128 MiB)")
    return value


def _solve(mine, theirs, alpha, beta):
    """Fail-soft: the exact value inside (alpha, beta), else a bound on the same side."""
    return _checked(_library().solve(int(mine), int(theirs), alpha, beta))


def exact_value(mine, theirs, guess=0):
    """Final disc difference for the side to move under perfect play (empties count for nobody).
    `guess`, a value expected near the answer, only changes how fast it comes."""
    return _checked(_library().solve_exact(int(mine), int(theirs), int(guess)))


def best_moves(mine, theirs, guess=0):
    """(value, actions): the exact value for the side to move and every legal action that keeps
    it (the pass when it is the only move); [] when the game is over. Each action is checked
    with one null-window search, far cheaper than its exact value."""
    rules = bitboard_rules(6)
    value = exact_value(mine, theirs, guess)
    actions = [int(a) for a in np.flatnonzero(rules.action_mask(mine, theirs))]
    if len(actions) <= 1:
        return value, actions
    # a move keeps the value v when the position after it is worth at most -v to the opponent
    keeps = [a for a in actions if _solve(*rules.next_position(mine, theirs, a), -value, -value + 1) <= -value]
    return value, keeps


def outcome(mine, theirs):
    """+1, 0 or -1: the side to move wins, draws or loses under perfect play."""
    return int(np.sign(_solve(mine, theirs, -1, 1)))


def move_values(mine, theirs):
    """{action: exact value for the side to move after that action} over its legal actions."""
    rules = bitboard_rules(6)
    mask = rules.action_mask(mine, theirs)
    return {int(a): -exact_value(*rules.next_position(mine, theirs, int(a))) for a in np.flatnonzero(mask)}


def move_outcomes(mine, theirs):
    """{action: +1, 0 or -1, the perfect-play outcome for the side to move after that action}
    over its legal actions: one null-window search each, far cheaper than move_values."""
    rules = bitboard_rules(6)
    mask = rules.action_mask(mine, theirs)
    return {int(a): -outcome(*rules.next_position(mine, theirs, int(a))) for a in np.flatnonzero(mask)}


def worsening_moves(line):
    """The plies of a game at which the side to move made its perfect-play outcome worse (a win
    let go to a draw or a loss, a draw to a loss). line: the game's positions in play order, each
    (mine, theirs) from its side to move's view, ending with the position after the last move
    (players alternate every ply, a pass being a move)."""
    outcomes = [outcome(mine, theirs) for mine, theirs in line]
    return [ply for ply in range(len(line) - 1) if -outcomes[ply + 1] < outcomes[ply]]


def board_string(mine, theirs):
    """The 36-letter board of solved6.json ('x' = the side to move, 'o', '.')."""
    return "".join("x" if mine >> i & 1 else "o" if theirs >> i & 1 else "." for i in range(36))


@lru_cache(maxsize=1)
def _symmetries():
    return OthelloGame(6).symmetry_permutations()[:, :36]


def symmetry_key(board):
    """The same string for a board and its 7 images under the square's symmetries."""
    letters = np.array(list(board))
    return min("".join(letters[perm]) for perm in _symmetries())


def reachable_positions(plies):
    """Every distinct (mine, theirs) after exactly `plies` moves from the start (a forced pass
    is a move; lines where the game ends sooner are left out, as in perft)."""
    rules = bitboard_rules(6)
    frontier = {(rules.start_mine, rules.start_theirs)}
    for _ in range(plies):
        frontier = {rules.next_position(mine, theirs, int(a)) for mine, theirs in frontier
                    for a in np.flatnonzero(rules.action_mask(mine, theirs))}
    return frontier


class OpeningTable:
    """Perfect-play outcomes of opening positions, looked up up to symmetry."""

    def __init__(self, plies=4, path=None):
        self.path = Path(path) if path else DATA_DIR / f"openings{plies}.json"
        try:
            data = json.loads(self.path.read_text())
            self.plies = data["plies"]
            self.outcomes = {p["board"]: int(p["outcome"]) for p in data["positions"]}
        except FileNotFoundError:
            shipped = " (the 4-ply one ships with the repo: git checkout -- it)" if plies == 4 and not path else ""
            raise FileNotFoundError(f"{self.path} is missing: `python -m othello.solver --plies {plies}` "
                                    f"builds it{shipped}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{self.path} is not a valid openings table: {error!r}") from None

    def outcome(self, mine, theirs):
        """Perfect-play outcome for the side to move, or None if the position is not in the table."""
        return self.outcomes.get(symmetry_key(board_string(mine, theirs)))

    def results_by_outcome(self, starts, disc_diffs):
        """A player's games split by what perfect play makes of its side of each opening.

        starts: {game: (mine, theirs, player_to_move)}, each game's position after the opening;
        disc_diffs: the player's final disc difference of each game. Returns {+1 / 0 / -1 (the
        opening is won / drawn / lost for the player): [wins, draws, losses]}."""
        tally = {1: [0, 0, 0], 0: [0, 0, 0], -1: [0, 0, 0]}
        for game, (mine, theirs, player_to_move) in starts.items():
            outcome = self.outcome(mine, theirs)
            if outcome is None:
                raise KeyError(f"an opening is missing from {self.path}: {board_string(mine, theirs)}")
            tally[outcome if player_to_move else -outcome][1 - int(np.sign(disc_diffs[game]))] += 1
        return tally


@dataclass
class SolverConfig:
    """Solve every position `plies` moves into the game (up to symmetry) and write the table."""

    plies: int = 4
    """moves from the start position (fewer moves: far slower positions)"""
    output: str = ""
    """where to write the table (default: othello/data/openings<plies>.json)"""
    workers: int = max(os.cpu_count() or 1, 1)
    """processes solving positions in parallel"""

    def __post_init__(self):
        if self.plies < 0 or self.workers < 1:
            raise ValueError(f"--plies must be >= 0 and --workers >= 1, got {self.plies} and {self.workers}")


def write_table(path, plies, outcomes):
    header = {"description": f"Perfect-play outcome of every 6x6 Othello position {plies} moves "
                             "into the game, one per position up to the board's 8 symmetries.",
              "board": "36 letters row by row from a1: 'x' = the side to move, 'o' = the opponent, "
                       "'.' = empty; the least of the position's symmetric images",
              "outcome": "+1 / 0 / -1: the side to move wins / draws / loses under perfect play",
              "command": f"python -m othello.solver --plies {plies}",
              "plies": plies, "count": len(outcomes)}
    rows = ",\n".join(json.dumps({"board": b, "outcome": o}) for b, o in sorted(outcomes.items()))
    text = json.dumps(header, indent=1)[:-2] + ',\n "positions": [\n' + rows + "\n ]\n}\n"  # a line each
    scratch = Path(f"{path}.tmp")
    scratch.write_text(text)
    os.replace(scratch, path)  # a kill never leaves half a table


def map_in_processes(function, jobs, workers):
    """`function` over `jobs`, yielding results in the jobs' order: in `workers` spawned processes
    (each with its own transposition table) when there is more than one worker and job."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(function, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(function, jobs)


def _solve_job(job):
    key, (mine, theirs) = job
    return key, outcome(mine, theirs)


def main():
    config = parse_config(SolverConfig)
    path = Path(config.output or DATA_DIR / f"openings{config.plies}.json")
    positions = {}
    for mine, theirs in reachable_positions(config.plies):
        positions.setdefault(symmetry_key(board_string(mine, theirs)), (mine, theirs))
    outcomes = {}
    if path.exists():  # resume: keep what an earlier, interrupted run solved
        outcomes = {b: o for b, o in OpeningTable(config.plies, path).outcomes.items() if b in positions}
    todo = [key for key in sorted(positions) if key not in outcomes]
    print(f"{len(positions)} positions after {config.plies} moves up to symmetry, {len(todo)} to solve")
    jobs = [(key, positions[key]) for key in todo]
    for key, result in tqdm(map_in_processes(_solve_job, jobs, config.workers), total=len(jobs), desc="solving",
                            unit="position"):
        outcomes[key] = result
        write_table(path, config.plies, outcomes)  # after each: a killed run loses one position
    counts = {o: sum(v == o for v in outcomes.values()) for o in (1, 0, -1)}
    print(f"{path}: side to move wins {counts[1]}, draws {counts[0]}, loses {counts[-1]}")


if __name__ == "__main__":
    main()
