"""Train the AlphaZero agent for 6x6 Othello by self-play.

    python train_alphazero.py                          # the default run (19 minutes on 2 cores)
    python train_alphazero.py --resume                 # continue runs/alphazero after a kill
    python train_alphazero.py --iterations 40 --window-iterations 10 --train-epochs 4 \
        --temperature-moves 16 --export othello/pretrained/best.pth.tar    # the shipped model (38 minutes)

Writes runs/<name>/: config.json (first), resume.pt (every iteration), metrics.jsonl,
best.pth.tar, latest.pth.tar and previous_best.pth.tar.
"""
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from coach import Coach, saved_config
from model import ModelConfig
from NetworkWrapper import CheckpointError, TrainConfig, atomic_save
from othello.cli import parse_config, require_at_least
from othello.OthelloGame import OthelloGame


@dataclass
class AlphaZeroConfig:
    """Train AlphaZero on 6x6 Othello by self-play."""

    name: str = "alphazero"
    """run folder under --out-dir"""
    out_dir: str = "runs"
    """folder that holds the run folders"""
    resume: bool = False
    """continue the run in runs/<name> from its last completed iteration"""
    seed: int = 0
    """seeds self-play, training and evaluation (per iteration)"""
    iterations: int = 28
    """self-play / train / arena iterations"""
    games_per_iteration: int = 768
    """self-play games per iteration"""
    batch_games: int = 512
    """self-play games searched in lockstep (one network call per simulation for all)"""
    num_simulations: int = 64
    """MCTS simulations per move in self-play, arena and evaluation"""
    c_puct: float = 1.5
    """PUCT exploration constant"""
    dirichlet_alpha: float = 1.0
    """root noise concentration in self-play"""
    dirichlet_fraction: float = 0.25
    """root noise weight in self-play (AlphaZero: 0.25)"""
    fpu_parent_value: bool = False
    """search: an unvisited move's value is its position's mean value so far, not 0 (mcts.py)"""
    temperature_moves: int = 10
    """plies played at temperature 1 (visit-proportional) before playing greedily"""
    margin_weight: float = 0.25
    """share of a finished game's value given to the disc margin: 0 plays only to win; > 0 also
    prefers larger wins, as perfect play does (mcts.final_result)"""
    q_weight: float = 0.5
    """value target = (1 - q_weight) * game result + q_weight * root search value"""
    solver_empties: int = 0
    """score self-play endgames exactly from this many empty squares on (othello/solver.py, needs a C
    compiler): their positions' value targets become exact, and each game's result becomes the
    perfect-play result of its first such position; 0: off"""
    window_iterations: int = 6
    """iterations of self-play examples kept for training"""
    train_epochs: float = 2.0
    """passes over the window per iteration (in expectation; minibatches are drawn uniformly)"""
    batch_size: int = 256
    """training minibatch size"""
    lr: float = 1e-3
    """Adam learning rate at the first iteration"""
    lr_final: float = 1e-4
    """learning rate at the last iteration (cosine decay in between)"""
    weight_decay: float = 1e-4
    """L2 regularisation"""
    width: int = 256
    """residual stream width"""
    depth: int = 4
    """residual blocks"""
    arena_games: int = 40
    """games of the new network against the best one (colours alternating)"""
    accept_threshold: float = 0.55
    """share of decisive arena games the new network must win to become the best"""
    eval_games: int = 40
    """evaluation games against each classic engine per iteration"""
    eval_alphabeta_depth: int = 4
    """depth of the alpha-beta opponent in evaluation"""
    opening_plies: int = 4
    """random opening plies shared by each pair of arena / evaluation games"""
    threads: int = 2
    """torch CPU threads"""
    export: str = ""
    """also copy the final best checkpoint here (e.g. othello/pretrained/best.pth.tar) and
    the previous best beside it as previous_best.pth.tar"""
    wandb: bool = False
    """log metrics to Weights & Biases (needs `pip install wandb`)"""
    progress: bool = True
    """tqdm progress bars"""
    ray: bool = False
    """self-play on a Ray cluster: a pool of workers plays each iteration's games, calls of
    --batch-games games each (docs/ray.md; needs requirements-ray.txt); a run started with it
    continues with it"""
    ray_workers: int = 0
    """--ray: self-play workers (0: as many as the cluster's CPUs allow at --ray-cpus each)"""
    ray_cpus: int = 1
    """--ray: CPUs (torch threads) per self-play worker"""
    ray_address: str = ""
    """--ray: the cluster to join (default: RAY_ADDRESS, else a cluster `ray start` began here,
    else a new one on this machine)"""

    def __post_init__(self):
        if not self.ray and (self.ray_workers or self.ray_cpus != 1 or self.ray_address):
            raise ValueError("--ray-workers, --ray-cpus and --ray-address set up --ray: add --ray, or drop them")
        require_at_least(self, 0, "ray_workers")
        require_at_least(self, 1, "iterations", "games_per_iteration", "batch_games", "num_simulations",
                         "window_iterations", "batch_size", "arena_games", "width", "depth", "threads")
        if self.eval_games < 0 or self.opening_plies < 0 or self.temperature_moves < 0:
            raise ValueError("--eval-games, --opening-plies and --temperature-moves must be >= 0")
        if not 0 <= self.solver_empties <= 16:
            raise ValueError(f"--solver-empties must be in [0, 16] (more is too slow to solve), got {self.solver_empties}")
        if not 0 <= self.margin_weight < 1:
            raise ValueError(f"--margin-weight must be in [0, 1), got {self.margin_weight}")
        if not 0 <= self.q_weight <= 1:
            raise ValueError(f"--q-weight must be in [0, 1], got {self.q_weight}")
        if not 0 < self.accept_threshold <= 1:
            raise ValueError(f"--accept-threshold must be in (0, 1], got {self.accept_threshold}")

    def model_config(self):
        return ModelConfig(board_size=6, width=self.width, depth=self.depth)

    def train_config(self):
        return TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size)

    def eval_opponents(self):
        return ("random", "greedy", f"alphabeta:{self.eval_alphabeta_depth}") if self.eval_games else ()


