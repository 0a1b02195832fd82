"""Where the network beats classical play, and the SAE features behind its moves there.

    python vis/superhuman.py --viewer          # the shipped SAE; adds its block to vis/data
    python vis/superhuman.py --sae <folder> --per-phase 20 --depths 4   # a quick look

Takes up to --per-phase distinct held-out positions of the activation set for each number of
empty squares from --min-empties to --max-empties, solves the outcome of every legal move
(othello/solver.py), and plays each position with the network (its raw policy, and its search
at play.py's default simulations) and with the classical players (greedy, alpha-beta at each
of --depths). Superhuman positions, the control and the attribution are defined in
sae/superhuman.py. Prints a markdown report and writes <out>/<sae>.json: the counts by phase,
every feature's contribution and enrichment (for the raw policy's move, and for the search's
on its own superhuman positions), the causal check of the top features against
frequency-matched random ones, and example positions. With --viewer it also adds a
`superhuman` block to the SAE's file in the viewer data (--data).
"""
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from NetworkWrapper import CheckpointError, NetworkWrapper  # noqa: E402
from othello.bitboard import bitboard_rules, popcount  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import (DEFAULT_SIMULATIONS, SHIPPED_MODEL, AlphaBetaPlayer, GreedyPlayer,  # noqa: E402
                                    search_best_moves)
from othello.solver import board_string, map_in_processes, move_outcomes  # noqa: E402
from othello.squares import square_name  # noqa: E402
from sae.activations import ActivationError, file_sha256, load_activations, write_text_atomic  # noqa: E402
from sae.export import load_saelens  # noqa: E402
from sae.interventions import legal_log_policy  # noqa: E402
from sae.superhuman import (attribution, causal_effect, classify, feature_ranking, frequency_matched,  # noqa: E402
                            keeps_outcome, matched_control, move_values_table)
from vis.superhuman_report import add_to_viewer, draw_pictures, markdown  # noqa: E402


@dataclass
class SuperhumanConfig:
    """Find the positions where the network beats classical play, and the SAE features behind its moves."""

    sae: str = "sae/pretrained/batchtopk_k40_f1024"
    """the SAE folder whose features are ranked"""
    activations: str = "runs/activations"
    """folder written by othello/collect_activations.py (its held-out games are used)"""
    checkpoint: str = str(SHIPPED_MODEL)
    """the model the activations came from"""
    layer: int = 2
    """the residual-stream layer the SAE reads"""
    data: str = "vis/data"
    """the viewer data, for the features' concept labels (an SAE not in it: no labels)"""
    per_phase: int = 200
    """distinct held-out positions solved and played per number of empty squares"""
    min_empties: int = 12
    """fewest empty squares of a position"""
    max_empties: int = 26
    """most empty squares of a position (each solve takes longer with more; the held-out games
    record none above 26)"""
    sims: int = DEFAULT_SIMULATIONS
    """simulations of the network's search (play.py's default)"""
    depths: str = "4,6"
    """comma-separated alpha-beta depths, each a classical player beside greedy (depth 6 takes
    about 0.15 s a move here, depth 8 one to two seconds)"""
    top: int = 10
    """features checked causally, one at a time"""
    together: int = 5
    """the top features also removed together"""
    examples: int = 3
    """example positions per top feature"""
    workers: int = 2
    """processes that solve the positions and play the classical players"""
    seed: int = 0
    """seeds the position sample, the classical players' tie-breaks and the random features"""
    out: str = "runs/superhuman"
    """where <sae>.json goes"""
    viewer: bool = False
    """also add the per-feature superhuman block to the SAE's file in --data"""
    pictures: str = ""
    """a folder for pictures of the three clearest candidates (none when empty)"""
    fresh: bool = False
    """analyse again even when <out>/<sae>.json holds this analysis already"""
    progress: bool = True
    """tqdm progress bars"""

    def __post_init__(self):
        require_at_least(self, 1, "per_phase", "top", "together", "workers", "sims")
        require_at_least(self, 0, "examples", "layer")
        if not 0 < self.min_empties <= self.max_empties <= 32:
            raise ValueError(f"need 0 < --min-empties <= --max-empties <= 32, got {self.min_empties} and {self.max_empties}")
        try:
            self.depth_list = sorted({int(d) for d in self.depths.split(",") if d.strip()})
        except ValueError:
            raise ValueError(f"--depths takes comma-separated depths, as in 4,6; got '{self.depths}'") from None
        if not self.depth_list or min(self.depth_list) < 1:
            raise ValueError(f"--depths needs at least one depth of 1 or more, got '{self.depths}'")


def sample_positions(boards, config, rng):
    """Distinct positions (mine, theirs) of the held-out boards with at least two legal moves:
    up to config.per_phase at random for each number of empty squares in the range."""
    rules = bitboard_rules(6)
    mine, theirs = rules.from_boards(boards)
    moves = popcount(rules.legal_moves(mine, theirs))
    empties = empty_squares(rules, mine, theirs)
    keep = (empties >= config.min_empties) & (empties <= config.max_empties) & (moves >= 2)
    pairs = np.unique(np.stack([mine[keep], theirs[keep]], axis=1), axis=0)
    phases = empty_squares(rules, pairs[:, 0], pairs[:, 1])
    chosen = [rng.permutation(np.flatnonzero(phases == e))[: config.per_phase] for e in np.unique(phases)]
    pairs = pairs[np.sort(np.concatenate(chosen))] if chosen else pairs[:0]
    return pairs[:, 0], pairs[:, 1]


