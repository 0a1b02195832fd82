"""benchmarks/strength.py: its search overrides and its flag checks."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def strength(*flags):
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "strength.py"), "--games", "2",
                           "--opponents", "random", "--sims", "2", "--threads", "1", *flags],
                          capture_output=True, text=True, timeout=300)


def test_search_overrides_are_applied_and_announced():
    plain, changed = strength(), strength("--fpu", "parent", "--c-puct", "1.0")
    assert plain.returncode == 0 and changed.returncode == 0, plain.stderr + changed.stderr
    assert "search changed" not in plain.stdout
    assert "(search changed: c_puct 1, unvisited moves valued at their position)" in changed.stdout
    assert "vs random" in changed.stdout and "solved positions: search exact" in changed.stdout


def test_bad_search_flags_are_usage_errors():
    done = strength("--fpu", "sometimes")
    assert done.returncode == 2 and "--fpu must be trained, parent or zero" in done.stderr
