"""Train sparse autoencoders on the layer-2 residual stream of the AlphaZero network (stage 3).

    python train_sae.py                              # 25 L1 SAEs + 24 of four architectures, CPU profile
    python train_sae.py --profile quick              # the same pipeline in a few minutes
    python train_sae.py --profile paper              # the original settings, for a GPU
    python train_sae.py --l1-penalties 3 --n-features 1024 --architectures ""   # one SAE
    python train_sae.py --architectures batchtopk,jumprelu --arch-widths 1024   # the L1 grid and these
    python train_sae.py --architectures topk --ks 8,16,32 --l1-penalties ""   # TopK SAEs alone

Reads the activations of othello/collect_activations.py. Writes one folder per SAE under
--out-dir (SAELens's cfg.json + sae_weights.safetensors, and record.json, written last: its
presence means the SAE is finished, and a rerun skips it), then scaling.json (one record per
SAE, every metric measured on the held-out games) and the scaling plots. For the default grid
these go to the top level (scaling.json, assets/); otherwise beside the SAEs.
"""
import json
import sys
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from NetworkWrapper import CheckpointError, NetworkWrapper, default_device
from othello.bitboard import bitboard_rules
from othello.cli import parse_config, require_at_least
from othello.OthelloPlayers import SHIPPED_MODEL
from othello.ray_cluster import RaySetupError, connect  # imports Ray only when connect() is called
from sae.activations import (ActivationError, collection_settings, file_sha256, load_activations, resid_field,
                             search_simulations, write_text_atomic)
from sae.concept_data import CONCEPT_FIELDS, ConceptData, sample_rows
from sae.export import export_saelens, load_saelens, update_metadata
from sae.metrics import fidelity_baseline, fidelity_metrics, reconstruction_metrics
from sae.model import ARCHITECTURES, RELU_ENCODERS, TOPK_FAMILY, SAEConfig, SparseAutoencoder
from sae.plots import plot_scaling
from sae.train import SAETrainConfig, Splice, train_saes

DEFAULT_PENALTIES, DEFAULT_WIDTHS = "1,2,3,4,5", "256,512,1024,2048,4096"
# The matched-sparsity sweep beside the L1 grid: k of the TopK family, and the JumpReLU L0
# penalties that land near the same L0s on the shipped model's activations (docs/saes.md).
DEFAULT_ARCHITECTURES = "topk,batchtopk,matryoshka,jumprelu"
DEFAULT_KS, DEFAULT_JUMPRELU_PENALTIES, DEFAULT_ARCH_WIDTHS = "16,32,64", "0.6,0.23,0.1", "1024,4096"
# Starting lambdas of p-annealing (not in the default sweep: docs/saes.md measures it)
DEFAULT_PANNEAL_PENALTIES = "2,1,0.5"
# SAEs of one width train as one vectorised group up to this width; wider ones are faster one
# at a time (benchmarks/bench_sae.py measures both).
GROUP_MAX_FEATURES = 1024
# Profiles: steps (of SAEs up to GROUP_MAX_FEATURES wide, of wider ones, and of wider L1
# ones), batch size, learning rate, training activations (0: all), held-out positions
# evaluated, and the positions of each split the concept metrics use (labels from train, scores
# on held-out). In the cpu profile a step costs the wide SAEs 2-4x as much, and the full budget
# would take the sweep well past an hour on 2 cores: the wide architecture SAEs get half the
# steps and the wide L1 ones a quarter, the legacy grid's steps buying the least (docs/saes.md,
# "What the sweep costs").
PROFILES = {
    "quick": dict(steps=300, wide_steps=300, wide_l1_steps=300, batch_size=512, lr=1e-3, max_activations=200_000,
                  max_heldout=20_000, concept_positions=5_000),
    "cpu": dict(steps=2400, wide_steps=1200, wide_l1_steps=600, batch_size=512, lr=5e-4, max_activations=0,
                max_heldout=100_000, concept_positions=20_000),
    "paper": dict(steps=12_000, wide_steps=12_000, wide_l1_steps=12_000, batch_size=16_384, lr=1e-4,
                  max_activations=3_000_000, max_heldout=0, concept_positions=50_000),
}
# Metrics added (or redefined) after the first sweeps: a finished SAE without them gets every
# concept metric again on resume (the board reconstruction's threshold came with its rule, its
# recall later).
CONCEPT_KEYS = {"coverage", "auroc", "explained_features", "probe_cosine", "reconstruction_threshold_mine",
                "reconstruction_recall_mine"}
