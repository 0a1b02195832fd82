"""Exact solver speed: the start position's solve, and the solver beside an earlier version of
itself on positions from games of alpha-beta depth 2, every solve of the current solver from an
empty transposition table.

    python benchmarks/bench_solver.py                      # about 2 minutes on one core
    python benchmarks/bench_solver.py --no-start --empties 20,22   # the comparison only
    python benchmarks/bench_solver.py --baseline 33f5397 --empties 24,26   # the last tuning, start included

The earlier version is `othello/solver.c` at the git revision `--baseline` (the solver before
MTD(f) by default), read with `git show` into a temporary file, so it needs the repo's git
history; `--baseline ''` skips it. A baseline with MTD(f) (33f5397 and later) is timed as the
current solver, from an empty table, on the start position too. An older one cannot clear its
table, so it keeps what it stored for the earlier positions (of other games: little that helps,
and if anything it favours the baseline).
"""
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello import solver  # noqa: E402
from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import AlphaBetaPlayer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@dataclass
class BenchSolverConfig:
    """Measure the exact solver's speed."""

    start: bool = True
    """time the start position's exact value (32 empties, about 90 s)"""
    empties: str = "20,22,24"
    """empty-square counts of the comparison positions (the baseline needs minutes beyond 24)"""
    positions: int = 3
    """comparison positions per empty-square count"""
    baseline: str = "e2ef5df"
    """git revision whose othello/solver.c is compared ('' for no comparison)"""
    seed: int = 0
    """seed of the random games the positions come from"""

    def __post_init__(self):
        require_at_least(self, 1, "positions")
        try:
            counts = self.empty_counts()
        except ValueError:
            counts = [-1]
        if not all(1 <= e <= 31 for e in counts):
            raise ValueError(f"--empties takes comma-separated counts from 1 to 31, got '{self.empties}'")

    def empty_counts(self):
        return [int(e) for e in self.empties.split(",") if e.strip()]


def sample_positions(counts, per_count, seed):
    """{empties: [(mine, theirs), ...]}: positions with a legal move for the side to move, from
    games of alpha-beta depth 2 against itself after 4 random plies (random games are lopsided,
    and lopsided positions solve fast)."""
    game, rng = OthelloGame(6), np.random.default_rng(seed)
    engine = AlphaBetaPlayer(game, depth=2, seed=seed)
    found = {e: [] for e in counts}
    while any(len(found[e]) < per_count for e in counts):
        board, player, ply = game.getInitBoard(), 1, 0
        while not game.getGameEnded(board, player):
            canonical = game.getCanonicalForm(board, player)
            mine, theirs = game.to_bitboards(canonical, 1)
            empties = int((canonical == 0).sum())
            if empties in found and len(found[empties]) < per_count and game.rules.legal_moves(mine, theirs):
                found[empties].append((mine, theirs))
            valid = np.flatnonzero(game.getValidMoves(canonical, 1))
            action = int(rng.choice(valid)) if ply < 4 else engine.play(canonical)
            board, player, ply = *game.getNextState(board, player, action), ply + 1
    return found


def timed(solve, mine, theirs):
    start = time.process_time()  # CPU time: the solver is single-threaded, and other work may share the machine
    value = solve(mine, theirs)
    return value, time.process_time() - start


def cold_solve(library, mine, theirs):
    """(value, nodes, seconds) for a solver with MTD(f) (the current one) from an empty table."""
    library.clear_table()
    nodes = library.nodes()
    value, seconds = timed(lambda m, t: library.solve_exact(int(m), int(t), 0), mine, theirs)
    return value, library.nodes() - nodes, seconds


def baseline_solver(revision, scratch):
    """(solve, cold): a function giving the exact value of a position with othello/solver.c at
    `revision`, and whether it starts each solve from an empty table as the current one does
    (the versions with MTD(f)); the older ones cannot clear their table."""
    text = subprocess.run(["git", "show", f"{revision}:othello/solver.c"], cwd=REPO, capture_output=True,
                          text=True)
    if text.returncode != 0:
        raise SystemExit(f"cannot read othello/solver.c at '{revision}': {text.stderr.strip()} "
                         "(pass --baseline '' to skip the comparison)")
    source = Path(scratch) / "solver_baseline.c"
    source.write_text(text.stdout)
    library = solver.load_library(source)
    if hasattr(library, "clear_table"):
        return (lambda mine, theirs: cold_solve(library, mine, theirs)[0]), True
    return (lambda mine, theirs: library.solve(mine, theirs, -solver.MAX_VALUE, solver.MAX_VALUE)), False


def main():
    config = parse_config(BenchSolverConfig)
    library = solver._library()
    solver.exact_value(0, 0)  # allocate the table now: first touching its memory is no part of a solve
    print("exact 6x6 solver (othello/solver.c): CPU seconds on one core; the current solver starts each solve from an empty table")
    counts = config.empty_counts()
    with tempfile.TemporaryDirectory() as scratch:
        old, old_cold = baseline_solver(config.baseline, scratch) if config.baseline else (None, False)
        if config.start:
            rules = bitboard_rules(6)
            value, nodes, seconds = cold_solve(library, rules.start_mine, rules.start_theirs)
            print(f"start position (32 empties): value {value:+d} for Black in {seconds:.1f} s, "
                  f"{nodes / 1e6:,.0f}M nodes ({nodes / seconds / 1e6:.1f}M nodes/s)", flush=True)
            if old_cold:  # side by side, so that the ratio holds on a busy machine (the older ones take hours)
                old_value, old_seconds = timed(old, rules.start_mine, rules.start_theirs)
                print(f"  {config.baseline}: value {old_value:+d} in {old_seconds:.1f} s "
                      f"(the current solver {old_seconds / seconds:.2f}x as fast)", flush=True)
        if not counts:
            return
        positions = sample_positions(counts, config.positions, config.seed)
        if old and not old_cold:  # it cannot clear its table: it touches its memory on a spare position first
            old(*sample_positions([counts[0]], 1, config.seed + 1)[counts[0]][0])
        header = f"{'empties':>7} {'value':>5} {'nodes':>9} {'new (s)':>8}"
        print(header + (f" {config.baseline + ' (s)':>14} {'speed-up':>8}" if old else ""))
        for empties in counts:
            for mine, theirs in positions[empties]:
                value, nodes, seconds = cold_solve(library, mine, theirs)
                line = f"{empties:7d} {value:+5d} {nodes / 1e6:8.2f}M {seconds:8.2f}"
                if old:
                    old_value, old_seconds = timed(old, mine, theirs)
                    if old_value != value:
                        raise SystemExit(f"the solvers disagree on {solver.board_string(mine, theirs)}: "
                                         f"{value} against {old_value}")
                    line += f" {old_seconds:14.2f} {old_seconds / seconds:7.1f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
