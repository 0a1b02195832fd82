"""Collect the positions and activations the SAEs learn from (stage 2 of the pipeline).

The shipped model plays real games against random, greedy and its previous best (searching
as it does in play, with the settings it was trained with); every position of those games,
and every position its searches evaluated, is kept once (deduplicated by board). For each
unique position the network's residual stream, policy and value are stored with the move
number and the game it came from; whole games are held out for evaluation.

    python othello/collect_activations.py                        # ~1M positions, runs/activations
    python othello/collect_activations.py --positions 20000 --out runs/activations-small

The on-disk format is described in sae/activations.py.
"""
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from mcts import SearchActor  # noqa: E402
from NetworkWrapper import CheckpointError, NetworkWrapper, default_device  # noqa: E402
from othello.arena import PlayerActor, play_match  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import PREVIOUS_BEST, SHIPPED_MODEL, make_player, trained_mcts_config  # noqa: E402
from sae.activations import file_sha256, resid_field, write_activations  # noqa: E402


@dataclass
class CollectConfig:
    """Collect residual-stream activations of the AlphaZero network on positions from its games."""

    checkpoint: str = str(SHIPPED_MODEL)
    """the model whose activations are collected (it plays the games)"""
    previous: str = str(PREVIOUS_BEST)
    """its previous best, one of the opponents"""
    opponents: str = "random,greedy,previous"
    """comma-separated opponents, played in turn: random, greedy, alphabeta[:d], previous"""
    positions: int = 1_000_000
    """unique positions to collect (train and held-out together); the games of the last round
    give more, and a uniform sample of them is kept"""
    layers: str = "2"
    """comma-separated residual-stream layers to store (0..depth-1)"""
    sims: int = 64
    """MCTS simulations per move of the model (and of its previous best)"""
    batch_games: int = 256
    """games played in lockstep per match"""
    opening_plies: int = 6
    """random opening moves shared by each pair of games, for variety"""
    heldout_fraction: float = 0.1
    """share of the games held out for evaluation"""
    seed: int = 0
    """seeds the openings, the opponents and the split"""
    out: str = "runs/activations"
    """output folder"""
    threads: int = 0
    """torch CPU threads (0: torch's default)"""
    progress: bool = True
    """tqdm progress bar"""

    def __post_init__(self):
        require_at_least(self, 10, "positions")
        require_at_least(self, 1, "sims", "batch_games")
        require_at_least(self, 0, "opening_plies", "threads")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"--heldout-fraction must be between 0 and 1, got {self.heldout_fraction}")
        try:
            self.layer_list = [int(layer) for layer in self.layers.split(",")]
        except ValueError:
            raise ValueError(f"--layers must be comma-separated integers such as 2 or 0,1,2,3; got '{self.layers}'")


class PositionLog:
    """Every position seen, in order, with its game, the move that led to it (-1: unknown),
    the discs that move flipped (a bitboard) and whether a search (not the game) found it."""

    def __init__(self):
        self.parts = []

    def add(self, mine, theirs, games, last_moves, flipped, searched):
        self.parts.append((mine, theirs, np.asarray(games, np.int32), np.asarray(last_moves, np.int8),
                           np.asarray(flipped, np.uint64), np.full(len(mine), searched)))

    def unique(self):
        """(mine, theirs, game, last_move, flipped, searched) of each distinct board at its
        first sighting, in order."""
        columns = [np.concatenate(column) for column in zip(*self.parts)]
        self.parts = [tuple(columns)]  # compacted: later calls concatenate less
        _, first = np.unique(np.stack(columns[:2], axis=1), axis=0, return_index=True)
        first.sort()
        return tuple(column[first] for column in columns)


def moves_into(tree, rows, nodes):
    """The action that leads from each node's parent to it, in a BatchedMCTS tree (roots: -1),
    and the discs it flipped (roots: 0)."""
    parents = tree.parent[rows, nodes]
    edges = tree.children[rows, np.maximum(parents, 0)] == nodes[:, None]  # (k, A)
    flipped = flipped_discs(tree.theirs[rows, np.maximum(parents, 0)], tree.theirs[rows, nodes])
    return np.where(parents >= 0, np.argmax(edges, axis=1), -1), np.where(parents >= 0, flipped, np.uint64(0))


def flipped_discs(before_theirs, after_theirs):
    """The discs a move flipped, from the opponent's discs before it (the mover's point of view)
    and the mover's discs after it (the next player's "theirs"). A pass flips nothing: the
    mover's discs after it are its own discs before it."""
    return np.asarray(before_theirs, np.uint64) & np.asarray(after_theirs, np.uint64)


