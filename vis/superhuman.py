"""Where the network beats classical play, and the SAE features behind its moves there.

    python vis/superhuman.py --sae sae/pretrained/batchtopk_k40_f1024   # ~6 min on 2 cores
    python vis/superhuman.py --sae <folder> --positions 300 --depths 4   # a quick look

Takes held-out positions of the activation set with --min-empties to --max-empties empty squares,
solves every legal move exactly (othello/solver.py), and plays each position with the network
(its raw policy, and its search at play.py's default simulations) and with the classical
players (greedy, alpha-beta at each of --depths). Superhuman positions, the control and the
attribution are defined in sae/superhuman.py. Prints a markdown report and writes
<out>/<sae>.json: the counts by phase, every feature's contribution and enrichment, the causal
check of the top features against frequency-matched random ones, and example positions.
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
from othello.solver import board_string, map_in_processes, move_values  # noqa: E402
from othello.squares import square_name  # noqa: E402
from sae.activations import ActivationError, file_sha256, load_activations, write_text_atomic  # noqa: E402
from sae.export import load_saelens  # noqa: E402
from sae.interventions import legal_log_policy  # noqa: E402
from sae.superhuman import (attribution, causal_effect, classify, feature_ranking, frequency_matched,  # noqa: E402
                            keeps_outcome, matched_control, move_values_table)


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
    positions: int = 1500
    """distinct held-out positions solved and played"""
    min_empties: int = 12
    """fewest empty squares of a position"""
    max_empties: int = 20
    """most empty squares of a position (each solve takes longer with more)"""
    sims: int = DEFAULT_SIMULATIONS
    """simulations of the network's search (play.py's default)"""
    depths: str = "4,6"
    """comma-separated alpha-beta depths, each a classical player beside greedy"""
    top: int = 10
    """features checked causally, one at a time"""
    together: int = 5
    """the top features also removed together"""
    examples: int = 3
    """example positions per top feature"""
    workers: int = 2
    """solver processes"""
    seed: int = 0
    """seeds the position sample, the classical players' tie-breaks and the random features"""
    out: str = "runs/superhuman"
    """where <sae>.json goes"""
    progress: bool = True
    """tqdm progress bars"""

    def __post_init__(self):
        require_at_least(self, 1, "positions", "top", "together", "workers", "sims")
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
    """Distinct positions (mine, theirs) of the held-out boards with the chosen empties and at
    least two legal moves, at most config.positions of them at random."""
    rules = bitboard_rules(6)
    mine, theirs = rules.from_boards(boards)
    moves = popcount(rules.legal_moves(mine, theirs))
    empties = empty_squares(rules, mine, theirs)
    keep = (empties >= config.min_empties) & (empties <= config.max_empties) & (moves >= 2)
    pairs = np.unique(np.stack([mine[keep], theirs[keep]], axis=1), axis=0)
    pairs = pairs[rng.permutation(len(pairs))[: config.positions]]
    return pairs[:, 0], pairs[:, 1]


def empty_squares(rules, mine, theirs):
    return rules.num_squares - popcount(mine | theirs)


def _solve(position):
    return move_values(*position)


def play_classical(game, rules, mine, theirs, depths, seed, progress):
    """{player: (N,) moves} of greedy and alpha-beta at each depth (ascending: the last is the
    strongest)."""
    boards = rules.to_boards(mine, theirs)
    players = {"greedy": GreedyPlayer(game, seed), **{f"alphabeta{d}": AlphaBetaPlayer(game, d, seed) for d in depths}}
    return {name: np.array([player.play(board) for board in tqdm(boards, desc=name, disable=not progress, leave=False)])
            for name, player in players.items()}


def phase_counts(empties, superhuman):
    """{empties: [superhuman positions, positions]} in order."""
    return {int(e): [int(superhuman[empties == e].sum()), int((empties == e).sum())] for e in np.unique(empties)}