# Keys of an SAE's record.json that say what it was trained on and with (checked on resume);
# scaling.json states them once rather than per record.
RUN_KEYS = ("sae_config", "train_config", "activations", "collection", "checkpoint_sha256", "train_activations",
            "heldout_positions")


@dataclass
class SweepConfig:
    """Train a sweep of sparse autoencoders on collected residual-stream activations."""

    activations: str = "runs/activations"
    """folder written by othello/collect_activations.py"""
    checkpoint: str = str(SHIPPED_MODEL)
    """the model the activations came from (spliced into for the fidelity metrics)"""
    layer: int = 2
    """residual-stream layer the SAEs read"""
    profile: str = "cpu"
    """quick (minutes), cpu (the default sweep, about an hour on 2 cores) or paper (the original
    settings: batch 16384, lr 1e-4, 12000 steps, 3M activations; for a GPU)"""
    l1_penalties: str = DEFAULT_PENALTIES
    """comma-separated lambdas of the L1 SAEs (empty: none)"""
    n_features: str = DEFAULT_WIDTHS
    """comma-separated dictionary sizes"""
    architectures: str = DEFAULT_ARCHITECTURES
    """comma-separated architectures of the matched-sparsity sweep beside the L1 grid: topk,
    batchtopk, matryoshka (an SAE per --ks), jumprelu (an SAE per --jumprelu-penalties) and
    panneal (an SAE per --panneal-penalties); empty: the L1 grid alone"""
    ks: str = DEFAULT_KS
    """comma-separated k (mean active latents) of the TopK-family SAEs"""
    jumprelu_penalties: str = DEFAULT_JUMPRELU_PENALTIES
    """comma-separated L0 penalties of the JumpReLU SAEs"""
    panneal_penalties: str = DEFAULT_PANNEAL_PENALTIES
    """comma-separated starting lambdas of the p-annealing SAEs"""
    arch_widths: str = DEFAULT_ARCH_WIDTHS
    """comma-separated dictionary sizes of the --architectures sweep"""
    centre: bool = True
    """SAEs other than L1 encode their input minus b_dec, b_dec starting at the training mean"""
    steps: int = 0
    """optimiser steps of every SAE (0: the profile's, which gives SAEs wider than 1,024 features
    fewer in the cpu profile, the L1 ones fewest)"""
    batch_size: int = 0
    """activations per step (0: the profile's)"""
    lr: float = 0.0
    """peak learning rate (0: the profile's)"""
    kl_coefficient: float = 0.0
    """weight of the network's policy KL, with the reconstruction spliced in, in every SAE's
    loss (sae/train.py; 0: reconstruction alone; not with --ray)"""
    kl_from: float = 0.0
    """share of each SAE's steps after which the KL term joins its loss (0: from the start)"""
    max_activations: int = -1
    """training activations used, a random subset (0: all; -1: the profile's)"""
    seed: int = 0
    """seeds the initialisations, the batch order and the subsets"""
    out_dir: str = "runs/saes"
    """one folder per SAE goes here"""
    scaling: str = ""
    """where scaling.json goes (default: the top level for the default grid, else --out-dir)"""
    assets: str = ""
    """where the plots go (default: assets/ for the default grid, else --out-dir)"""
    threads: int = 0
    """torch CPU threads (0: torch's default)"""
    wandb: bool = False
    """log each SAE's record to Weights & Biases (needs `pip install wandb`)"""
    progress: bool = True
    """tqdm progress bars"""
    ray: bool = False
    """train on a Ray cluster: each training group (or wide SAE) is one task, a GPU each where
    there are GPUs (docs/ray.md; needs requirements-ray.txt); --activations and --out-dir must be
    on storage every node sees"""
    ray_cpus: int = 1
    """--ray: CPUs (torch threads) per training task"""
    ray_address: str = ""
    """--ray: the cluster to join (default: RAY_ADDRESS, else a cluster `ray start` began here,
    else a new one on this machine)"""

    def __post_init__(self):
        if not self.ray and (self.ray_cpus != 1 or self.ray_address):
            raise ValueError("--ray-cpus and --ray-address set up --ray: add --ray, or drop them")
        if self.ray and self.kl_coefficient:
            raise ValueError("--kl-coefficient trains beside the network, here only: drop --ray or the KL term")
        if self.kl_coefficient < 0:
            raise ValueError(f"--kl-coefficient must be 0 or more, got {self.kl_coefficient}")
        if not 0 <= self.kl_from < 1:
            raise ValueError(f"--kl-from is a share of the steps, 0 to below 1, got {self.kl_from}")
        require_at_least(self, 1, "ray_cpus")
        if self.profile not in PROFILES:
            raise ValueError(f"--profile must be one of {', '.join(PROFILES)}, got '{self.profile}'")
        require_at_least(self, 0, "steps", "batch_size", "lr", "threads", "layer")  # 0: the profile's / torch's
        require_at_least(self, -1, "max_activations")
        self.architecture_list = [a.strip() for a in self.architectures.split(",") if a.strip()]
        unknown = set(self.architecture_list) - set(ARCHITECTURES[1:])
        if unknown:
            raise ValueError(f"--architectures takes {', '.join(ARCHITECTURES[1:])}, got {', '.join(sorted(unknown))}")
        try:
            self.penalty_list = [float(v) for v in self.l1_penalties.split(",") if v.strip()]
            self.width_list = [int(v) for v in self.n_features.split(",") if v.strip()]
            self.k_list = [int(v) for v in self.ks.split(",") if v.strip()]
            self.jumprelu_list = [float(v) for v in self.jumprelu_penalties.split(",") if v.strip()]
            self.panneal_list = [float(v) for v in self.panneal_penalties.split(",") if v.strip()]
            self.arch_width_list = [int(v) for v in self.arch_widths.split(",") if v.strip()]
        except ValueError:
            raise ValueError("--l1-penalties, --n-features, --ks, --jumprelu-penalties, --panneal-penalties and "
                             "--arch-widths take "
                             "comma-separated numbers, as in --n-features 256,1024") from None
        if not (self.penalty_list and self.width_list) and not (self.architecture_list and self.arch_width_list):
            raise ValueError("nothing to train: give --l1-penalties and --n-features, or --architectures and --arch-widths")
        if any(k > n for k in self.k_list for n in self.arch_width_list):
            raise ValueError("every --ks value must be at most every --arch-widths value")
        if min(self.penalty_list + self.k_list + self.width_list + self.jumprelu_list + self.panneal_list
               + self.arch_width_list) <= 0:
            raise ValueError("penalties, k and widths must be positive")

    @property
    def default_grid(self):
        return (self.l1_penalties, self.n_features, self.architectures, self.ks, self.jumprelu_penalties,
                self.arch_widths) == (DEFAULT_PENALTIES, DEFAULT_WIDTHS, DEFAULT_ARCHITECTURES, DEFAULT_KS,
                                      DEFAULT_JUMPRELU_PENALTIES, DEFAULT_ARCH_WIDTHS)  # --panneal-penalties: unused

    def train_config(self, sae_config=None):
        """The training settings of this SAE (None: the narrow ones')."""
        profile = PROFILES[self.profile]
        steps = profile["steps"]
        if sae_config is not None and sae_config.n_features > GROUP_MAX_FEATURES:
            steps = profile["wide_l1_steps" if sae_config.architecture == "l1" else "wide_steps"]
        return SAETrainConfig(steps=self.steps or steps, batch_size=self.batch_size or profile["batch_size"],
                              lr=self.lr or profile["lr"], seed=self.seed,
                              kl_coefficient=self.kl_coefficient, kl_from=self.kl_from)

    def max_train(self):
        return PROFILES[self.profile]["max_activations"] if self.max_activations < 0 else self.max_activations

    def sae_configs(self, d_in):
        """(name, SAEConfig) of every SAE in the sweep, grouped by shape: the penalties of one width
        together, an SAE per k."""
        groups = [[(f"l1_lambda{p:g}_f{width}", SAEConfig(d_in, width, "l1", l1_penalty=p)) for p in self.penalty_list]
                  for width in self.width_list if self.penalty_list]
        for width in self.arch_width_list:
            for architecture in self.architecture_list:
                if architecture == "jumprelu":
                    groups.append([(f"jumprelu_lambda{p:g}_f{width}", SAEConfig(
                        d_in, width, architecture, l0_penalty=p, centre=self.centre)) for p in self.jumprelu_list])
                    continue
                if architecture == "panneal":
                    groups.append([(f"panneal_lambda{p:g}_f{width}", SAEConfig(
                        d_in, width, architecture, l1_penalty=p, centre=self.centre)) for p in self.panneal_list])
                    continue
                groups += [[(f"{architecture}_k{k}_f{width}", SAEConfig(d_in, width, architecture, k=k, centre=self.centre))]
                           for k in self.k_list]
        return [group for group in groups if group]


