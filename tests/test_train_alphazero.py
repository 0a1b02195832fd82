"""train_alphazero.py end to end with tiny settings: files, export, kill and resume."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from NetworkWrapper import NetworkWrapper
from tests.conftest import REPO

TINY = ["--games-per-iteration", "8", "--batch-games", "4", "--num-simulations", "4", "--width", "16",
        "--depth", "2", "--arena-games", "2", "--eval-games", "2", "--eval-alphabeta-depth", "1",
        "--window-iterations", "2", "--no-progress", "--threads", "1"]


def train(tmp_path, *args, wait=True):
    command = [sys.executable, str(REPO / "train_alphazero.py"), "--out-dir", str(tmp_path), *TINY, *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def comparable(records):
    return [{k: v for k, v in r.items() if not k.startswith("time/") and k != "selfplay/sims_per_s"} for r in records]


def test_a_tiny_run_writes_every_file_and_exports(tmp_path):
    export = tmp_path / "shipped" / "best.pth.tar"
    done = train(tmp_path, "--name", "run", "--iterations", "2", "--export", str(export),
                 "--accept-threshold", "0.01")  # accepts every decisive arena: a previous best exists
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "run"
    lines = [line for line in done.stdout.splitlines() if line.startswith("iter")]
    assert len(lines) == 2 and "solved exact" in lines[0] and "arena" in lines[0]
    assert json.loads((run_dir / "config.json").read_text())["iterations"] == 2
    assert [m["iteration"] for m in metrics(run_dir)] == [1, 2]
    for name in ("best.pth.tar", "latest.pth.tar"):
        checkpoint = torch.load(run_dir / name, weights_only=True)
        assert checkpoint["model_config"] == {"board_size": 6, "width": 16, "depth": 2}
        assert checkpoint["metadata"]["config"]["games_per_iteration"] == 8
    assert NetworkWrapper.load_checkpoint(export).model_config.width == 16
    previous = torch.load(export.with_name("previous_best.pth.tar"), weights_only=True)
    assert previous["metadata"]["config"]["margin_weight"] == 0.25  # play uses the run's search settings
    state = torch.load(run_dir / "resume.pt", weights_only=True)
    assert state["iteration"] == 2 and len(state["window"]) == 2


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    straight = train(tmp_path, "--name", "straight", "--iterations", "3")
    assert straight.returncode == 0, straight.stderr

    process = train(tmp_path, "--name", "killed", "--iterations", "3", wait=False)
    metrics_file = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 240
    while not (metrics_file.exists() and metrics_file.read_text().count("\n") >= 1):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # mid-iteration 2
    process.wait()
    assert len(metrics(tmp_path / "killed")) == 1

    resumed = train(tmp_path, "--name", "killed", "--iterations", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout and "after iteration 1" in resumed.stdout
    assert comparable(metrics(tmp_path / "killed")) == comparable(metrics(tmp_path / "straight"))
    a = torch.load(tmp_path / "killed" / "best.pth.tar", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "straight" / "best.pth.tar", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_and_name_clashes_are_explained(tmp_path):
    done = train(tmp_path, "--name", "none", "--resume")
    assert done.returncode != 0 and "nothing to resume" in done.stderr
    assert train(tmp_path, "--name", "once", "--iterations", "1").returncode == 0
    again = train(tmp_path, "--name", "once", "--iterations", "1")
    assert again.returncode != 0 and "pass --resume" in again.stderr
    # a resumed run keeps its settings: a flag that would change one is refused, not ignored
    changed = train(tmp_path, "--name", "once", "--iterations", "2", "--resume", "--width", "32")
    assert changed.returncode != 0 and "changes --width 32 (the run's: 16)" in changed.stderr
    assert metrics(tmp_path / "once")[-1]["iteration"] == 1


def test_a_damaged_resume_state_is_explained_and_kept(tmp_path):
    assert train(tmp_path, "--name", "run", "--iterations", "1").returncode == 0
    state = tmp_path / "run" / "resume.pt"
    damaged = state.read_bytes()[:1000]
    state.write_bytes(damaged)
    done = train(tmp_path, "--name", "run", "--iterations", "2", "--resume")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"resume state {state} is corrupt" in done.stderr and "start a new one with --name" in done.stderr
    assert state.read_bytes() == damaged  # nothing overwritten
    assert NetworkWrapper.load_checkpoint(tmp_path / "run" / "best.pth.tar").model_config.width == 16

    torch.save({"config": {}}, state)  # loads, but is not a run's state
    done = train(tmp_path, "--name", "run", "--iterations", "2", "--resume")
    assert done.returncode != 0 and "lacks ['iteration'," in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("flag, message", [("--iterations=0", "--iterations must be at least 1"),
                                           ("--accept-threshold=2", "--accept-threshold must be in"),
                                           ("--solver-empties=20", "--solver-empties must be in [0, 16]")])
def test_bad_flags(tmp_path, flag, message):
    done = train(tmp_path, flag)
    assert done.returncode == 2 and message in done.stderr


def test_help():
    done = subprocess.run([sys.executable, str(REPO / "train_alphazero.py"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--num-simulations" in done.stdout and "--resume" in done.stdout