def analyse(config: SuperhumanConfig):
    """The whole analysis; returns the JSON written."""
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    game, rules = OthelloGame(6), bitboard_rules(6)
    network = NetworkWrapper.load_checkpoint(config.checkpoint, "cpu")
    network.net.eval()
    sae = load_saelens(config.sae).eval()
    heldout = load_activations(config.activations, "heldout", ["boards"], checkpoint_sha256=file_sha256(config.checkpoint))
    mine, theirs = sample_positions(np.asarray(heldout["boards"]), config, rng)
    empties = empty_squares(rules, mine, theirs)
    solved = list(tqdm(map_in_processes(_solve, list(zip(mine.tolist(), theirs.tolist())), config.workers),
                       total=len(mine), desc="solving", disable=not config.progress))
    values = move_values_table(solved, rules.num_squares + 1)
    boards = torch.as_tensor(rules.to_boards(mine, theirs).reshape(len(mine), -1), dtype=torch.float32)
    legal = torch.as_tensor(rules.action_mask(mine, theirs) > 0)
    with torch.no_grad():
        x = network.net.residual_stream(boards, config.layer)
        raw_moves = legal_log_policy(network.net.forward_from(x, config.layer)[0], legal).argmax(dim=1).numpy()
    search_moves = search_best_moves(network, rules, mine, theirs, config.sims)
    classical = play_classical(game, rules, mine, theirs, config.depth_list, config.seed, config.progress)
    superhuman, ordinary = classify(values, raw_moves, classical)
    search_superhuman, _ = classify(values, search_moves, classical)
    control = matched_control(empties, superhuman, ordinary, rng)
    chosen = np.flatnonzero(superhuman)
    if not len(chosen):
        raise ValueError(f"no superhuman position among {len(mine)}: take more --positions or other --depths")
    moves = torch.as_tensor(raw_moves)
    attr_super = attribution(network.net, sae, x[chosen], legal[chosen], config.layer, moves[chosen])
    attr_control = attribution(network.net, sae, x[control], legal[control], config.layer, moves[control])
    ranking = feature_ranking(attr_super, attr_control)
    # candidates: features that push the network's move on the superhuman positions, most
    # specific to them (enrichment) first
    pushing = np.flatnonzero(ranking["contribution"] > 0)
    top = [int(f) for f in pushing[np.argsort(-ranking["enrichment"][pushing], kind="stable")][: config.top]]
    by_contribution = [int(f) for f in np.argsort(-ranking["contribution"], kind="stable")[: config.top]]
    random = frequency_matched(ranking["fires"], top, rng)
    reference = list(classical)[-1]  # the strongest classical player: the deepest alpha-beta
    deepest = classical[reference]

    def check(features):
        return causal_effect(network.net, sae, x[chosen], legal[chosen], config.layer, values[chosen], features,
                             deepest[chosen])

    labels = feature_labels(Path(config.data), Path(config.sae).name)
    features = []
    for feature, baseline in zip(top, random):
        strongest = np.argsort(-attr_super[:, feature].numpy(), kind="stable")[: config.examples]
        features.append({
            "id": feature, "labels": labels.get(feature), "contribution": float(ranking["contribution"][feature]),
            "control": float(ranking["control"][feature]), "enrichment": float(ranking["enrichment"][feature]),
            "fires": float(ranking["fires"][feature]), "causal": check([feature]),
            "random": {"id": baseline, "causal": check([baseline])},
            "examples": [example(chosen[i], mine, theirs, values, raw_moves, deepest) for i in strongest
                         if attr_super[i, feature] > 0]})
    return {
        "sae": Path(config.sae).name, "checkpoint": Path(config.checkpoint).name, "config": asdict(config),
        "positions": len(mine), "players": list(classical), "reference_player": reference,
        "superhuman": int(superhuman.sum()), "search_superhuman": int(search_superhuman.sum()),
        "control": len(control), "by_empties": phase_counts(empties, superhuman),
        "search_by_empties": phase_counts(empties, search_superhuman),
        "keeps_outcome": {name: float(keeps_outcome(values, m).mean())
                          for name, m in {"network": raw_moves, "search": search_moves, **classical}.items()},
        "features": features, "top_by_contribution": by_contribution,
        "per_feature": {k: np.round(v, 5).tolist() for k, v in ranking.items()},
        "together": {"ids": top[: config.together], "causal": check(top[: config.together]),
                     "random": {"ids": random[: config.together], "causal": check(random[: config.together])}},
        "seconds": time.perf_counter() - start}


def example(i, mine, theirs, values, network_moves, classical_moves):
    """One position: its board, the network's and the classical player's moves and their values."""
    return {"board": board_string(int(mine[i]), int(theirs[i])), "network": square_name(int(network_moves[i])),
            "network_value": float(values[i, network_moves[i]]), "classical": square_name(int(classical_moves[i])),
            "classical_value": float(values[i, classical_moves[i]]), "best_value": float(np.nanmax(values[i]))}


def feature_labels(data, name):
    """{feature: [label, ...]} from the viewer data of SAE `name`; {} when it is not there."""
    try:
        index = json.loads((data / "index.json").read_text())
        entry = next(e for e in index["saes"] if e["name"] == name)
        features = json.loads((data / entry["file"]).read_text())["features"]
    except (OSError, ValueError, StopIteration, KeyError):
        return {}
    return {f["id"]: f.get("labels", []) for f in features}


def markdown(result):
    """The report: counts by phase, then the top features and their causal check."""
    lines = [f"{result['superhuman']} of {result['positions']} positions are superhuman for the raw policy "
             f"({result['search_superhuman']} for the search); control: {result['control']} ordinary positions "
             "of the same phases.", "",
             "| empties | " + " | ".join(map(str, result["by_empties"])) + " |",
             "|---" * (len(result["by_empties"]) + 1) + "|",
             "| superhuman / positions | " + " | ".join(f"{s} / {n}" for s, n in result["by_empties"].values()) + " |",
             "", "Outcome kept: " + ", ".join(f"{k} {v:.1%}" for k, v in result["keeps_outcome"].items()), "",
             "| feature | labels | contribution | control | fires | outcome lost | became classical | random: outcome lost |",
             "|---|---|---|---|---|---|---|---|"]
    for f in result["features"]:
        labels = ", ".join((f["labels"] or [])[:2]) or ("unexplained" if f["labels"] is not None else "?")
        lines.append(f"| {f['id']} | {labels} | {f['contribution']:.3f} | {f['control']:.3f} | {f['fires']:.0%} | "
                     f"{percent(f['causal']['outcome_lost'])} | {percent(f['causal']['became_classical'])} | "
                     f"{percent(f['random']['causal']['outcome_lost'])} |")
    together = result["together"]
    lines += ["", f"Top {len(together['ids'])} removed together: outcome lost on "
              f"{percent(together['causal']['outcome_lost'])} of {together['causal']['positions']} positions, "
              f"{result['reference_player']}'s move on {percent(together['causal']['became_classical'])} of the changed ones; "
              f"{len(together['random']['ids'])} frequency-matched random features: "
              f"{percent(together['random']['causal']['outcome_lost'])}."]
    return "\n".join(lines)


def percent(share):
    return "-" if np.isnan(share) else f"{share:.0%}"


def main(argv=None):
    config = parse_config(SuperhumanConfig, argv)
    try:
        result = analyse(config)
    except (ActivationError, CheckpointError, ValueError) as error:
        sys.exit(f"error: {error}")
    path = Path(config.out) / f"{result['sae']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    print(f"\n{result['positions']} positions in {result['seconds']:.0f}s -> {path}")


if __name__ == "__main__":
    main()