def log_line(m):
    """One fixed-format line per iteration."""
    evals = " ".join(f"{k[5:-6]} {v:.0%}" for k, v in m.items() if k.startswith("eval/"))
    return (f"iter {m['iteration']:>3} | self-play {m['selfplay/positions']:>6} pos {m['selfplay/sims_per_s']:>7,.0f} sims/s"
            f" | loss pi {m['train/policy_loss']:.3f} v {m['train/value_loss']:.3f}"
            f" | arena {m['arena/wins']}-{m['arena/losses']}-{m['arena/draws']} "
            f"{'accepted' if m['arena/accepted'] else 'rejected'} (best: iter {m['arena/best_iteration']})"
            f" | {evals} | solved exact {m['solved/exact']:.1%} critical {m['solved/critical_outcome']:.1%}"
            f" (policy {m['solved/policy_exact']:.1%}) | {m['time/iteration_s']:.0f}s")


def start_wandb(config):
    try:
        import wandb
    except ImportError:
        print("warning: --wandb given but wandb is not installed (pip install wandb); logging locally only")
        return None
    return wandb.init(project="alphazero-othello-sae", name=config.name, config=asdict(config))


def changed_settings(given, saved):
    """'--flag value (the run's: value)' for each setting `given` sets away from its default and
    from the resumed run's `saved` one."""
    default = AlphaZeroConfig()
    return [f"--{f.name.replace('_', '-')} {getattr(given, f.name)} (the run's: {getattr(saved, f.name)})"
            for f in fields(AlphaZeroConfig) if f.name != "resume"
            and getattr(given, f.name) != getattr(default, f.name) and getattr(given, f.name) != getattr(saved, f.name)]


