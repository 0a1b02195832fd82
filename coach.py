"""Self-play training of the AlphaZero agent: iterations of batched self-play, a sliding
window of recent examples, training, an arena that gates the new network against the best
one, and evaluation against classic engines and against perfect play.

The newest network plays the self-play games (as in AlphaZero) and keeps training whatever
the arena says; the arena decides which network is the best, the one evaluated and shipped.
Generating the data with the gated best network instead (AlphaGo Zero) stalled here: a
40-game arena rarely detects one iteration's progress, and while the best network stays the
same the candidate only learns to imitate it (seven rejections in a row in one trial run).

Resume state (`<run_dir>/resume.pt`, written atomically at the end of every iteration and
loadable with `torch.load(..., weights_only=True)`):
    {"iteration": last completed iteration, "network": checkpoint of the newest network,
     "optimizer": its Adam state, "best": checkpoint of the best network, "previous_best":
     the best network before it (or None), "window": [{"boards", "pis", "values"} tensors per
     iteration], "history": [metrics dict per iteration], "config": the run's config}
Each iteration draws its randomness from (seed, iteration), so a resumed run replays exactly.
"""
import math
import time
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from mcts import BatchedMCTS, MCTSConfig, SearchActor, disc_value, final_result, search_actions
from NetworkWrapper import CheckpointError, NetworkWrapper, atomic_save, load_weights_only
from othello.arena import PlayerActor, play_match
from othello.OthelloPlayers import make_player
from othello.solved import load_solved_positions, score_moves


def iteration_rng(seed, iteration):
    """The one place randomness is seeded: numpy and torch, per (seed, iteration)."""
    torch.manual_seed(seed * 1_000_003 + iteration)
    return np.random.default_rng([seed, iteration])


def sample_actions(visits, temperature_on, rng):
    """Visit-proportional sampling (temperature 1) where `temperature_on`, else the most
    visited action (temperature 0, ties to the lowest index)."""
    cumulative = np.cumsum(visits, axis=1)  # integer counts: exact
    draws = rng.integers(0, cumulative[:, -1])
    sampled = np.argmax(cumulative > draws[:, None], axis=1)
    return np.where(temperature_on, sampled, np.argmax(visits, axis=1))


def self_play(rules, predict, mcts_config, num_games, batch_size, temperature_moves, rng, progress=True,
              q_weight=0.0, solver_empties=0):
    """Play `num_games` games of the network against itself, `batch_size` in lockstep.

    Returns (examples, stats): examples = dict of boards (M, n*n) int8 canonical, pis (M, A)
    float32 visit distributions, values (M,) float32 value targets for the side to move:
    (1 - q_weight) * final result + q_weight * the root's search value (averaging in the search
    value lowers the variance of the outcome target); stats = games, positions, simulations,
    seconds, black_score, solver_seconds. With `solver_empties` > 0 the endgame is scored
    exactly (see exact_endgame_targets)."""
    boards, pis, root_values, game_of, colour_of = [], [], [], [], []
    black_result = np.zeros(num_games)
    simulations, start = 0, time.perf_counter()
    bar = tqdm(total=num_games, desc="self-play", unit="game", disable=not progress, leave=False)
    for first in range(0, num_games, batch_size):
        games = np.arange(first, min(first + batch_size, num_games))
        colour = np.ones(len(games))  # +1 when black is to move
        mcts = BatchedMCTS(rules, predict, mcts_config)
        mcts.reset(np.full(len(games), rules.start_mine, np.uint64), np.full(len(games), rules.start_theirs, np.uint64))
        ply = 0
        while len(games):
            visits = mcts.search(rng, add_noise=True)
            simulations += mcts_config.num_simulations * len(games)
            mine, theirs = mcts.mine[:, 0], mcts.theirs[:, 0]
            boards.append(rules.to_boards(mine, theirs).reshape(len(games), -1))
            pis.append((visits / visits.sum(axis=1, keepdims=True)).astype(np.float32))
            root_values.append(mcts.root_value())
            game_of.append(games)
            colour_of.append(colour)
            actions = sample_actions(visits, ply < temperature_moves, rng)
            next_mine, next_theirs = rules.next_position(mine, theirs, actions)
            over = rules.is_over(next_mine, next_theirs)
            # The next position is the opponent's view: its result is minus the mover's.
            black_result[games[over]] = -colour[over] * final_result(next_mine[over], next_theirs[over], rules.num_squares,
                                                                     mcts_config.margin_weight)
            mcts.advance(actions)
            mcts.keep(np.flatnonzero(~over))
            games, colour, ply = games[~over], -colour[~over], ply + 1
            bar.update(int(over.sum()))
    bar.close()
    game_of, colour_of = np.concatenate(game_of), np.concatenate(colour_of)
    boards = np.concatenate(boards).astype(np.int8)
    seconds, solver_start = time.perf_counter() - start, time.perf_counter()
    exact = np.full(len(game_of), np.nan)
    if solver_empties:
        exact, exact_black_result = exact_endgame_targets(rules, boards, game_of, colour_of, solver_empties,
                                                          mcts_config.margin_weight)
        black_result = np.where(np.isnan(exact_black_result), black_result, exact_black_result)
    outcome = colour_of * black_result[game_of]
    values = (1 - q_weight) * outcome + q_weight * np.concatenate(root_values)
    values = np.where(np.isnan(exact), values, exact)
    examples = {"boards": boards, "pis": np.concatenate(pis), "values": values.astype(np.float32)}
    stats = {"games": num_games, "positions": len(game_of), "simulations": simulations, "seconds": seconds,
             "solver_seconds": time.perf_counter() - solver_start,
             "black_score": float(np.mean((np.sign(black_result) + 1) / 2))}
    return examples, stats


