"""Export SAE features for the viewer (stage 4): vis/data/index.json and one JSON per SAE.

    python vis/generate_vis_data.py                                   # every SAE in runs/saes
    python vis/generate_vis_data.py --saes sae/pretrained/l1_lambda3_f1024,sae/pretrained/l1_lambda4_f2048

Feature examples come from the held-out games of the activation set (positions the SAEs never
trained on). Per SAE file:

    {"sae": {name, architecture, l1_penalty, k, l0_penalty, n_features, metrics...},
     "boards": ["x.o*..", ...],    every referenced board once, 36 characters, row by row from a1:
                                   x = side to move, o = opponent, * = empty and a legal move, . = empty
     "last_moves": [action, ...],  per board, the opponent's move that led to it (36: pass, -1: unknown)
     "features": [{"id", "frequency", "max",
                   "top": [[board, activation], ...], "random": [...],
                   "bands": [[[board, activation], ...] per quantile band of (0, max]],
                   "histogram": [counts of nonzero activations over `bins` equal bins of (0, max]],
                   "promotes" / "suppresses": [[action, logit change], ...] (5 each; 36 is pass),
                   "value": value-logit change,
                   "heat": {"mine" | "theirs" | "empty": 36 values: P(state | fires) - P(state)},
                   "concepts": [[name, F1, precision, recall, threshold], ...] its 3 best-matching
                               board concepts (othello/concepts.py; threshold x max activation),
                   "labels": [name, ...] the concepts it predicts at precision >= 0.95 on >= 10
                             positions, beating the concept's base rate (sae/concepts.py
                             informative_labels); none: unexplained,
                   "ablate" / "steer": [share of positions whose top move changes, mean policy
                             KL, mean value change, the move that gains the most probability]
                             when the feature is removed from / added to the stream on the
                             positions it fires on (sae/interventions.py)}],
     "unexplained": {"frequent": [id, ...], "policy_relevant": [id, ...]}: the unlabelled live
                    features firing most often and changing the policy most when ablated,
     "probes": [[concept, feature, cosine], ...]: for the linear probe of each concept (fitted
               on the scanned positions), the feature whose decoder direction is closest}
                   (dead features carry only id and frequency 0)

`python vis/superhuman.py --viewer` later adds a "superhuman" summary to a file and a
"superhuman" block to each live feature (vis/superhuman_report.py add_to_viewer documents them);
exporting the SAE again drops them until it runs again.

Move and value effects are the decoder direction's direct path through the residual
connections into the policy and value heads (layer 3's block is bypassed): W_policy @ d and
w_value @ d, per unit of feature activation.
"""
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from NetworkWrapper import CheckpointError, NetworkWrapper  # noqa: E402
from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloPlayers import SHIPPED_MODEL  # noqa: E402
from sae.activations import (ActivationError, file_sha256, load_activations, resid_field, search_simulations,  # noqa: E402
                             write_text_atomic)
from sae.concept_data import CONCEPT_FIELDS, sample_rows, stored_concepts  # noqa: E402
from sae.concepts import THRESHOLDS, closest_features, fit_probes, informative_labels, threshold_scores  # noqa: E402
from sae.export import load_saelens  # noqa: E402
from sae.interventions import intervention_effects  # noqa: E402
from vis.weights import export_weights  # noqa: E402

HEADLINE = ("l0", "fve", "mse", "dead_fraction", "dense_fraction", "policy_kl", "top1_agreement", "value_mse",
            "fraction_recovered")


@dataclass
class VisConfig:
    """Export SAE features (examples, histograms, move effects, heat maps) for the viewer."""

    saes: str = ""
    """comma-separated SAE folders (default: every finished SAE under --sae-dir)"""
    sae_dir: str = "runs/saes"
    """where train_sae.py put the SAEs"""
    activations: str = "runs/activations"
    """activation folder; its held-out games supply the examples"""
    checkpoint: str = str(SHIPPED_MODEL)
    """the model the SAEs read (for the move and value effects, and the explorer)"""
    layer: int = 2
    """the residual-stream layer the SAEs read"""
    out: str = "vis/data"
    """output folder (index.json and one file per SAE)"""
    max_positions: int = 50_000
    """held-out positions scanned (a random subset)"""
    top: int = 8
    """top-activating examples per feature"""
    random: int = 8
    """random activating examples per feature"""
    bands: int = 4
    """quantile bands of (0, max activation]"""
    per_band: int = 3
    """examples per band"""
    bins: int = 20
    """histogram bins"""
    seed: int = 0
    """seeds the subset and the random examples"""
    progress: bool = True
    """tqdm progress bars"""

    def __post_init__(self):
        require_at_least(self, 1, "max_positions", "top", "bands", "bins")
        require_at_least(self, 0, "random", "per_band", "layer")


