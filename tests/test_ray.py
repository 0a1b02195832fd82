"""The --ray paths on one local Ray cluster shared by these tests (2 CPUs): self-play by a pool
of workers, train_alphazero.py --ray with --resume, train_sae.py --ray against the single-process
sweep; the flags' errors; and that the single-process default never imports Ray.
tests/test_ray_cluster.py kills nodes of a simulated two-node cluster."""
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import train_alphazero
import train_sae
from mcts import MCTSConfig
from NetworkWrapper import NetworkWrapper
from othello.bitboard import bitboard_rules
from sae.export import load_saelens
from tests.conftest import REPO

TINY_AZ = ["--games-per-iteration", "8", "--batch-games", "4", "--num-simulations", "4", "--width", "16",
           "--depth", "2", "--arena-games", "2", "--eval-games", "2", "--eval-alphabeta-depth", "1",
           "--window-iterations", "2", "--no-progress", "--threads", "1"]
# Width 32 trains as one vmap group (one task), width 64 one SAE at a time (a task each).
TINY_SWEEP = ["--profile", "quick", "--steps", "30", "--batch-size", "64", "--l1-penalties", "1,3",
              "--n-features", "32,64", "--architectures", "", "--no-progress"]
# The concept probes are the slowest part of a tiny sweep and the same on both paths (the
# driver fits them): fewer steps keep these tests short.
FAST_PROBES = "import functools, sae.concept_data as c; c.fit_probes = functools.partial(c.fit_probes, steps=5)"
TIMING = ("train_seconds", "activations_per_s")


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray", reason="the Ray tests need Ray: pip install -r requirements-ray.txt")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never an existing one
    yield ray
    ray.shutdown()


@pytest.fixture
def fast_probes(monkeypatch):
    from sae import concept_data
    monkeypatch.setattr(concept_data, "fit_probes", functools.partial(concept_data.fit_probes, steps=5))


@pytest.fixture(scope="module")
def single_process(tiny_activations, tmp_path_factory):
    """A tiny single-process sweep and training run in a fresh interpreter, which must never have
    imported Ray."""
    out = tmp_path_factory.mktemp("single")
    sweep = ["--activations", str(tiny_activations[0]), "--out-dir", str(out / "saes"), *TINY_SWEEP]
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); {FAST_PROBES}\n"
            "import train_alphazero, train_sae\n"
            f"train_sae.GROUP_MAX_FEATURES = 32; train_sae.main({sweep!r})\n"
            f"train_alphazero.main({['--out-dir', str(out), '--iterations', '1', *TINY_AZ]!r})\n"
            "assert 'ray' not in sys.modules, 'the single-process path imported ray'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_single_process_path_never_imports_ray(single_process):
    assert (single_process / "saes" / "scaling.json").is_file() and (single_process / "alphazero" / "best.pth.tar").is_file()


def tiny_config(**changes):
    return train_alphazero.AlphaZeroConfig(**{"games_per_iteration": 10, "batch_games": 4, "num_simulations": 4,
                                              "width": 16, "depth": 2, "ray": True, **changes})


def played_here(config, mcts_config, network, iteration):
    """The iteration's calls played in this process, one thread as each worker: the reference."""
    from othello.ray_selfplay import calls, merge, play_call
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return merge([play_call(bitboard_rules(6), network.predict_batch, mcts_config, config, iteration, first, count)
                      for first, count in calls(config.games_per_iteration, config.batch_games)])
    finally:
        torch.set_num_threads(threads)


def test_a_pool_plays_every_game_once_as_the_calls_play_here(ray):
    from othello.ray_selfplay import SelfPlayPool
    config, mcts_config = tiny_config(), MCTSConfig(num_simulations=4)
    network = NetworkWrapper(config.model_config(), config.train_config(), device="cpu")
    pool = SelfPlayPool(config, mcts_config, 2, 1)
    try:
        for iteration in (1, 2):  # a new network each iteration: the workers load the new one
            torch.manual_seed(iteration)
            network.load_state(NetworkWrapper(config.model_config(), device="cpu").checkpoint())
            examples, stats = pool.play(network.checkpoint(), iteration)
            expected, expected_stats = played_here(config, mcts_config, network, iteration)
            assert stats["games"] == 10 and stats["retried_calls"] == 0
            assert stats["positions"] == expected_stats["positions"] == len(examples["boards"])
            for key in expected:
                assert np.array_equal(examples[key], expected[key]), key
            assert stats["black_score"] == pytest.approx(expected_stats["black_score"])
    finally:
        pool.close()


def test_a_crashed_worker_restarts_its_lost_call_is_replayed_and_it_rejoins_the_pool(ray):
    import time
    from concurrent.futures import ThreadPoolExecutor

    from othello.ray_selfplay import SelfPlayPool
    config = tiny_config(games_per_iteration=12, batch_games=2, num_simulations=8)
    mcts_config = MCTSConfig(num_simulations=8)
    network = NetworkWrapper(config.model_config(), config.train_config(), device="cpu")
    pool = SelfPlayPool(config, mcts_config, 2, 1)
    try:
        victim = pool.workers[1]
        ray.get(victim.node_id.remote())  # started
        with ThreadPoolExecutor(1) as executor:
            playing = executor.submit(pool.play, network.checkpoint(), 1)
            deadline = time.monotonic() + 60
            while not any(worker is victim for worker, _ in list(pool.running.values())):
                assert time.monotonic() < deadline, "the worker never got a call"
                time.sleep(0.01)
            ray.kill(victim, no_restart=False)  # its process dies mid-call; Ray starts it again
            examples, stats = playing.result(timeout=120)
        expected, expected_stats = played_here(config, mcts_config, network, 1)
        assert stats["retried_calls"] >= 1 and stats["games"] == 12
        for key in expected:  # the lost call replayed identically, nothing twice
            assert np.array_equal(examples[key], expected[key]), key
        # The restarted worker comes back into the rotation once it answers a ping (sent again
        # every PING_EVERY_S while it is down): later iterations play in full meanwhile.
        deadline = time.monotonic() + 120
        while pool.pings:
            assert time.monotonic() < deadline, "the restarted worker never rejoined"
            _, stats = pool.play(network.checkpoint(), 2)
            assert stats["games"] == 12 and stats["retried_calls"] == 0
        _, stats = pool.play(network.checkpoint(), 3)  # both workers in the rotation again
        assert stats["games"] == 12 and stats["retried_calls"] == 0 and not pool.pings
    finally:
        pool.close()