def exact_endgame_targets(rules, boards, game_of, colour_of, max_empties, margin_weight):
    """Endgame tablebase scoring of self-play by the exact solver (othello/solver.py): positions
    with at most `max_empties` empty squares get their perfect-play value as the value target,
    and every game that reached one gets, as its result, what perfect play makes of its first
    such position, instead of the result its own play reached: the endgame's blunders no longer
    add noise to the targets of the middle game.

    boards (M, n*n) canonical, in play order within each game; game_of, colour_of (M,) the game
    and the side to move (+1 black) of each. Returns (exact (M,) with NaN where the position was
    not solved, black_result (num_games,) exact result for black, NaN where no position was)."""
    from othello import solver  # compiles the solver on first use: only runs that ask need a C compiler

    exact = np.full(len(boards), np.nan)
    black_result = np.full(int(game_of.max()) + 1 if len(game_of) else 0, np.nan)
    rows = np.flatnonzero((boards == 0).sum(axis=1) <= max_empties)
    for i, mine, theirs in zip(rows, *rules.from_boards(boards[rows])):
        exact[i] = disc_value(solver.exact_value(int(mine), int(theirs)), rules.num_squares, margin_weight)
        if np.isnan(black_result[game_of[i]]):  # the game's first solved position
            black_result[game_of[i]] = colour_of[i] * exact[i]
    return exact, black_result


def evaluate(game, predict, mcts_config, num_games, opponents, opening_plies, rng, solved_positions):
    """Match results against classic engines, and the perfect-play yardstick for the search
    and for the raw policy (the network alone). Returns namespaced metrics."""
    rules, metrics = game.rules, {}
    agent = SearchActor(rules, predict, mcts_config)
    for spec in opponents:
        opponent = PlayerActor(rules, make_player(spec, game, seed=int(rng.integers(1 << 30))))
        result = play_match(rules, agent, opponent, num_games, opening_plies, rng)
        metrics[f"eval/{spec}_score"] = result.score
    mine, theirs = rules.from_boards(np.stack([p.board for p in solved_positions]))
    search_score = score_moves(solved_positions, search_actions(rules, predict, mcts_config, mine, theirs)[0])
    pi, _ = predict(rules.to_boards(mine, theirs).reshape(len(mine), -1).astype(np.float32))
    policy_moves = np.argmax(np.where(rules.action_mask(mine, theirs) > 0, pi, -1.0), axis=1)
    policy_score = score_moves(solved_positions, policy_moves)
    metrics.update({"solved/exact": search_score.exact_rate, "solved/critical_outcome": search_score.critical_outcome_rate,
                    "solved/policy_exact": policy_score.exact_rate,
                    "solved/policy_critical_outcome": policy_score.critical_outcome_rate})
    return metrics


def learning_rate(config, iteration):
    """Cosine decay from `lr` at the first iteration to `lr_final` at the last."""
    progress = (iteration - 1) / max(config.iterations - 1, 1)
    return config.lr_final + 0.5 * (config.lr - config.lr_final) * (1 + math.cos(math.pi * progress))


RESUME_KEYS = ("iteration", "network", "optimizer", "best", "previous_best", "window", "history", "config")


def read_resume_state(path):
    """A run's resume state, loaded safely (weights_only); a damaged file is a CheckpointError
    that names it. Saves are atomic, so only something outside the run damages one."""
    state = load_weights_only(path, "resume state", remedy=", so the run cannot continue from it: start a new one "
                              "with --name (this run's .pth.tar files are separate and still load)")
    missing = [key for key in RESUME_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"resume state {path} lacks {missing}: it was not written by train_alphazero.py")
    return state


def saved_config(resume_path):
    """The config dict a run's resume state was written with."""
    return read_resume_state(resume_path)["config"]


