"""Flags built from a config dataclass, and every script's --help."""
import importlib
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from othello.cli import field_docs, parse_config
from sae.activations import load_activations
from tests.conftest import REPO


@dataclass
class ToyConfig:
    """A toy."""

    num_games: int = 3
    """how many games"""
    rate: float = 0.5
    """a rate"""
    name: str = "x"
    """a name"""
    fast: bool = False
    """go fast"""

    def __post_init__(self):
        if self.num_games < 1:
            raise ValueError("--num-games must be at least 1")


def benchmark(name):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_defaults_and_overrides():
    assert parse_config(ToyConfig, []) == ToyConfig()
    config = parse_config(ToyConfig, ["--num-games", "7", "--rate", "2", "--name", "y", "--fast"])
    assert config == ToyConfig(7, 2.0, "y", True)
    assert parse_config(ToyConfig, ["--no-fast"]).fast is False


def test_help_comes_from_field_docstrings(capsys):
    assert field_docs(ToyConfig) == {"num_games": "how many games", "rate": "a rate",
                                     "name": "a name", "fast": "go fast"}
    with pytest.raises(SystemExit) as exit_info:
        parse_config(ToyConfig, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--num-games NUM_GAMES" in out and "how many games (default: 3)" in out


@pytest.mark.parametrize("argv, message", [
    (["--num-games", "0"], "--num-games must be at least 1"),
    (["--num-games", "many"], "invalid int value"),
    (["--colour", "red"], "unrecognized arguments"),
])
def test_bad_flags_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(ToyConfig, argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_every_script_answers_help_from_any_folder(tmp_path):
    """Each script the README names runs by its path from anywhere, not only as a module."""
    scripts = sorted(path for path in REPO.rglob("*.py")
                     if "tests" not in path.parts and not any(part.startswith(".") for part in path.parts)
                     and 'if __name__ == "__main__":' in path.read_text())
    assert len(scripts) >= 10  # the finder itself works
    runs = {path: subprocess.Popen([sys.executable, str(path), "--help"], cwd=tmp_path, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for path in scripts}
    failed = {}
    for path, run in runs.items():
        out, err = run.communicate(timeout=120)
        if run.returncode != 0 or "usage:" not in out:
            failed[str(path.relative_to(REPO))] = err.strip().splitlines()[-1:] or out[:200]
    assert not failed, failed


def test_benchmarks_refuse_nonsense_counts_as_usage_errors(tmp_path):
    cases = {("bench_engine.py", "--batch-size=0"): "--batch-size must be at least 1",
             ("bench_mcts.py", "--num-simulations=0"): "--num-simulations must be at least 1",
             ("bench_sae.py", "--widths=256,x"): "--widths takes comma-separated positive numbers",
             ("bench_viewer.py", "--repeats=0"): "--repeats must be at least 1",
             ("bench_solver.py", "--empties=20,x"): "--empties takes comma-separated counts from 1 to 31",
             ("strength.py", "--sims=0"): "--sims must be at least 1",
             ("sae_convergence.py", "--architectures=gated"): "--architectures takes l1, topk",
             ("sae_convergence.py", "--matryoshka-groups=12"): "matryoshka_groups must be in 1..log2",
             ("sae_convergence.py", "--p-end=1.5"): "p_end must be in",
             ("board_code.py", "--positions=0"): "--positions must be at least 1",
             ("bench_concepts.py", "--widths=16"): "--widths takes comma-separated widths of at least --l0"}
    runs = {case: subprocess.Popen([sys.executable, str(REPO / "benchmarks" / case[0]), case[1]], cwd=tmp_path,
                                   text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for case in cases}
    for case, run in runs.items():
        _, err = run.communicate(timeout=120)
        assert run.returncode == 2 and cases[case] in err, (case, err)


def test_concepts_benchmark_agrees_with_the_dense_version_it_replaced(tmp_path):
    """It fails if the two versions report different numbers. The baseline is read with git
    show, so a shallow clone without it skips."""
    if subprocess.run(["git", "cat-file", "-e", "33f5397:sae/concepts.py"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("the git history holding the baseline revision 33f5397 is not here (shallow clone)")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_concepts.py"), "--widths", "64,128",
                           "--positions", "400", "--l0", "4", "--threads", "1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[2:]]
    assert [row[0] for row in rows] == ["64", "128"] and all(row[3].endswith("x") for row in rows)


def test_solver_benchmark_runs_with_tiny_settings(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_solver.py"), "--no-start", "--empties",
                           "12,14", "--positions", "1", "--baseline", ""], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and lines[1].split() == ["empties", "value", "nodes", "new", "(s)"]


def test_sae_convergence_measures_each_architecture_along_its_run_and_resumes(tiny_activations, tmp_path, capsys):
    sae_convergence = benchmark("sae_convergence")
    out = tmp_path / "curves.json"
    flags = ["--activations", str(tiny_activations[0]), "--architectures", "l1,batchtopk", "--n-features", "32",
             "--k", "4", "--multiple", "0.002", "--points", "3", "--batch-size", "64", "--heldout", "100",
             "--threads", "1", "--out", str(out), "--plot", str(tmp_path / "curves.png")]
    sae_convergence.main(flags)
    results = json.loads(out.read_text())
    assert set(results["curves"]) == {"l1", "batchtopk"}
    for entry in results["curves"].values():
        seen = [p["activations_seen"] for p in entry["points"]]
        assert seen == sorted(seen) and seen[-1] == round(0.002 * sae_convergence.BASE_ACTIVATIONS / 64) * 64
        assert all(-1 < p["fve"] <= 1 and p["l0"] >= 0 for p in entry["points"])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    # finished: nothing trains again, the same numbers, whatever the threads and the plot's path
    sae_convergence.main([*flags[:-6], "--threads", "2", "--out", str(out), "--plot", str(tmp_path / "again.png")])
    assert json.loads(out.read_text())["curves"] == results["curves"]
    assert (tmp_path / "again.png").is_file()
    assert "batchtopk" not in capsys.readouterr().out.split("architecture")[0]  # no training lines before the table
    # written before a setting existed (here p_end): reused while the setting is at its default
    older = {**results, "config": {k: v for k, v in results["config"].items() if k != "p_end"}}
    out.write_text(json.dumps(older))
    sae_convergence.main([*flags[:-6], "--out", str(out), "--plot", ""])
    assert json.loads(out.read_text())["curves"] == results["curves"]
    sae_convergence.main([*flags[:-6], "--architectures", "l1", "--p-end", "0.5", "--out", str(out), "--plot", ""])
    assert set(json.loads(out.read_text())["curves"]) == {"l1"}  # another setting: started again


def test_sae_convergence_measures_the_end_of_the_run_last_even_alone():
    convergence = benchmark("sae_convergence")
    for points in (1, 2, 5):
        config = convergence.ConvergenceConfig(points=points, multiple=2)
        assert len(config.checkpoints()) == points and config.checkpoints()[-1] == config.steps()


def test_sae_convergence_takes_the_kl_term(tiny_activations, tmp_path):
    sae_convergence = benchmark("sae_convergence")
    flags = ["--activations", str(tiny_activations[0]), "--architectures", "batchtopk", "--n-features", "32",
             "--k", "4", "--multiple", "0.002", "--points", "2", "--batch-size", "64", "--heldout", "100",
             "--threads", "1", "--plot", ""]
    curves = {}
    for coefficient in ("0", "50"):
        out = tmp_path / f"kl{coefficient}.json"
        sae_convergence.main([*flags, "--kl-coefficient", coefficient, "--out", str(out)])
        curves[coefficient] = json.loads(out.read_text())["curves"]["batchtopk"]["points"][-1]
    assert curves["0"] != curves["50"]  # the same seed and batches: only the loss differs


def test_sae_convergence_measures_the_concepts_along_the_run_when_asked(tiny_activations, tmp_path, capsys):
    sae_convergence = benchmark("sae_convergence")
    out = tmp_path / "curves.json"
    sae_convergence.main(["--activations", str(tiny_activations[0]), "--architectures", "batchtopk", "--n-features",
                          "32", "--k", "4", "--multiple", "0.002", "--points", "2", "--batch-size", "64",
                          "--heldout", "100", "--concept-positions", "100", "--threads", "1", "--out", str(out),
                          "--plot", str(tmp_path / "curves.png")])
    points = json.loads(out.read_text())["curves"]["batchtopk"]["points"]
    for point in points:
        assert set(sae_convergence.CONCEPT_KEYS) <= point.keys()
        assert all(0 <= point[key] <= 1 for key in sae_convergence.CONCEPT_KEYS)
    table = capsys.readouterr().out.split("reconstruction mine / theirs / legal")[-1]
    assert f"{points[-1]['coverage']:.3f}" in table and f"{points[-1]['reconstruction_legal']:.2f}" in table


def test_board_code_measures_the_share_of_the_stream_linear_in_the_discs(tiny_activations, capsys):
    board_code = benchmark("board_code")
    rng = np.random.default_rng(0)
    boards = rng.integers(-1, 2, (5000, 36))
    discs = board_code.disc_inputs(boards)
    linear = discs @ rng.normal(size=(72, 8)) + rng.normal(size=8)
    noise = rng.normal(size=(5000, 8))
    mixed = linear + noise * linear.std(axis=0)  # half the variance linear
    share = {name: board_code.linear_share(discs[:4000], x[:4000], discs[4000:], x[4000:])
             for name, x in (("linear", linear), ("noise", noise), ("mixed", mixed))}
    assert share["linear"] == pytest.approx(1.0) and share["noise"] < 0.05
    assert share["mixed"] == pytest.approx(0.5, abs=0.05)
    board_code.main(["--activations", str(tiny_activations[0]), "--positions", "300"])
    out = capsys.readouterr().out
    assert "of the stream's variance is linear in the discs" in out and "every concept: FVE" in out
    fields, splits = ("boards", "last_move", "flipped", "resid_2"), []
    for split in ("train", "heldout"):
        arrays = load_activations(tiny_activations[0], split, fields)
        splits.append(tuple(np.asarray(arrays[field]) for field in fields))
    dictionaries = board_code.concept_dictionaries(*splits)
    (discs_fve, discs_l0), (legal_fve, legal_l0), (every_fve, every_l0) = dictionaries.values()
    assert discs_l0 == pytest.approx((splits[1][0] != 0).sum(axis=1).mean())  # the discs on the board
    assert discs_fve <= legal_fve + 0.01 and discs_l0 < legal_l0 < every_l0  # nested dictionaries
    held = load_activations(tiny_activations[0], "heldout", ["boards", "last_move", "flipped"])
    total, counts, n_concepts = board_code.concepts_per_position(**{k: np.asarray(v) for k, v in held.items()})
    assert counts["mine"] == pytest.approx((np.asarray(held["boards"]) == 1).sum(axis=1).mean())
    assert counts["mine"] + counts["theirs"] + counts["empty"] == pytest.approx(36)  # each square in one state
    assert counts["last_move"] <= 1 and total == pytest.approx(sum(counts.values())) and n_concepts == 11 * 36 + 9
