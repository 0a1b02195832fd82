"""Strength of an AlphaZero checkpoint at its play settings: matches against the classic
engines (colours alternating, pairs of games sharing a random opening) and the perfect-play
yardstick, for the search and for the raw policy. The agent is searched for all games at
once (the same deterministic search AlphaZeroPlayer runs one board at a time).

Random openings are not fair: one side of most of them is lost by force. With the solved
openings table (othello/data/openings4.json) each match is also split by what perfect play
makes of the agent's side of its opening.

    python benchmarks/strength.py [--checkpoint othello/pretrained/best.pth.tar] [--games 100]
    python benchmarks/strength.py --fpu parent --c-puct 1.0    # the same network, another search
    python benchmarks/strength.py --opponents alphabeta:4 --trace-results   # who let results go
    python benchmarks/strength.py --opponents '' --sims 4096   # only the solved positions
    python benchmarks/strength.py --opponents perfect --opening-plies 0 --games 2   # perfect play, from the start
"""
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from coach import evaluate  # noqa: E402
from mcts import SearchActor  # noqa: E402
from othello.arena import PlayerActor, play_match  # noqa: E402
from NetworkWrapper import CheckpointError  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import DEFAULT_SIMULATIONS, SHIPPED_MODEL, AlphaZeroPlayer, make_player  # noqa: E402
from othello.solved import load_solved_positions  # noqa: E402
from othello.solver import OpeningTable, map_in_processes, worsening_moves  # noqa: E402


@dataclass
class StrengthConfig:
    """Measure an AlphaZero checkpoint against classic engines and perfect play."""

    checkpoint: str = str(SHIPPED_MODEL)
    """the network to measure"""
    sims: int = DEFAULT_SIMULATIONS
    """MCTS simulations per move (play.py's default)"""
    games: int = 100
    """games against each opponent"""
    opponents: str = "random,greedy,alphabeta:4"
    """comma-separated engines: random, greedy, alphabeta[:depth], perfect (the exact solver) or a
    checkpoint ('' for none: only the solved positions)"""
    opening_plies: int = 4
    """random opening plies shared by each pair of games"""
    balanced: bool = False
    """only openings that perfect play draws (from the solved table), so neither side starts lost"""
    seed: int = 0
    """seed of the openings and the engines' tie-breaks"""
    threads: int = 2
    """torch CPU threads, and processes solving games for --trace-results"""
    c_puct: float = 0.0
    """PUCT exploration constant (0: the one the checkpoint was trained with)"""
    fpu: str = "trained"
    """value of an unvisited move in the search: 'trained' (the checkpoint's setting), 'parent'
    (its position's mean value) or 'zero'"""
    trace_results: bool = False
    """solve every position of the games the agent does not win and name the moves, its own or
    the opponent's, that made the mover's perfect-play outcome worse (slow: about a second per
    position early in the game)"""

    def __post_init__(self):
        require_at_least(self, 1, "sims", "games", "threads")
        require_at_least(self, 0, "opening_plies")
        if self.fpu not in ("trained", "parent", "zero"):
            raise ValueError(f"--fpu must be trained, parent or zero, got {self.fpu!r}")
        if self.c_puct < 0:
            raise ValueError(f"--c-puct must be positive (or 0 for the trained one), got {self.c_puct}")


def opening_table(plies):
    """The solved openings for `plies`, or None (with a note) where none ships."""
    try:
        return OpeningTable(plies)
    except (FileNotFoundError, ValueError) as error:
        print(f"(no split by perfect play: {error})")
        return None


def by_perfect_play(table, starts, disc_diffs):
    """One line: the agent's wins-draws-losses from the openings that perfect play wins, draws
    and loses for its side."""
    tally = table.results_by_outcome(starts, disc_diffs)
    names = {1: "won", 0: "drawn", -1: "lost"}
    return "  its side of the opening, by perfect play: " + ", ".join(
        f"{names[o]} {sum(t)} (it went {t[0]}-{t[1]}-{t[2]})" for o, t in tally.items()) + " (W-D-L)"