class SweepData:
    """Training activations, and the held-out set with everything the metrics need."""

    def __init__(self, config: SweepConfig, network, device):
        sha256 = file_sha256(config.checkpoint)
        field = resid_field(config.layer)
        rng = np.random.default_rng(config.seed)
        train = load_activations(config.activations, "train", [field, *CONCEPT_FIELDS], checkpoint_sha256=sha256)
        heldout = load_activations(config.activations, "heldout", [field, *CONCEPT_FIELDS], checkpoint_sha256=sha256)
        rows = sample_rows(len(train[field]), config.max_train(), rng)
        held_rows = sample_rows(len(heldout[field]), PROFILES[config.profile]["max_heldout"], rng)
        self.train_rows = rows  # what a --ray task reads (sae/ray_sweep.py)
        self.train = torch.from_numpy(np.asarray(train[field][rows])).to(device)
        self.train_boards = np.asarray(train["boards"][rows])
        self.heldout = torch.from_numpy(np.asarray(heldout[field][held_rows])).to(device)
        boards = np.asarray(heldout["boards"][held_rows])
        rules = bitboard_rules(int(round(boards.shape[1] ** 0.5)))
        self.legal = torch.from_numpy(rules.action_mask(*rules.from_boards(boards)) > 0).to(device)
        self.mean = self.train.mean(dim=0)
        sims = search_simulations(config.activations)
        self.concepts = ConceptData(network, field, {"train": train, "heldout": heldout},
                                    PROFILES[config.profile]["concept_positions"], rng, sims)
        self.checkpoint_sha256 = sha256
        self.device = device
        self.source = {"activations": config.activations, "collection": collection_settings(config.activations),
                       "checkpoint_sha256": sha256, "layer": config.layer,
                       "train_activations": len(self.train), "heldout_positions": len(self.heldout)}


    def train_legal(self):
        """(N, A) bool: the legal moves of each training activation's position (for the KL term)."""
        rules = bitboard_rules(int(round(self.train_boards.shape[1] ** 0.5)))
        return torch.from_numpy(rules.action_mask(*rules.from_boards(self.train_boards)) > 0).to(self.device)


