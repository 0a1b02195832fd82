"""SAE training curves: FVE, L0 and policy fraction recovered against activations seen, one
SAE per architecture at one width, on the shipped model's activations (docs/saes.md).

Each SAE trains once for the whole budget (`--multiple` times the cpu profile's 2,400 x 512 =
1.2M activations) and is measured on held-out positions at log-spaced points along the way.
The learning rate decays over the last 20% of the whole run, so the earlier points understate
what a run stopped there (and decayed there) would reach: the curve says where more data stops
paying, the last point what the full budget buys. Results go to --out (a JSON file, rewritten
after every architecture: a rerun skips the finished ones) and the plot to --plot.

    python benchmarks/sae_convergence.py                       # 20x, six architectures, 1,024 features
    python benchmarks/sae_convergence.py --multiple 2 --architectures batchtopk
    python benchmarks/sae_convergence.py --k 40 --architectures batchtopk --concept-positions 20000
        # with coverage and board reconstruction at every point, as the sweep measures them
"""
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from NetworkWrapper import NetworkWrapper, default_device  # noqa: E402
from othello.bitboard import bitboard_rules  # noqa: E402
from othello.cli import parse_config, require_at_least  # noqa: E402
from othello.OthelloPlayers import SHIPPED_MODEL  # noqa: E402
from sae.activations import load_activations, resid_field, search_simulations, write_text_atomic  # noqa: E402
from sae.concept_data import CONCEPT_FIELDS, ConceptData, sample_rows  # noqa: E402
from sae.metrics import fidelity_baseline, fidelity_metrics, reconstruction_metrics  # noqa: E402
from sae.model import ARCHITECTURES, SAEConfig, SparseAutoencoder  # noqa: E402
from sae.train import SAETrainConfig, Splice, train_saes  # noqa: E402

BASE_ACTIVATIONS = 2400 * 512  # the cpu profile's budget: 2,400 steps of 512


@dataclass
class ConvergenceConfig:
    """Train one SAE per architecture for a long budget and measure it along the way."""

    activations: str = "runs/activations"
    """folder written by othello/collect_activations.py"""
    checkpoint: str = str(SHIPPED_MODEL)
    """the model the activations came from"""
    architectures: str = ",".join(ARCHITECTURES)
    """comma-separated architectures"""
    n_features: int = 1024
    """dictionary size"""
    k: int = 32
    """k of the TopK family"""
    l1_penalty: float = 2.0
    """lambda of the L1 SAE (the viewer's default SAE has 2), and p-annealing's starting one"""
    p_end: float = SAEConfig.p_end
    """the exponent p-annealing's penalty ends at"""
    l0_penalty: float = 0.1
    """lambda of the JumpReLU SAE"""
    matryoshka_groups: int = SAEConfig.matryoshka_groups
    """nested prefixes of the Matryoshka SAE, halving from the whole dictionary (its smallest is
    n_features / 2^(groups - 1))"""
    kl_coefficient: float = 0.0
    """weight of the network's policy KL in the loss (sae/train.py; 0: reconstruction alone)"""
    kl_from: float = 0.0
    """share of the run after which the KL term joins the loss (0: from the start)"""
    centre: bool = True
    """SAEs other than L1 encode their input minus b_dec (b_dec starting at the training mean)"""
    multiple: float = 20.0
    """the budget, in multiples of 1.2M activations"""
    points: int = 8
    """measurements, log-spaced from 1/16 of 1.2M to the whole budget"""
    batch_size: int = 512
    """activations per step"""
    lr: float = 5e-4
    """peak learning rate"""
    heldout: int = 50_000
    """held-out positions measured"""
    concept_positions: int = 0
    """positions of each split for coverage and board reconstruction at every point, as the
    sweep measures them (the cpu profile: 20,000; 0: not measured)"""
    seed: int = 0
    """seeds the initialisations and the batch order"""
    threads: int = 2
    """torch CPU threads"""
    out: str = "runs/convergence/convergence.json"
    """the measurements (resumable)"""
    plot: str = "assets/sae_convergence.png"
    """the figure ('' for none)"""

    def __post_init__(self):
        require_at_least(self, 1, "n_features", "k", "points", "batch_size", "heldout", "threads")
        require_at_least(self, 0, "concept_positions")
        self.architecture_list = [a.strip() for a in self.architectures.split(",") if a.strip()]
        if not self.architecture_list or set(self.architecture_list) - set(ARCHITECTURES):
            raise ValueError(f"--architectures takes {', '.join(ARCHITECTURES)}, got '{self.architectures}'")
        for architecture in self.architecture_list:  # their own checks, before any data is read
            SAEConfig(n_features=self.n_features, architecture=architecture, k=self.k,
                      matryoshka_groups=self.matryoshka_groups, p_end=self.p_end)
        if self.multiple <= 0:
            raise ValueError("--multiple must be positive")

    def steps(self):
        return max(1, round(self.multiple * BASE_ACTIVATIONS / self.batch_size))

    def checkpoints(self):
        """The steps measured: `points` of them, log-spaced, the last at the end of the run."""
        first = max(1, round(BASE_ACTIVATIONS / 16 / self.batch_size)) if self.points > 1 else self.steps()
        return sorted({int(round(v)) for v in np.geomspace(min(first, self.steps()), self.steps(), self.points)})