class RunningTop:
    """The k highest-scoring rows per feature over chunks of rows, with the feature's
    activation at each: (k, F) scores, row indices and activations."""

    def __init__(self, k, n_features):
        self.scores = torch.full((k, n_features), float("-inf"))
        self.rows = torch.zeros((k, n_features), dtype=torch.long)
        self.activations = torch.zeros((k, n_features))

    def update(self, scores, activations, first_row):
        rows = torch.arange(first_row, first_row + len(scores)).unsqueeze(1).expand_as(scores)
        merged = torch.cat([self.scores, scores])
        self.scores, order = merged.topk(len(self.scores), dim=0)
        self.rows = torch.cat([self.rows, rows]).gather(0, order)
        self.activations = torch.cat([self.activations, activations]).gather(0, order)

    def pairs(self, feature):
        """[(row, activation)] of one feature's kept entries, best score first."""
        keep = self.scores[:, feature] > float("-inf")
        return list(zip(self.rows[keep, feature].tolist(), self.activations[keep, feature].tolist()))


def significant(value, digits=4):
    """Rounded to `digits` significant digits: small JSON, and a tiny activation stays > 0."""
    return float(f"{value:.{digits}g}")


def board_string(board, legal):
    chars = np.where(board == 1, "x", np.where(board == -1, "o", np.where(legal[:36] > 0, "*", ".")))
    return "".join(chars)


@torch.no_grad()
def feature_data(sae, x, boards, config, generator):
    """Per-feature statistics and example rows over activations x (N, d)."""
    F, chunks = sae.config.n_features, list(x.split(8192))
    count, maximum = torch.zeros(F), torch.zeros(F)
    for chunk in chunks:  # pass 1: frequency and range
        f = sae.encode(chunk)
        count += (f > 0).sum(dim=0)
        maximum = torch.maximum(maximum, f.max(dim=0).values)
    top, random = RunningTop(config.top, F), RunningTop(config.random, F)
    bands = [RunningTop(config.per_band, F) for _ in range(config.bands)]
    histogram = torch.zeros(F, config.bins)
    # (N, 3 * 36): state-major, so that columns j*36 .. j*36+35 are state j over the squares
    states = torch.from_numpy(np.stack([boards == 1, boards == -1, boards == 0], axis=1).reshape(len(boards), -1))
    firing_states = torch.zeros(F, states.shape[1])
    start = 0
    for chunk in chunks:  # pass 2: examples, histogram, board statistics
        f = sae.encode(chunk)
        fires = f > 0
        top.update(f.masked_fill(~fires, float("-inf")), f, start)
        noise = torch.rand(f.shape, generator=generator)  # random scores: a uniform sample of rows
        random.update(noise.masked_fill(~fires, float("-inf")), f, start)
        band = (f / maximum.clamp_min(1e-12) * config.bands).ceil().clamp(1, config.bands) - 1  # 0-based
        for b, tracker in enumerate(bands):
            tracker.update(noise.masked_fill(~fires | (band != b), float("-inf")), f, start)
        bin_index = (f / maximum.clamp_min(1e-12) * config.bins).ceil().clamp(1, config.bins).long() - 1
        histogram.scatter_add_(1, bin_index.T, fires.T.float())
        firing_states += fires.T.float() @ states[start:start + len(chunk)].float()
        start += len(chunk)
    base = states.float().mean(dim=0)
    heat = firing_states / count.clamp_min(1).unsqueeze(1) - base
    return {"count": count, "maximum": maximum, "top": top, "random": random, "bands": bands,
            "histogram": histogram, "heat": heat}


def direct_effects(network, sae):
    """(policy logit change (F, A), value logit change (F,)) per unit of each feature."""
    directions = sae.W_dec.detach() / sae.input_scale  # raw-space decoder rows
    net = network.net
    return (directions @ net.policy_head.weight.T.cpu()), (directions @ net.value_head.weight.T.cpu()).squeeze(1)