def evaluate(sae, network, data, layer, baseline):
    """Every metric of one SAE, in raw activation space (the concept labels come from training
    positions, everything else from held-out ones)."""
    metrics, x_hat = reconstruction_metrics(sae, data.heldout, with_loss=True, keep_reconstruction=True)
    metrics.update(fidelity_metrics(network.net, sae, data.heldout, data.legal, layer, baseline, x_hat))
    metrics.update(concept_metrics(sae, data))
    return metrics


def concept_metrics(sae, data):
    """The concept metrics of one SAE (sae/concepts.py), and how close its decoder comes to the
    linear probes."""
    with torch.no_grad():
        return {**data.concepts.summary(lambda x: sae.encode(x.to(data.heldout.device))),
                "probe_cosine": data.concepts.probe_cosine(sae.W_dec.cpu())}


def finished_record(folder, expected):
    """The record of an SAE trained before with the same settings, else None. A finished SAE
    whose files were damaged since is said so and trained again."""
    path = folder / "record.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        tqdm.write(f"training {folder.name} again: its record.json is corrupt ({error})")
        return None
    if not isinstance(record, dict) or not all(record.get(k) == v for k, v in expected.items()):
        return None
    try:
        load_saelens(folder)
    except ValueError as error:
        tqdm.write(f"training {folder.name} again: {error}")
        return None
    return record


