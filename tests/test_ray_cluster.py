"""Failures on a simulated two-node Ray cluster (ray.cluster_utils.Cluster: a head that runs
nothing and two worker nodes of one CPU each): a node killed mid-iteration costs only its calls,
and the iteration still ends with all its games, each once; a node killed mid-sweep costs only
its task, and the sweep still ends with every SAE."""
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import train_sae
from mcts import MCTSConfig
from NetworkWrapper import NetworkWrapper
from sae.export import load_saelens
from tests.test_ray import TINY_SWEEP, fast_probes, played_here, tiny_config  # noqa: F401 (a fixture)

ray = pytest.importorskip("ray", reason="the Ray tests need Ray: pip install -r requirements-ray.txt")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():  # tests/test_ray.py's local cluster, when it ran in this process
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def two_worker_nodes(cluster):
    """Brings the cluster (back) to two live worker nodes of one CPU each; returns them."""
    workers = [node for node in cluster.list_all_nodes() if node is not cluster.head_node]
    workers += [cluster.add_node(num_cpus=1) for _ in range(2 - len(workers))]
    cluster.wait_for_nodes()
    return workers


def until(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_node_killed_mid_iteration_costs_only_its_calls(cluster):
    from othello.ray_selfplay import SelfPlayPool
    nodes = two_worker_nodes(cluster)
    # Calls of about half a second, three per worker: the node goes within ms of getting its first.
    config, mcts_config = tiny_config(games_per_iteration=24, batch_games=4, num_simulations=8), MCTSConfig(num_simulations=8)
    network = NetworkWrapper(config.model_config(), config.train_config(), device="cpu")
    pool = SelfPlayPool(config, mcts_config, 2, 1)
    try:
        victim_id = ray.get(pool.workers[1].node_id.remote())
        victim = next(node for node in nodes if node.node_id == victim_id)
        with ThreadPoolExecutor(1) as executor:
            playing = executor.submit(pool.play, network.checkpoint(), 1)
            until(lambda: any(worker is pool.workers[1] for worker, _ in list(pool.running.values())))
            cluster.remove_node(victim, allow_graceful=False)
            examples, stats = playing.result(timeout=120)
    finally:
        pool.close()
    expected, expected_stats = played_here(config, mcts_config, network, 1)
    assert stats["retried_calls"] >= 1 and stats["games"] == 24
    assert stats["positions"] == expected_stats["positions"]
    for key in expected:  # every call's games exactly once, the lost ones replayed identically
        assert np.array_equal(examples[key], expected[key]), key


def test_a_node_killed_mid_sweep_costs_only_its_task(cluster, tiny_activations, tmp_path, fast_probes, monkeypatch):
    nodes = two_worker_nodes(cluster)
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 16)  # every SAE its own task: six tasks
    argv = ["--activations", str(tiny_activations[0]), "--out-dir", str(tmp_path), *TINY_SWEEP, "--steps", "300",
            "--l1-penalties", "1,2,3", "--ray"]
    sweep = threading.Thread(target=train_sae.main, args=(argv,))
    sweep.start()
    # The first SAE recorded: both nodes are busy with the next tasks, and one of them goes.
    until(lambda: any(tmp_path.glob("*/record.json")), seconds=120)
    cluster.remove_node(nodes[1], allow_graceful=False)
    sweep.join(timeout=180)
    assert not sweep.is_alive()
    names = [r["name"] for r in json.loads((tmp_path / "scaling.json").read_text())["records"]]
    assert sorted(names) == sorted(f"l1_lambda{p}_f{n}" for p in (1, 2, 3) for n in (32, 64))
    for name in names:
        record = json.loads((tmp_path / name / "record.json").read_text())
        assert record["steps"] == 300 and torch.isfinite(load_saelens(tmp_path / name).W_dec).all()