def load_data(config, device):
    network = NetworkWrapper.load_checkpoint(config.checkpoint, device)
    field, rng = resid_field(2), np.random.default_rng(config.seed)
    fields = [field, *CONCEPT_FIELDS] if config.concept_positions else [field, "boards"]
    store = load_activations(config.activations, "train", fields)
    train = torch.from_numpy(np.array(store[field])).to(device)  # a copy: the store is read-only
    heldout = load_activations(config.activations, "heldout", fields)
    rows = sample_rows(len(heldout[field]), config.heldout, rng)
    held = torch.from_numpy(np.asarray(heldout[field][rows])).to(device)
    boards = np.asarray(heldout["boards"][rows])
    rules = bitboard_rules(int(round(boards.shape[1] ** 0.5)))
    legal = torch.from_numpy(rules.action_mask(*rules.from_boards(boards)) > 0).to(device)
    baseline = fidelity_baseline(network.net, held, legal, 2, train.mean(dim=0))
    splice = None
    if config.kl_coefficient:  # the legal moves of every training position, for the KL term
        train_boards = np.asarray(store["boards"])
        splice = Splice(network.net, 2, torch.from_numpy(rules.action_mask(*rules.from_boards(train_boards)) > 0).to(device))
    concepts = None
    if config.concept_positions:
        concepts = ConceptData(network, field, {"train": store, "heldout": heldout}, config.concept_positions, rng,
                               search_simulations(config.activations))
    return network, train, held, legal, baseline, splice, concepts


def run(config: ConvergenceConfig):
    torch.set_num_threads(config.threads)
    device = default_device()
    out = Path(config.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    steering = {"architectures": None, "threads": None, "out": None, "plot": None}  # the curves do not depend on these
    settings = {key: value for key, value in asdict(config).items()  # a setting added since: its default
                if key in results.get("config", {}) or value != getattr(ConvergenceConfig, key)}
    if results.get("config", {}) | steering != settings | steering:
        results = {}  # other settings: start again
    results["config"] = asdict(config)
    curves = results.setdefault("curves", {})
    todo = [architecture for architecture in config.architecture_list if architecture not in curves]
    if todo:  # (a finished run reads nothing but its results)
        network, train, held, legal, baseline, splice, concepts = load_data(config, device)
    for architecture in todo:
        start = time.perf_counter()
        curves[architecture] = {"points": train_curve(config, architecture, network, train, held, legal, baseline,
                                                            splice, concepts),
                                "seconds": time.perf_counter() - start}
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, json.dumps(results, indent=1) + "\n")
    return results


# What a point keeps of the concept metrics (sae/concepts.py), when they are measured.
CONCEPT_KEYS = ("coverage", "reconstruction_mine", "reconstruction_theirs", "reconstruction_legal",
                "reconstruction_recall_mine", "reconstruction_recall_theirs", "reconstruction_recall_legal")