def empty_squares(rules, mine, theirs):
    return rules.num_squares - popcount(mine | theirs)


def classical_players(depths, seed):
    """{name: player}: greedy and alpha-beta at each depth (ascending: the last is the strongest)."""
    game = OthelloGame(6)
    return {"greedy": GreedyPlayer(game, seed), **{f"alphabeta{d}": AlphaBetaPlayer(game, d, seed) for d in depths}}


def solve_and_play(job):
    """One position: the outcome of each legal move, and each classical player's move. A job per
    position, its own seed for the players' tie-breaks: the same answer on any number of workers."""
    mine, theirs, depths, seed = job
    board = bitboard_rules(6).to_boards(np.array([mine], np.uint64), np.array([theirs], np.uint64))[0]
    return move_outcomes(mine, theirs), {name: int(p.play(board)) for name, p in classical_players(depths, seed).items()}


def solve_and_play_all(mine, theirs, config):
    """(outcomes (N, A), {player: (N,) moves}) over the positions, in config.workers processes."""
    jobs = [(m, t, config.depth_list, config.seed + i) for i, (m, t) in enumerate(zip(mine.tolist(), theirs.tolist()))]
    done = list(tqdm(map_in_processes(solve_and_play, jobs, config.workers), total=len(jobs),
                     desc="solving and playing", disable=not config.progress))
    outcomes = move_values_table([outcome for outcome, _ in done], bitboard_rules(6).num_squares + 1)
    names = list(done[0][1]) if done else []
    return outcomes, {name: np.array([moves[name] for _, moves in done]) for name in names}


def phase_counts(empties, superhuman):
    """{empties: [superhuman positions, positions]} in order."""
    return {int(e): [int(superhuman[empties == e].sum()), int((empties == e).sum())] for e in np.unique(empties)}


def rank_features(network, sae, x, legal, layer, moves, superhuman, ordinary, empties, rng):
    """(chosen, control, attribution on chosen, ranking) for the move `moves` (N,) on the
    superhuman positions against a phase-matched control."""
    control = matched_control(empties, superhuman, ordinary, rng)
    chosen = np.flatnonzero(superhuman)
    moves = torch.as_tensor(moves)
    attr_super = attribution(network, sae, x[chosen], legal[chosen], layer, moves[chosen])
    attr_control = attribution(network, sae, x[control], legal[control], layer, moves[control])
    return chosen, control, attr_super, feature_ranking(attr_super, attr_control)


def candidates(ranking, top):
    """The features that push the move on the superhuman positions (contribution > 0), the most
    specific to them (enrichment) first."""
    pushing = np.flatnonzero(ranking["contribution"] > 0)
    return [int(f) for f in pushing[np.argsort(-ranking["enrichment"][pushing], kind="stable")][:top]]


def summary(feature, ranking, labels):
    return {"id": feature, "labels": labels.get(feature), "contribution": float(ranking["contribution"][feature]),
            "control": float(ranking["control"][feature]), "enrichment": float(ranking["enrichment"][feature]),
            "fires": float(ranking["fires"][feature])}