def trace_results(rules, game_moves, disc_diffs, opening_plies, workers=1):
    """Lines naming, in each game the agent did not win, the moves that made the mover's
    perfect-play outcome worse. game_moves: {game: [(mine, theirs, by_agent, action), ...]};
    `workers` processes solve games in parallel."""
    not_won = [g for g in sorted(game_moves) if disc_diffs[g] <= 0]
    lines = []
    for g in not_won:
        mine, theirs, _, action = game_moves[g][-1]
        after_last = tuple(int(x) for x in rules.next_position(mine, theirs, action))
        lines.append([(m, t) for m, t, _, _ in game_moves[g]] + [after_last])
    traced = list(tqdm(map_in_processes(worsening_moves, lines, workers), total=len(lines),
                       desc="solving games", unit="game", leave=False))
    let_go, details = {True: 0, False: 0}, []
    for g, worse in zip(not_won, traced):
        by_agent = [game_moves[g][ply][2] for ply in worse]
        let_go[True] += any(by_agent)
        let_go[False] += not all(by_agent)
        if worse:
            details.append(f"    game {g} ({disc_diffs[g]:+d}): " + ", ".join(
                f"{'the agent' if agent else 'the opponent'} at ply {opening_plies + ply + 1}"
                for ply, agent in zip(worse, by_agent)))
    return [f"  games it did not win: {len(not_won)}; solved move by move, the opponent made its own outcome "
            f"worse in {let_go[False]} of them, the agent in {let_go[True]}"] + details


def main():
    config = parse_config(StrengthConfig)
    torch.set_num_threads(config.threads)
    game, rng = OthelloGame(6), np.random.default_rng(config.seed)
    try:
        player = AlphaZeroPlayer(game, config.checkpoint, config.sims)  # its network and search settings
    except CheckpointError as error:
        sys.exit(f"error: {error}")
    network, mcts_config = player.network, player.mcts_config
    if config.c_puct:
        mcts_config = replace(mcts_config, c_puct=config.c_puct)
    if config.fpu != "trained":
        mcts_config = replace(mcts_config, fpu_parent_value=config.fpu == "parent")
    agent = SearchActor(game.rules, network.predict_batch, mcts_config)
    table = opening_table(config.opening_plies)
    if config.balanced and table is None:
        sys.exit(f"error: --balanced needs the solved table of {config.opening_plies}-ply openings")
    accept_opening = None
    if config.balanced:
        accept_opening = lambda mine, theirs: [table.outcome(int(m), int(t)) == 0 for m, t in zip(mine, theirs)]  # noqa: E731
    overridden = "" if mcts_config == player.mcts_config else (
        f" (search changed: c_puct {mcts_config.c_puct:g}, unvisited moves valued "
        f"{'at their position' if mcts_config.fpu_parent_value else 'at 0'})")
    try:  # every opponent up front: a bad spec fails before any match is played
        opponents = {spec: make_player(spec, game, seed=config.seed) for spec in config.opponents.split(",") if spec}
    except (ValueError, CheckpointError) as error:
        sys.exit(f"error: --opponents: {error}")
    matches = (f", {config.games} games per opponent, {config.opening_plies}-ply random openings"
               f"{' drawn by perfect play' if config.balanced else ''}") if opponents else ""
    checkpoint = Path(config.checkpoint).absolute()
    shown = checkpoint.relative_to(Path.cwd()) if checkpoint.is_relative_to(Path.cwd()) else checkpoint
    print(f"{shown}, {config.sims} simulations per move{overridden}{matches}")
    for spec, engine in opponents.items():
        start = time.perf_counter()
        opponent = PlayerActor(game.rules, engine)
        game_moves = {}  # game -> [(mine, theirs, by the agent, action)] from the end of its opening

        def record(actor, games, mine, theirs, actions):
            for g, m, t, a in zip(games, mine, theirs, actions):
                game_moves.setdefault(int(g), []).append((int(m), int(t), actor is agent, int(a)))

        result = play_match(game.rules, agent, opponent, config.games, config.opening_plies, rng, record,
                            accept_opening)
        starts = {g: moves[0][:3] for g, moves in game_moves.items()}
        print(f"vs {spec:12} {result.wins:>4} wins {result.losses:>4} losses {result.draws:>3} draws  "
              f"score {result.score:6.1%}  mean disc difference {np.mean(result.disc_diffs):+6.2f}  "
              f"({time.perf_counter() - start:.0f}s)")
        if table is not None:
            print(by_perfect_play(table, starts, result.disc_diffs))
        if config.trace_results:
            print("\n".join(trace_results(game.rules, game_moves, result.disc_diffs, config.opening_plies,
                                            config.threads)))
    metrics = evaluate(game, network.predict_batch, mcts_config, 0, (), 0, rng, load_solved_positions())
    print(f"solved positions: search exact {metrics['solved/exact']:.1%}, outcome kept on critical "
          f"{metrics['solved/critical_outcome']:.1%}; raw policy exact {metrics['solved/policy_exact']:.1%}, "
          f"outcome kept on critical {metrics['solved/policy_critical_outcome']:.1%}")


if __name__ == "__main__":
    main()