@dataclass
class Positions:
    """The held-out positions scanned, with what the export needs of them."""

    x: torch.Tensor
    """residual streams (N, d)"""
    boards: np.ndarray
    """canonical boards (N, 36)"""
    legal: np.ndarray
    """action masks (N, 37)"""
    last_moves: np.ndarray
    """the move that led to each (N,), -1 unknown"""
    concept_names: list
    """names of the board concepts (othello/concepts.py)"""
    concepts: np.ndarray
    """(N, C) bool"""
    probes: tuple
    """linear probes of the concepts on x (sae.concepts.fit_probes)"""


def concept_matches(sae, positions, top=3):
    """Per feature: its best-matching concepts [[name, F1, precision, recall, threshold]] and
    its labels (the concepts it predicts on these positions: `informative_labels`)."""
    with torch.no_grad():
        features = torch.cat([sae.encode(chunk) for chunk in positions.x.split(8192)]).numpy()
    scores = threshold_scores(features, positions.concepts)
    best_threshold = scores["f1"].argmax(axis=0)  # (F, C)
    f1 = scores["f1"].max(axis=0)
    labels = informative_labels(scores, positions.concepts.mean(axis=0))
    matches = []
    for i in range(len(f1)):
        best = []
        for c in np.argsort(-f1[i])[:top]:
            if f1[i, c] > 0:
                t = best_threshold[i, c]
                best.append([positions.concept_names[c], significant(f1[i, c], 3),
                             significant(scores["precision"][t, i, c], 3), significant(scores["recall"][t, i, c], 3),
                             THRESHOLDS[t]])
        matches.append((best, [positions.concept_names[c] for c in np.flatnonzero(labels[i])][:8]))
    return matches


def export_sae(folder, record, positions, network, config):
    """The viewer's JSON for one SAE."""
    sae = load_saelens(folder)
    generator = torch.Generator().manual_seed(config.seed)
    x, boards, legal, last_moves = positions.x, positions.boards, positions.legal, positions.last_moves
    data = feature_data(sae, x, boards, config, generator)
    matches = concept_matches(sae, positions)
    policy_effect, value_effect = direct_effects(network, sae)
    firing_rows = {i: sorted({row for row, _ in data["top"].pairs(i) + data["random"].pairs(i)})
                   for i in range(sae.config.n_features) if data["count"][i] > 0}
    effects = intervention_effects(network.net.cpu().eval(), sae, x, torch.from_numpy(legal > 0), config.layer,
                                   firing_rows, data["maximum"])
    referenced, features = {}, []

    def examples(pairs):
        out = []
        for row, activation in pairs:
            index = referenced.setdefault(row, len(referenced))
            out.append([index, significant(activation)])
        return out

    n = len(x)
    for i in range(sae.config.n_features):
        frequency = data["count"][i].item() / n
        if frequency == 0:
            features.append({"id": i, "frequency": 0})
            continue
        order = policy_effect[i].argsort(descending=True)
        features.append({
            "id": i, "frequency": round(frequency, 6), "max": significant(data["maximum"][i].item()),
            "top": examples(data["top"].pairs(i)),
            "random": examples(data["random"].pairs(i)),
            "bands": [examples(b.pairs(i)) for b in data["bands"]],
            "histogram": data["histogram"][i].int().tolist(),
            "promotes": [[int(a), round(policy_effect[i, a].item(), 3)] for a in order[:5]],
            "suppresses": [[int(a), round(policy_effect[i, a].item(), 3)] for a in order.flip(0)[:5]],
            "value": round(value_effect[i].item(), 4),
            "heat": {state: [round(v, 3) for v in data["heat"][i, j * 36:(j + 1) * 36].tolist()]
                     for j, state in enumerate(("mine", "theirs", "empty"))},
            "concepts": matches[i][0], "labels": matches[i][1],
            **{name: [round(float(e["top_changed"][i]), 3), significant(float(e["kl"][i]), 3),
                      round(float(e["value"][i]), 4), int(e["gained_move"][i])] for name, e in effects.items()},
        })
    rows = sorted(referenced, key=referenced.get)
    closest, cosine = closest_features(positions.probes[0], sae.W_dec.detach())
    summary = {"name": Path(folder).name, **{k: record.get(k) for k in ("architecture", "l1_penalty", "k", "l0_penalty", "n_features")},
               **{k: record.get(k) for k in HEADLINE}, "positions_scanned": n}
    return {"sae": summary, "boards": [board_string(boards[r], legal[r]) for r in rows],
            "last_moves": [int(last_moves[r]) for r in rows], "features": features,
            "unexplained": unexplained(features),
            "probes": [[name, int(i), round(float(c), 3)] for name, i, c in zip(positions.concept_names, closest, cosine)]}