def play_games(game, agent, opponents, config, rng, log):
    """Matches of `agent` against each opponent in turn until the log holds enough positions."""
    rules, first_game = game.rules, 0
    last_move = np.full(config.batch_games, -1)  # per game of the current match; the opening's are not seen
    last_theirs = np.zeros(config.batch_games, np.uint64)  # per game: the opponent's discs before that move
    bar = tqdm(total=config.positions, desc="positions", unit="pos", disable=not config.progress)
    found = 0
    while found < config.positions:
        for opponent in opponents:
            last_move.fill(-1)

            def record(actor, games, mine, theirs, actions, offset=first_game):
                known = last_move[games] >= 0
                flipped = np.where(known, flipped_discs(last_theirs[games], theirs), np.uint64(0))
                log.add(mine, theirs, offset + games, last_move[games], flipped, searched=False)
                if actor is agent:  # the positions its search evaluated, attributed to their games
                    tree = agent.last_search
                    rows, nodes = np.nonzero(tree.expanded)
                    into, flipped_into = moves_into(tree, rows, nodes)
                    root = nodes == 0
                    into = np.where(root, last_move[games[rows]], into)
                    flipped_into = np.where(root, flipped[rows], flipped_into)
                    log.add(tree.mine[rows, nodes], tree.theirs[rows, nodes], offset + games[rows], into,
                            flipped_into, searched=True)
                last_move[games], last_theirs[games] = actions, theirs

            play_match(rules, agent, opponent, config.batch_games, config.opening_plies, rng, on_move=record)
            first_game += config.batch_games
        found = len(log.unique()[0])
        bar.update(min(found, config.positions) - bar.n)
    bar.close()
    return first_game


@torch.inference_mode()
def network_outputs(network, boards, layers, batch_size=8192):
    """Residual streams at `layers`, policy and value of canonical boards (N, n*n) int8."""
    net = network.net.eval()
    outputs = {resid_field(layer): [] for layer in layers}
    outputs.update(policy=[], value=[])
    for start in range(0, len(boards), batch_size):
        x = torch.as_tensor(boards[start:start + batch_size], dtype=torch.float32, device=network.device)
        for layer in layers:
            outputs[resid_field(layer)].append(net.residual_stream(x, layer).cpu().numpy())
        log_pi, value = net(x)
        outputs["policy"].append(log_pi.exp().cpu().numpy())
        outputs["value"].append(value.cpu().numpy())
    return {name: np.concatenate(parts).astype(np.float32) for name, parts in outputs.items()}


def split_by_game(games, heldout_fraction, rng):
    """Boolean mask of the rows whose game is held out: a random share of the games."""
    ids = np.unique(games)
    heldout = rng.choice(ids, size=max(1, round(heldout_fraction * len(ids))), replace=False)
    return np.isin(games, heldout)


def make_opponents(spec, game, config, rng):
    actors = []
    for name in spec.split(","):
        if name == "previous":
            previous = NetworkWrapper.load_checkpoint(config.previous)
            actors.append(SearchActor(game.rules, previous.predict_batch, trained_mcts_config(previous, config.sims)))
        else:
            actors.append(PlayerActor(game.rules, make_player(name, game, seed=int(rng.integers(1 << 30)))))
    return actors


def collect(config: CollectConfig, command="collect"):
    """Play, deduplicate, split, run the network, write. Returns the manifest."""
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    network = NetworkWrapper.load_checkpoint(config.checkpoint, default_device())
    game = OthelloGame(network.model_config.board_size)
    for layer in config.layer_list:
        if not 0 <= layer < network.model_config.depth:
            raise ValueError(f"--layers: the model has layers 0..{network.model_config.depth - 1}, got {layer}")
    agent = SearchActor(game.rules, network.predict_batch, trained_mcts_config(network, config.sims))
    log = PositionLog()
    games_played = play_games(game, agent, make_opponents(config.opponents, game, config, rng), config, rng, log)

    # The last round overshoots: a uniform sample keeps every opponent's share.
    unique = log.unique()
    keep = np.sort(rng.choice(len(unique[0]), size=min(config.positions, len(unique[0])), replace=False))
    mine, theirs, games, last_moves, flipped, searched = (column[keep] for column in unique)
    boards = game.rules.to_boards(mine, theirs).reshape(len(mine), -1).astype(np.int8)
    rows = {"boards": boards, **network_outputs(network, boards, config.layer_list),
            "ply": (np.abs(boards).sum(axis=1) - 4).astype(np.int16), "game": games, "last_move": last_moves,
            "flipped": game.rules.unpack(flipped).astype(np.int8), "searched": searched}
    heldout = split_by_game(games, config.heldout_fraction, rng)
    splits = {"train": {k: v[~heldout] for k, v in rows.items()}, "heldout": {k: v[heldout] for k, v in rows.items()}}
    return write_activations(config.out, splits, {
        "layers": config.layer_list, "checkpoint": config.checkpoint,
        "checkpoint_sha256": file_sha256(config.checkpoint),
        **({"previous_sha256": file_sha256(config.previous)} if "previous" in config.opponents.split(",") else {}),
        "command": command, "config": asdict(config),
        "games_played": games_played, "searched_share": float(searched.mean()),
        "seconds": round(time.perf_counter() - start, 1)})


def main(argv=None):
    config = parse_config(CollectConfig, argv)
    try:
        manifest = collect(config, command=shlex.join(["python", "othello/collect_activations.py", *sys.argv[1:]]))
    except (CheckpointError, ValueError) as error:
        sys.exit(f"error: {error}")
    splits = manifest["splits"]
    print(f"{splits['train']['count']:,} train positions ({splits['train']['games']} games), "
          f"{splits['heldout']['count']:,} held out ({splits['heldout']['games']} games), "
          f"{manifest['searched_share']:.1%} from searches, in {manifest['seconds']:.0f} s -> {config.out}")


if __name__ == "__main__":
    main()