def train_curve(config, architecture, network, train, held, legal, baseline, splice=None, concepts=None):
    """The measurements of one SAE along its training run (with `concepts`, a ConceptData, the
    concept metrics too)."""
    torch.manual_seed(config.seed)
    sae = SparseAutoencoder(SAEConfig(train.shape[1], config.n_features, architecture, l1_penalty=config.l1_penalty,
                                      k=config.k, l0_penalty=config.l0_penalty, p_end=config.p_end,
                                      matryoshka_groups=config.matryoshka_groups,
                                      centre=config.centre and architecture != "l1")).to(train.device)
    points = []

    def measure(step):
        with torch.no_grad():
            metrics = {**reconstruction_metrics(sae, held), **fidelity_metrics(network.net, sae, held, legal, 2, baseline)}
            if concepts is not None:
                metrics.update(concepts.summary(lambda x: sae.encode(x.to(held.device))))
        points.append({"activations_seen": step * config.batch_size,
                       **{k: metrics[k] for k in ("l0", "fve", "fraction_recovered", "top1_agreement", "dead_fraction",
                                                  *(CONCEPT_KEYS if concepts is not None else ()))}})
        board = (f"  coverage {metrics['coverage']:.3f}  reconstruction "
                 + " / ".join(f"{metrics['reconstruction_' + g]:.2f}" for g in ("mine", "theirs", "legal"))
                 if concepts is not None else "")
        print(f"{architecture:<11}{step * config.batch_size / 1e6:>7.2f}M  L0 {metrics['l0']:6.1f}  "
              f"FVE {metrics['fve']:.3f}  recovered {metrics['fraction_recovered']:.3f}{board}", flush=True)

    train_config = SAETrainConfig(steps=config.steps(), batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                                  kl_coefficient=config.kl_coefficient, kl_from=config.kl_from)
    train_saes([sae], train, train_config, progress=True, desc=architecture, checkpoints=set(config.checkpoints()),
               on_checkpoint=measure, splice=splice)
    return points


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("fve", "fraction of variance explained"), ("fraction_recovered", "policy fraction recovered"),
              ("l0", "L0")]
    if all("coverage" in entry["points"][0] for entry in results["curves"].values()):
        panels += [("coverage", "concept coverage"), ("reconstruction_mine", "board reconstruction, my discs")]
    rows = (len(panels) + 2) // 3
    figure, axes = plt.subplots(rows, 3, figsize=(15, 4.5 * rows), constrained_layout=True, squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(panels):]:
        ax.axis("off")
    for ax, (key, label) in zip(axes, panels):
        for architecture, entry in results["curves"].items():
            points = entry["points"]
            ax.plot([p["activations_seen"] for p in points], [p[key] for p in points], marker="o", label=architecture)
        ax.axvline(BASE_ACTIVATIONS, color="grey", linestyle=":", label="1.2M: the cpu profile's budget")
        ax.set_xscale("log")
        ax.set_xlabel("activations seen")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    c = results["config"]
    figure.suptitle(f"SAE training curves, {c['n_features']} features (k = {c['k']}, L1 lambda {c['l1_penalty']:g}, "
                    f"JumpReLU lambda {c['l0_penalty']:g}), batch {c['batch_size']}, lr {c['lr']:g}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None):
    config = parse_config(ConvergenceConfig, argv)
    results = run(config)
    if config.plot:
        plot(results, config.plot)
    print(f"{'architecture':<13}{'activations':>12}{'L0':>7}{'FVE':>7}{'recovered':>10}{'minutes':>9}"
          f"{'coverage':>10}  reconstruction mine / theirs / legal")
    for architecture, entry in results["curves"].items():
        last = entry["points"][-1]
        board = (f"{last['coverage']:>10.3f}  " + " / ".join(f"{last['reconstruction_' + g]:.2f}"
                                                              for g in ("mine", "theirs", "legal"))
                 if "coverage" in last else "")
        print(f"{architecture:<13}{last['activations_seen'] / 1e6:>11.1f}M{last['l0']:>7.1f}{last['fve']:>7.3f}"
              f"{last['fraction_recovered']:>10.3f}{entry['seconds'] / 60:>9.1f}{board}")


if __name__ == "__main__":
    main()