def unexplained(features, top=12):
    """The live features with no label: the most frequent, and those whose ablation changes the
    policy most (mean KL), the candidates for concepts nobody has named."""
    candidates = [f for f in features if f["frequency"] > 0 and not f["labels"]]
    frequent = sorted(candidates, key=lambda f: -f["frequency"])[:top]
    relevant = sorted(candidates, key=lambda f: -f["ablate"][1])[:top]
    return {"frequent": [f["id"] for f in frequent], "policy_relevant": [f["id"] for f in relevant]}


def sae_folders(config):
    if config.saes:
        return [Path(p) for p in config.saes.split(",") if p.strip()]
    folders = sorted(p.parent for p in Path(config.sae_dir).glob("*/record.json"))
    if not folders:
        raise ValueError(f"no trained SAEs in {config.sae_dir}: run `python train_sae.py` first, or pass --saes")
    return folders


def record_of(folder):
    """The training record: record.json beside the export, else the one in cfg.json's metadata."""
    folder = Path(folder)
    if (folder / "record.json").is_file():
        return json.loads((folder / "record.json").read_text())
    cfg_path = folder / "cfg.json"
    if not cfg_path.is_file():
        raise ValueError(f"{folder} is not an SAE folder (no cfg.json): train one with `python train_sae.py`")
    return json.loads(cfg_path.read_text()).get("metadata", {}).get("record", {})


def write_json(path, obj):
    write_text_atomic(path, json.dumps(obj, separators=(",", ":")))  # compact: the page downloads it


def generate(config: VisConfig):
    """Write one file per SAE, then index.json (last). Returns the index."""
    folders = sae_folders(config)  # first: a missing SAE fails before any loading
    network = NetworkWrapper.load_checkpoint(config.checkpoint, "cpu")
    sha256 = file_sha256(config.checkpoint)
    field = resid_field(config.layer)
    heldout = load_activations(config.activations, "heldout", [field, *CONCEPT_FIELDS], checkpoint_sha256=sha256)
    rows = sample_rows(len(heldout["boards"]), config.max_positions, np.random.default_rng(config.seed))
    x = torch.from_numpy(np.array(heldout[field][rows]))
    boards, last_moves = np.array(heldout["boards"][rows]), np.array(heldout["last_move"][rows])
    names, concepts, _ = stored_concepts(network, heldout, rows, search_simulations(config.activations))
    rules = bitboard_rules(network.model_config.board_size)
    legal = rules.action_mask(*rules.from_boards(boards))
    positions = Positions(x, boards, legal, last_moves, names, concepts, fit_probes(x, concepts))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for folder in tqdm(folders, desc="saes", disable=not config.progress):
        record = record_of(folder)
        data = export_sae(folder, record, positions, network, config)
        file = f"{data['sae']['name']}.json"
        write_json(out / file, data)
        alive = sum(1 for f in data["features"] if f["frequency"] > 0)
        entries.append({**data["sae"], "file": file, "alive_features": alive, "bytes": (out / file).stat().st_size})
    index = {"saes": entries, "layer": config.layer, "checkpoint_sha256": sha256,
             "explorer": export_weights(network, {entry["name"]: folder for entry, folder in zip(entries, folders)},
                                        config.layer, out),
             "command": "python vis/generate_vis_data.py " + " ".join(sys.argv[1:])}
    write_json(out / "index.json", index)
    return index


def viewer_hint(out):
    """How to look at an export in `out`: the viewer's pages fetch data/ beside themselves."""
    viewer = Path(__file__).resolve().parent
    if Path(out).resolve() == viewer / "data":
        return "open the viewer: cd vis && python -m http.server --bind 127.0.0.1 8000, then http://127.0.0.1:8000"
    return (f"the viewer reads {viewer / 'data'}: to browse this export, serve a copy of {viewer} with "
            f"{out} as its data/ folder")


def main(argv=None):
    config = parse_config(VisConfig, argv)
    start = time.perf_counter()
    try:
        index = generate(config)
    except (ActivationError, CheckpointError, ValueError) as error:
        sys.exit(f"error: {error}")
    size = sum(entry["bytes"] for entry in index["saes"]) / 1e6
    print(f"{len(index['saes'])} SAEs ({size:.1f} MB) in {time.perf_counter() - start:.0f}s -> {config.out}")
    print(viewer_hint(config.out))


if __name__ == "__main__":
    main()
