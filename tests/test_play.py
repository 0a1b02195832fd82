"""othello/play.py end to end, as a user runs it: from the repo root and from othello/,
with moves typed on standard input."""
import json
import subprocess
import sys

from othello.squares import square_name
from tests.conftest import REPO


def run_play(args, stdin="", cwd=REPO):
    script = "play.py" if cwd != REPO else "othello/play.py"
    return subprocess.run([sys.executable, script, *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_engine_match_json_summary():
    done = run_play(["--games", "4", "--player", "alphabeta:2", "--opponent", "random", "--json"])
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["games"] == 4 == summary["wins"] + summary["losses"] + summary["draws"]
    assert len(summary["disc_diffs"]) == 4


def test_runs_from_inside_the_package_folder():
    done = run_play(["--games", "2", "--player", "greedy", "--opponent", "random"], cwd=REPO / "othello")
    assert done.returncode == 0, done.stderr
    assert "greedy vs random: " in done.stdout and "in 2 games" in done.stdout


def test_a_whole_human_game_through_stdin():
    # Each turn the player tries every square in order, then pass: illegal tries are
    # explained and re-asked, so the first legal square is played, through to the end.
    tries = "\n".join([square_name(a) for a in range(36)] + ["pass"]) + "\n"
    done = run_play(["--human", "--opponent", "random", "--color", "white"], stdin=tries * 40)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "is not a legal move. Legal moves:" in done.stdout
    assert any(verdict in done.stdout for verdict in ("You win", "You lose", "Draw"))


def test_garbage_then_end_of_input_ends_cleanly():
    done = run_play(["--human"], stdin="hello\nz9\n")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "'hello' is not a square" in done.stdout and "off the board" in done.stdout
    assert "Game abandoned (end of input)" in done.stdout


def test_bad_flags_are_explained():
    done = run_play([])
    assert done.returncode == 2 and "choose one mode" in done.stderr
    done = run_play(["--games", "2", "--opponent", "minimax"])
    assert done.returncode != 0 and "unknown player 'minimax'" in done.stderr
    done = run_play(["--human", "--color", "red"])
    assert done.returncode == 2 and "--color must be black or white" in done.stderr


def test_perfect_players_split_a_pair_of_games_evenly():
    """Perfect play against itself from a 14-ply opening (22 empties: quick to solve): each game
    of the pair ends at the opening's exact value, so the two results from one side cancel."""
    done = run_play(["--games", "2", "--player", "perfect", "--opponent", "perfect", "--opening-plies", "14",
                     "--json"])
    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout)["disc_diffs"]
    assert first == -second
