"""Self-play on Ray (train_alphazero.py --ray; docs/ray.md): a fixed pool of actors, each
playing the existing batched lockstep self-play (coach.self_play) on calls of --batch-games
games, with as many torch threads as the CPUs it was given.

A call's games depend only on (seed, iteration, first game index) and on the network the learner
published for the iteration (once, into the object store). So a call lost with its worker or
its node is played again, identically, by another worker: an iteration always ends with
exactly its games, each once, whatever the number of workers or failures.
"""
import time

import numpy as np
import torch

from coach import self_play
from NetworkWrapper import NetworkWrapper
from othello.bitboard import bitboard_rules
from othello.ray_cluster import cpus_given, require_ray

ray = require_ray()
# What a lost worker or node looks like to the learner: its call is handed to another worker.
# An exception raised by the games themselves (RayTaskError) is a bug and stops the run.
LOST = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.ObjectLostError)
PING_EVERY_S = 5.0  # how often a worker that lost a call is asked whether it is back


def calls(num_games, batch_games):
    """(first game, games) of each call of an iteration."""
    return [(first, min(batch_games, num_games - first)) for first in range(0, num_games, batch_games)]


def play_call(rules, predict, mcts_config, config, iteration, first, count):
    """One call's games: the same wherever and however often it runs."""
    rng = np.random.default_rng([config.seed, iteration, first])
    return self_play(rules, predict, mcts_config, count, count, config.temperature_moves, rng, False,
                     config.q_weight, config.solver_empties)


def merge(results):
    """One iteration's examples and stats from its calls' (examples, stats), in game order."""
    examples = {k: np.concatenate([e[k] for e, _ in results]) for k in results[0][0]}
    games = np.array([s["games"] for _, s in results])
    stats = {k: sum(s[k] for _, s in results) for k in ("games", "positions", "simulations", "solver_seconds")}
    stats["worker_seconds"] = sum(s["seconds"] + s["solver_seconds"] for _, s in results)  # time spent playing
    stats["black_score"] = float(np.dot(games, [s["black_score"] for _, s in results]) / games.sum())
    return examples, stats


@ray.remote(max_restarts=-1, max_task_retries=0)  # restarts itself; the pool re-hands its lost calls
class SelfPlayWorker:
    def __init__(self, config, mcts_config):
        torch.set_num_threads(cpus_given())
        self.config, self.mcts_config = config, mcts_config
        self.rules = bitboard_rules(6)
        self.network = NetworkWrapper(config.model_config(), config.train_config(), device="cpu")
        self.loaded = None  # the object id of the published network now loaded

    def node_id(self):
        return ray.get_runtime_context().get_node_id()

    def play(self, published, iteration, first, count):
        """`published` is [the network's ObjectRef]: wrapped in a list it arrives as a reference,
        fetched once per iteration rather than with every call."""
        if self.loaded != published[0].hex():
            self.network.load_state(ray.get(published[0]), "the learner's published network")
            self.loaded = published[0].hex()
        return play_call(self.rules, self.network.predict_batch, self.mcts_config, self.config, iteration, first, count)


class SelfPlayPool:
    """`num_workers` SelfPlayWorkers spread over the cluster, `cpus` each; play() is one
    iteration's self-play. close() ends them."""

    def __init__(self, config, mcts_config, num_workers, cpus):
        if not num_workers:  # as many as the cluster's CPUs allow
            num_workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
        self.config = config
        self.workers = [SelfPlayWorker.options(num_cpus=cpus, scheduling_strategy="SPREAD").remote(config, mcts_config)
                        for _ in range(num_workers)]
        self.pings = {}  # worker -> (ping, when sent): workers that lost a call, until they answer
        self.running = {}  # call's ObjectRef -> (worker, (first, count)), the calls in flight

    def play(self, checkpoint, iteration):
        """Self-play of `iteration` with the learner's network `checkpoint`: (examples, stats)
        as coach.self_play returns them, plus stats["retried_calls"]."""
        start = time.perf_counter()
        published = [ray.put(checkpoint)]
        todo = calls(self.config.games_per_iteration, self.config.batch_games)
        total, results, retried = len(todo), {}, 0
        idle = [w for w in self.workers if w not in self.pings]
        while len(results) < total:
            while todo and idle:
                worker, call = idle.pop(0), todo.pop(0)
                self.running[worker.play.remote(published, iteration, *call)] = (worker, call)
            if not self.running:  # every worker lost its call: wait for Ray to bring one back
                ray.wait([ping for ping, _ in self.pings.values()], num_returns=1, timeout=PING_EVERY_S)
                time.sleep(0.5)  # a ping to a worker still down fails at once
            ready, _ = ray.wait(list(self.running), num_returns=1, timeout=PING_EVERY_S) if self.running else ([], [])
            for ref in ready:
                worker, call = self.running.pop(ref)
                try:
                    results[call[0]] = ray.get(ref)
                    idle.append(worker)
                except LOST:
                    todo.insert(0, call)
                    retried += 1
                    self.pings[worker] = (worker.node_id.remote(), time.monotonic())
            idle += self._back()
        examples, stats = merge([results[first] for first in sorted(results)])
        return examples, stats | {"seconds": time.perf_counter() - start, "retried_calls": retried}

    def _back(self):
        """The workers that answered since they lost a call; pings again the others now and then."""
        back = []
        for worker, (ping, sent) in list(self.pings.items()):
            if ray.wait([ping], timeout=0)[0]:
                try:
                    ray.get(ping)
                    del self.pings[worker]
                    back.append(worker)
                    continue
                except LOST:
                    pass
                if time.monotonic() - sent > PING_EVERY_S:
                    self.pings[worker] = (worker.node_id.remote(), time.monotonic())
        return back

    def close(self):
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers, self.pings, self.running = [], {}, {}