def analyse(config: SuperhumanConfig):
    """The whole analysis; returns the JSON written."""
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    rules = bitboard_rules(6)
    network = NetworkWrapper.load_checkpoint(config.checkpoint, "cpu")
    network.net.eval()
    sae = load_saelens(config.sae).eval()
    heldout = load_activations(config.activations, "heldout", ["boards"], checkpoint_sha256=file_sha256(config.checkpoint))
    mine, theirs = sample_positions(np.asarray(heldout["boards"]), config, rng)
    empties = empty_squares(rules, mine, theirs)
    values, classical = solve_and_play_all(mine, theirs, config)
    boards = torch.as_tensor(rules.to_boards(mine, theirs).reshape(len(mine), -1), dtype=torch.float32)
    legal = torch.as_tensor(rules.action_mask(mine, theirs) > 0)
    with torch.no_grad():
        x = network.net.residual_stream(boards, config.layer)
        raw_moves = legal_log_policy(network.net.forward_from(x, config.layer)[0], legal).argmax(dim=1).numpy()
    search_moves = search_best_moves(network, rules, mine, theirs, config.sims)
    superhuman, ordinary = classify(values, raw_moves, classical)
    search_superhuman, search_ordinary = classify(values, search_moves, classical)
    if not superhuman.any():
        raise ValueError(f"no superhuman position among {len(mine)}: take more --per-phase or other --depths")
    chosen, control, attr_super, ranking = rank_features(network.net, sae, x, legal, config.layer, raw_moves,
                                                         superhuman, ordinary, empties, rng)
    top = candidates(ranking, config.top)
    by_contribution = [int(f) for f in np.argsort(-ranking["contribution"], kind="stable")[: config.top]]
    random = frequency_matched(ranking["fires"], top, rng)
    reference = list(classical)[-1]  # the strongest classical player: the deepest alpha-beta
    deepest = classical[reference]
    labels = feature_labels(Path(config.data), Path(config.sae).name)

    def check(features):
        return causal_effect(network.net, sae, x[chosen], legal[chosen], config.layer, values[chosen], features,
                             deepest[chosen])

    features = []
    for feature, baseline in zip(top, random):
        strongest = np.argsort(-attr_super[:, feature].numpy(), kind="stable")[: config.examples]
        features.append({**summary(feature, ranking, labels), "causal": check([feature]),
                         "random": {"id": baseline, "causal": check([baseline])},
                         "examples": [example(chosen[i], mine, theirs, values, raw_moves, deepest) for i in strongest
                                      if attr_super[i, feature] > 0]})
    search = {"superhuman": int(search_superhuman.sum()), "features": []}
    if search_superhuman.any():  # which features the search's move leans on (read from the raw network)
        *_, search_ranking = rank_features(network.net, sae, x, legal, config.layer, search_moves, search_superhuman,
                                           search_ordinary, empties, rng)
        search["features"] = [summary(f, search_ranking, labels) for f in candidates(search_ranking, config.top)]
    return {
        "sae": Path(config.sae).name, "checkpoint": Path(config.checkpoint).name, "config": asdict(config),
        "sae_sha256": file_sha256(Path(config.sae) / "sae_weights.safetensors"),
        "positions": len(mine), "players": list(classical), "reference_player": reference,
        "superhuman": int(superhuman.sum()), "search_superhuman": search["superhuman"],
        "control": len(control), "by_empties": phase_counts(empties, superhuman),
        "search_by_empties": phase_counts(empties, search_superhuman),
        "keeps_outcome": {name: float(keeps_outcome(values, m).mean())
                          for name, m in {"network": raw_moves, "search": search_moves, **classical}.items()},
        "features": features, "top_by_contribution": by_contribution, "search": search,
        "per_feature": {k: np.round(v, 5).tolist() for k, v in ranking.items()},
        "together": {"ids": top[: config.together], "causal": check(top[: config.together]),
                     "random": {"ids": random[: config.together], "causal": check(random[: config.together])}},
        "seconds": time.perf_counter() - start}


OUTCOME = {1: "win", 0: "draw", -1: "loss"}


def example(i, mine, theirs, outcomes, network_moves, classical_moves):
    """One position: its board, the network's and the classical player's moves and the solver's
    verdict on each (the perfect-play outcome it gives the player who makes it)."""
    board = board_string(int(mine[i]), int(theirs[i]))
    return {"board": board, "empties": board.count("."),
            "network": square_name(int(network_moves[i])), "network_outcome": OUTCOME[int(outcomes[i, network_moves[i]])],
            "classical": square_name(int(classical_moves[i])),
            "classical_outcome": OUTCOME[int(outcomes[i, classical_moves[i]])]}


def feature_labels(data, name):
    """{feature: [label, ...]} from the viewer data of SAE `name`; {} when it is not there."""
    try:
        index = json.loads((data / "index.json").read_text())
        entry = next(e for e in index["saes"] if e["name"] == name)
        features = json.loads((data / entry["file"]).read_text())["features"]
    except (OSError, ValueError, StopIteration, KeyError):
        return {}
    return {f["id"]: f.get("labels", []) for f in features}


# settings that change where the results go or how fast they come, not what they are
OUTPUT_ONLY = ("out", "viewer", "pictures", "fresh", "workers", "progress")


def earlier_result(path, config):
    """The analysis in `path` if it was made with these settings from this SAE's weights, else None."""
    try:
        result = json.loads(path.read_text())
        same = {k: v for k, v in result["config"].items() if k not in OUTPUT_ONLY} == \
            {k: v for k, v in asdict(config).items() if k not in OUTPUT_ONLY}
        return result if same and result["sae_sha256"] == file_sha256(Path(config.sae) / "sae_weights.safetensors") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv=None):
    config = parse_config(SuperhumanConfig, argv)
    path = Path(config.out) / f"{Path(config.sae).name}.json"
    result = None if config.fresh else earlier_result(path, config)
    if result is None:
        try:
            result = analyse(config)
        except (ActivationError, CheckpointError, ValueError) as error:
            sys.exit(f"error: {error}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(result, indent=1) + "\n")
    else:
        print(f"{path} holds this analysis already (--fresh analyses again)")
    print(markdown(result, feature_labels(Path(config.data), result["sae"])))
    print(f"\n{result['positions']} positions in {result['seconds']:.0f}s -> {path}")
    for picture in draw_pictures(result, config.pictures) if config.pictures else []:
        print(f"picture: {picture}")
    if config.viewer:
        try:
            written = add_to_viewer(result, Path(config.data), "python vis/superhuman.py " + " ".join(sys.argv[1:]))
        except (OSError, ValueError, KeyError) as error:
            sys.exit(f"error: the viewer data was left as it was: {error}")
        print(f"added the superhuman block to {written}")


if __name__ == "__main__":
    main()