class Coach:
    """Runs the training iterations; `learn()` yields each iteration's metrics."""

    def __init__(self, game, config, run_dir, progress=True):
        self.game, self.rules, self.config, self.run_dir, self.progress = game, game.rules, config, run_dir, progress
        self.selfplay_pool = None  # under --ray, othello/ray_selfplay.py's pool plays the games
        self.mcts_config = MCTSConfig(config.num_simulations, config.c_puct, config.dirichlet_alpha,
                                      config.dirichlet_fraction, config.margin_weight, config.fpu_parent_value)
        iteration_rng(config.seed, 0)  # seeds the initial weights
        self.network = NetworkWrapper(config.model_config(), config.train_config())
        self.best = NetworkWrapper(config.model_config(), config.train_config())
        self.best.load_state(self.network.checkpoint())
        self.previous_best = None
        self.window, self.history, self.iteration, self.best_iteration = [], [], 0, 0
        self.symmetries = game.symmetry_permutations()
        self.solved_positions = load_solved_positions()

    @property
    def resume_path(self):
        return self.run_dir / "resume.pt"

    def save(self):
        atomic_save({"iteration": self.iteration, "network": self.network.checkpoint(self.iteration),
                     "optimizer": self.network.optimizer.state_dict(),
                     "best": self.best.checkpoint(self.best_iteration, {"role": "best"}),
                     "previous_best": self.previous_best,
                     "window": [{k: torch.from_numpy(v) for k, v in examples.items()} for examples in self.window],
                     "history": self.history, "config": asdict(self.config)}, self.resume_path)

    def load(self):
        state = read_resume_state(self.resume_path)
        self.network.load_state(state["network"], f"{self.resume_path} (network)")
        self.network.optimizer.load_state_dict(state["optimizer"])
        self.best.load_state(state["best"], f"{self.resume_path} (best)")
        self.previous_best = state["previous_best"]
        self.window = [{k: v.numpy() for k, v in examples.items()} for examples in state["window"]]
        self.history, self.iteration = state["history"], state["iteration"]
        self.best_iteration = state["best"]["iteration"]

    def learn(self):
        config = self.config
        while self.iteration < config.iterations:
            start = time.perf_counter()
            iteration = self.iteration + 1
            rng = iteration_rng(config.seed, iteration)
            for group in self.network.optimizer.param_groups:
                group["lr"] = learning_rate(config, iteration)
            if self.selfplay_pool is not None:  # the newest network, published to the workers
                examples, play_stats = self.selfplay_pool.play(self.network.checkpoint(), iteration)
            else:
                examples, play_stats = self_play(self.rules, self.network.predict_batch, self.mcts_config,
                                                 config.games_per_iteration, config.batch_games,
                                                 config.temperature_moves, rng, self.progress, config.q_weight,
                                                 config.solver_empties)
            self.window = (self.window + [examples])[-config.window_iterations:]
            data = {k: np.concatenate([e[k] for e in self.window]) for k in examples}
            steps = max(1, int(config.train_epochs * len(data["values"]) / config.batch_size))
            losses = self.network.train(data["boards"], data["pis"], data["values"], steps, rng, self.symmetries)

            arena = play_match(self.rules, SearchActor(self.rules, self.network.predict_batch, self.mcts_config),
                               SearchActor(self.rules, self.best.predict_batch, self.mcts_config),
                               config.arena_games, config.opening_plies, rng)
            decisive = arena.wins + arena.losses
            accepted = decisive > 0 and arena.wins / decisive >= config.accept_threshold
            if accepted:
                self.previous_best = self.best.checkpoint(self.best_iteration, {"role": "previous_best"})
                self.best.load_state(self.network.checkpoint())
                self.best_iteration = iteration
            if accepted or not self.history:
                evaluation = evaluate(self.game, self.best.predict_batch, self.mcts_config, config.eval_games,
                                      config.eval_opponents(), config.opening_plies, rng, self.solved_positions)
            else:  # the best network is unchanged: so is its evaluation
                evaluation = {k: v for k, v in self.history[-1].items() if k.startswith(("eval/", "solved/"))}
            metrics = dict(evaluation)
            metrics.update({
                "iteration": iteration, "selfplay/games": play_stats["games"],
                "selfplay/positions": play_stats["positions"],
                "selfplay/sims_per_s": play_stats["simulations"] / play_stats["seconds"],
                "selfplay/black_score": play_stats["black_score"], "train/steps": steps,
                "train/window_positions": len(data["values"]), "train/policy_loss": losses["policy_loss"],
                "train/value_loss": losses["value_loss"], "arena/wins": arena.wins, "arena/losses": arena.losses,
                "arena/draws": arena.draws, "arena/accepted": accepted, "arena/best_iteration": self.best_iteration,
                "time/iteration_s": time.perf_counter() - start, "time/solver_s": play_stats["solver_seconds"],
                "time/selfplay_s": play_stats["seconds"],
            })
            if "retried_calls" in play_stats:  # calls lost with a Ray worker and played again
                metrics["selfplay/retried_calls"] = play_stats["retried_calls"]
            self.iteration = iteration
            self.history.append(metrics)
            self.save()
            yield metrics