def write_json(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=1) + "\n")


def run_sweep(config: SweepConfig, command="train_sae.py"):
    """Train (or reuse) every SAE of the sweep, evaluate, export; returns scaling.json's dict."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = default_device()
    network = NetworkWrapper.load_checkpoint(config.checkpoint, device)
    data = SweepData(config, network, device)
    baseline = fidelity_baseline(network.net, data.heldout, data.legal, config.layer, data.mean)
    out_dir = Path(config.out_dir)
    run = start_wandb(config) if config.wandb else None
    groups = config.sae_configs(data.train.shape[1])
    bar = tqdm(total=sum(map(len, groups)), desc="sweep", unit="sae", disable=not config.progress)
    # done[g][i], expected[g][i]: SAE i of group g's record and run keys; jobs: (g, [i], [SAE],
    # SAETrainConfig) to train
    done, expected, jobs = [], [], []
    for g, group in enumerate(groups):
        train_config = config.train_config(group[0][1])
        expected.append([{"sae_config": c.to_dict(), "train_config": train_config.to_dict(), **data.source}
                         for _, c in group])
        done.append([finished_record(out_dir / name, e) for (name, _), e in zip(group, expected[g])])
        for (name, _), record in zip(group, done[g]):
            if record is not None and not CONCEPT_KEYS <= record.keys():  # finished before these metrics
                record.update(concept_metrics(load_saelens(out_dir / name).to(device), data))  # scale folded in
                update_metadata(out_dir / name, record=record)
                write_json(out_dir / name / "record.json", record)
        todo = [i for i, record in enumerate(done[g]) if record is None]
        bar.update(len(group) - len(todo))
        together = [todo] if group[0][1].n_features <= GROUP_MAX_FEATURES else [[i] for i in todo]
        jobs += [(g, indices, [new_sae(group[i], config.seed, device) for i in indices], train_config)
                 for indices in together if indices]
    for j, train_records in train_jobs(jobs, data, config, network):
        g, indices, saes, train_config = jobs[j]
        for i, sae, train_record in zip(indices, saes, train_records):
            name, sae_config = groups[g][i]
            record = {"name": name, **sae_record_keys(sae_config, train_config, config.layer),
                      **train_record, **evaluate(sae, network, data, config.layer, baseline), **expected[g][i]}
            export_saelens(sae, out_dir / name, metadata={"layer": config.layer, "record": record})
            write_json(out_dir / name / "record.json", record)  # last: marks the SAE finished
            done[g][i] = record
            bar.update(1)
            if run:
                run.log({k: v for k, v in record.items() if isinstance(v, (int, float))})
    bar.close()
    records = [record for group in done for record in group]
    train_config = config.train_config()
    scaling = {"command": command, "config": {**asdict(config), "checkpoint": repo_path(config.checkpoint)},
               "train_config": train_config.to_dict(),  # the narrow SAEs': each record has its steps
               "checkpoint": Path(config.checkpoint).name,
               **data.source, "ablation_kl_mean": baseline["ablation_kl_mean"],
               "ablation_kl_zero": baseline["ablation_kl_zero"], "concept_baselines": data.concepts.baselines(
                   # the untrained network's SAE: reconstruction alone, its policy is no reference
                   network.model_config, config.layer, replace(train_config, kl_coefficient=0.0), config.seed,
                   data.train_boards),
               "records": [{k: v for k, v in r.items() if k not in RUN_KEYS} for r in records]}
    if run:
        run.finish()
    return scaling


def repo_path(path):
    """`path` relative to the repository when it lies inside it (what a shipped file may record),
    else as given."""
    root, resolved = Path(__file__).resolve().parent, Path(path).resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)


def train_jobs(jobs, data, config, network):
    """Train each job's SAEs, here in order or as Ray tasks (--ray) as they finish; yields (job
    index, train records), the job's SAEs then trained."""
    if config.ray:
        from sae.ray_sweep import train_on_ray
        connect(config.ray_address)
        yield from train_on_ray([(saes, train_config) for _, _, saes, train_config in jobs], config.activations,
                                resid_field(config.layer), data.checkpoint_sha256, data.train_rows, config.ray_cpus)
        return
    splice = Splice(network.net, config.layer, data.train_legal()) if config.kl_coefficient else None
    for j, (_, _, saes, train_config) in enumerate(jobs):
        yield j, train_saes(saes, data.train, train_config, config.progress, desc=f"{saes[0].config.n_features} features",
                            splice=splice)