def main(argv=None):
    config = parse_config(AlphaZeroConfig, argv)
    run_dir = Path(config.out_dir) / config.name
    resume_path = run_dir / "resume.pt"
    if config.resume:
        if not resume_path.exists():
            sys.exit(f"error: nothing to resume: {resume_path} does not exist (start without --resume)")
        # The run keeps its own settings; only these run-control flags come from this command.
        control = {k: getattr(config, k) for k in ("iterations", "export", "wandb", "progress", "threads", "out_dir",
                                                   "ray_workers", "ray_cpus", "ray_address")}
        try:
            saved = replace(AlphaZeroConfig(**saved_config(resume_path)), resume=True, **control)
        except CheckpointError as error:
            sys.exit(f"error: {error}")
        if clashes := changed_settings(config, saved):
            sys.exit(f"error: --resume continues {run_dir} with its own settings, and this command changes "
                     f"{', '.join(clashes)}: drop those flags, or start another run with --name")
        config = saved
    elif resume_path.exists():
        sys.exit(f"error: {run_dir} already holds a run: pass --resume to continue it, or --name to start another")
    torch.set_num_threads(config.threads)
    game = OthelloGame(6)
    coach = Coach(game, config, run_dir, progress=config.progress)
    coach.selfplay_pool = start_ray(config, coach.mcts_config)
    try:
        train(coach, config, run_dir, argv)
    finally:
        if coach.selfplay_pool is not None:
            coach.selfplay_pool.close()


def start_ray(config, mcts_config):
    """The Ray self-play pool under --ray (Ray imported only then), else None."""
    if not config.ray:
        return None
    from othello.ray_cluster import RaySetupError, connect
    try:
        connect(config.ray_address)
    except RaySetupError as error:
        sys.exit(f"error: {error}")
    from othello.ray_selfplay import SelfPlayPool
    pool = SelfPlayPool(config, mcts_config, config.ray_workers, config.ray_cpus)
    print(f"self-play on Ray: {len(pool.workers)} workers, {config.ray_cpus} CPUs each")
    return pool


def train(coach, config, run_dir, argv):
    if config.resume:
        coach.load()
        print(f"resuming {run_dir} after iteration {coach.iteration}")
    config_path = run_dir / "config.json"
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(asdict(config), indent=1) + "\n")
    run = start_wandb(config) if config.wandb else None
    start = time.perf_counter()
    for metrics in coach.learn():
        print(log_line(metrics), flush=True)
        if run:
            run.log(metrics, step=metrics["iteration"])
        lines = "".join(json.dumps(m) + "\n" for m in coach.history)
        tmp = run_dir / "metrics.jsonl.tmp"
        tmp.write_text(lines)
        os.replace(tmp, run_dir / "metrics.jsonl")
        metadata = {"command": " ".join(["python", "train_alphazero.py", *(argv or sys.argv[1:])]),
                    "config": asdict(config), "metrics": metrics}
        coach.network.save_checkpoint(run_dir / "latest.pth.tar", coach.iteration, metadata | {"role": "latest"})
        coach.best.save_checkpoint(run_dir / "best.pth.tar", coach.best_iteration, metadata | {"role": "best"})
        if coach.previous_best is not None:  # carries the run's config too, for its search settings
            run_info = {k: metadata[k] for k in ("command", "config")} | {"role": "previous_best"}
            atomic_save(coach.previous_best | {"metadata": run_info}, run_dir / "previous_best.pth.tar")
    print(f"done: {coach.iteration} iterations in {time.perf_counter() - start:.0f}s; best network in {run_dir / 'best.pth.tar'}")
    if config.export:
        export = Path(config.export)
        export.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "best.pth.tar", export)
        if (run_dir / "previous_best.pth.tar").exists():
            shutil.copyfile(run_dir / "previous_best.pth.tar", export.with_name("previous_best.pth.tar"))
        print(f"exported to {export}")
    if run:
        run.finish()


if __name__ == "__main__":
    main()