def test_train_alphazero_on_ray_resumes_as_an_uninterrupted_run(ray, tmp_path, capsys):
    def run(name, *extra):
        train_alphazero.main(["--out-dir", str(tmp_path), "--name", name, *TINY_AZ, *extra])
        return [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]

    straight = run("straight", "--iterations", "2", "--ray", "--ray-workers", "2")
    assert "self-play on Ray: 2 workers, 1 CPUs each" in capsys.readouterr().out
    run("resumed", "--iterations", "1", "--ray", "--ray-workers", "1")
    resumed = run("resumed", "--iterations", "2", "--resume")  # goes on on Ray, a worker per CPU
    assert "self-play on Ray: 2 workers" in capsys.readouterr().out

    def comparable(records):
        return [{k: v for k, v in r.items() if not k.startswith("time/") and k != "selfplay/sims_per_s"} for r in records]

    assert comparable(resumed) == comparable(straight)  # and independent of the number of workers
    assert [m["selfplay/games"] for m in straight] == [8, 8] and straight[0]["selfplay/retried_calls"] == 0
    a = torch.load(tmp_path / "straight" / "best.pth.tar", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "best.pth.tar", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def sweep_outputs(out):
    scaling = json.loads((out / "scaling.json").read_text())
    return scaling, {r["name"]: load_saelens(out / r["name"]) for r in scaling["records"]}


def test_the_sweep_on_ray_equals_the_single_process_sweep_and_reruns_nothing(
        ray, single_process, tiny_activations, tmp_path, fast_probes, monkeypatch):
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
    argv = ["--activations", str(tiny_activations[0]), "--out-dir", str(tmp_path), *TINY_SWEEP, "--ray"]
    train_sae.main(argv)
    scaling, saes = sweep_outputs(tmp_path)
    expected_scaling, expected_saes = sweep_outputs(single_process / "saes")
    assert list(saes) == list(expected_saes) == ["l1_lambda1_f32", "l1_lambda3_f32", "l1_lambda1_f64", "l1_lambda3_f64"]
    for name, sae in saes.items():  # one thread per task against two here: float tolerance
        expected = expected_saes[name].state_dict()
        for key, value in sae.state_dict().items():
            torch.testing.assert_close(value, expected[key], rtol=1e-4, atol=1e-5)
    for record, expected in zip(scaling["records"], expected_scaling["records"]):
        assert record.keys() == expected.keys()
        for key in record.keys() - set(TIMING):
            assert record[key] == (pytest.approx(expected[key], rel=1e-3, abs=1e-4)
                                   if isinstance(expected[key], float) else expected[key]), key
    assert scaling["config"]["ray"] and not expected_scaling["config"]["ray"]

    written = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*/*")}
    train_sae.main(argv)  # every SAE finished: nothing trained, nothing rewritten
    assert {path: path.stat().st_mtime_ns for path in tmp_path.glob("*/*")} == written
    assert json.loads((tmp_path / "scaling.json").read_text())["records"] == scaling["records"]


@pytest.mark.parametrize("script, flags, message", [
    (train_alphazero, ["--ray-workers", "2"], "set up --ray: add --ray"),
    (train_alphazero, ["--ray-address", "10.0.0.1:6379"], "set up --ray: add --ray"),
    (train_alphazero, ["--ray", "--ray-workers", "-1"], "--ray-workers must be at least 0"),
    (train_sae, ["--ray-cpus", "2"], "set up --ray: add --ray"),
    (train_sae, ["--ray", "--ray-cpus", "0"], "--ray-cpus must be at least 1")])
def test_ray_flags_without_ray_are_usage_errors(script, flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        script.main(flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_ray_not_installed_names_the_requirements_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(SystemExit) as exit:
        train_sae.main(["--ray", "--out-dir", str(tmp_path)])
    assert "pip install -r requirements-ray.txt" in str(exit.value)
    with pytest.raises(SystemExit) as exit:
        train_alphazero.main(["--ray", "--out-dir", str(tmp_path), *TINY_AZ])
    assert "pip install -r requirements-ray.txt" in str(exit.value)


@pytest.mark.parametrize("script", [train_alphazero, train_sae])
def test_help_lists_the_ray_flags(script, capsys):
    with pytest.raises(SystemExit) as exit:
        script.main(["--help"])
    said = capsys.readouterr().out
    assert exit.value.code == 0 and "--ray-address" in said and "--ray-cpus" in said


def test_an_address_where_nothing_listens_fails_fast():
    from othello.ray_cluster import RaySetupError, check_listening
    with pytest.raises(RaySetupError, match="no Ray cluster answers at 127.0.0.1:1 .*ray start --head"):
        check_listening("127.0.0.1:1")