def new_sae(named_config, seed, device):
    """A freshly initialised SAE, seeded by its name: the same whether it trains alone or in a
    group, in a full sweep or a resumed one."""
    name, sae_config = named_config
    torch.manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    return SparseAutoencoder(sae_config).to(device)


def sae_record_keys(sae_config, train_config, layer):
    architecture = sae_config.architecture
    return {"architecture": architecture, "n_features": sae_config.n_features,
            "l1_penalty": sae_config.l1_penalty if architecture in RELU_ENCODERS else None,
            "k": sae_config.k if architecture in TOPK_FAMILY else None,
            "l0_penalty": sae_config.l0_penalty if architecture == "jumprelu" else None,
            "centre": sae_config.centre, "layer": layer,
            "steps": train_config.steps, "batch_size": train_config.batch_size, "lr": train_config.lr}


def start_wandb(config):
    try:
        import wandb
    except ImportError:
        print("warning: --wandb given but wandb is not installed (pip install wandb); logging locally only")
        return None
    return wandb.init(project="alphazero-othello-sae", name=f"sae-{config.profile}", config=asdict(config))


def main(argv=None):
    config = parse_config(SweepConfig, argv)
    start = time.perf_counter()
    command = " ".join(["python", "train_sae.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        if config.ray:  # fail now, not after loading the data
            connect(config.ray_address)
        scaling = run_sweep(config, command)
    except (ActivationError, CheckpointError, ValueError, RaySetupError) as error:
        sys.exit(f"error: {error}")
    scaling_path = Path(config.scaling or ("scaling.json" if config.default_grid else Path(config.out_dir) / "scaling.json"))
    write_json(scaling_path, scaling)
    plots = plot_scaling(scaling["records"], config.assets or ("assets" if config.default_grid else config.out_dir),
                         scaling["concept_baselines"])
    print(f"{'name':<22}{'L0':>8}{'FVE':>8}{'MSE':>9}{'dead':>7}{'KL':>8}{'top-1':>7}{'recovered':>10}")
    for r in scaling["records"]:
        print(f"{r['name']:<22}{r['l0']:>8.1f}{r['fve']:>8.3f}{r['mse']:>9.4f}{r['dead_fraction']:>7.1%}"
              f"{r['policy_kl']:>8.4f}{r['top1_agreement']:>7.1%}{r['fraction_recovered']:>10.1%}")
    print(f"{len(scaling['records'])} SAEs in {time.perf_counter() - start:.0f}s -> {config.out_dir}, "
          f"{scaling_path}, {', '.join(map(str, plots))}")


if __name__ == "__main__":
    main()
