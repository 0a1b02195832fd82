"""benchmarks/strength.py: its search overrides, its flag checks and its traces of the games not won."""
import importlib.util
import subprocess
import sys
from pathlib import Path

from othello.bitboard import bitboard_rules
from tests.test_solver import worsening_line

REPO = Path(__file__).resolve().parent.parent


def strength(*flags):
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "strength.py"), "--games", "2",
                           "--opponents", "random", "--sims", "2", "--threads", "1", *flags],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def test_search_overrides_are_applied_and_announced():
    plain, changed = strength(), strength("--fpu", "parent", "--c-puct", "1.0")
    assert plain.returncode == 0 and changed.returncode == 0, plain.stderr + changed.stderr
    assert plain.stdout.startswith("othello/pretrained/best.pth.tar, 2 simulations per move")  # as the README quotes it
    assert "search changed" not in plain.stdout
    assert "(search changed: c_puct 1, unvisited moves valued at their position)" in changed.stdout
    assert "vs random" in changed.stdout and "solved positions: search exact" in changed.stdout


def test_no_opponents_measures_the_solved_positions_only():
    done = strength("--opponents", "")
    assert done.returncode == 0, done.stderr
    assert " vs " not in done.stdout and "solved positions: search exact" in done.stdout


def test_bad_flags_are_usage_errors():
    done = strength("--fpu", "sometimes")
    assert done.returncode == 2 and "--fpu must be trained, parent or zero" in done.stderr
    for flag, message in (("--sims=0", "--sims must be at least 1, got 0"), ("--games=0", "--games must be at least 1"),
                          ("--opening-plies=-1", "--opening-plies must be at least 0")):
        done = strength(flag)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_a_bad_opponent_fails_before_any_match():
    done = strength("--opponents", "random,nobody")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "error: --opponents: unknown player 'nobody'" in done.stderr and " vs " not in done.stdout


def load_strength():
    spec = importlib.util.spec_from_file_location("strength", REPO / "benchmarks" / "strength.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trace_results_names_who_let_an_outcome_go_in_the_games_not_won():
    rules = bitboard_rules(6)
    start, best, worst, _, worst_reply = worsening_line()
    after_worst = tuple(int(x) for x in rules.next_position(*start, worst))
    game_moves = {0: [(*start, True, worst), (*after_worst, False, worst_reply)],  # both let it go
                  1: [(*start, True, worst)],  # won in the end: not traced
                  2: [(*start, False, best)]}  # the opponent, to move, kept its win
    trace_results = load_strength().trace_results
    lines = trace_results(rules, game_moves, [-2, 4, -6], opening_plies=4)
    assert trace_results(rules, game_moves, [-2, 4, -6], opening_plies=4, workers=2) == lines  # in parallel
    assert lines == ["  games it did not win: 2; solved move by move, the opponent made its own outcome worse "
                     "in 1 of them, the agent in 1",
                     "    game 0 (-2): the agent at ply 5, the opponent at ply 6"]


def test_perfect_opponent_from_a_late_opening():
    done = strength("--opponents", "perfect", "--opening-plies", "16")
    assert done.returncode == 0, done.stderr
    assert "vs perfect" in done.stdout and "no split by perfect play" in done.stdout
