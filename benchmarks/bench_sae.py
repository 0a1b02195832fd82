"""SAE training speed against the machine's fp32 matmul throughput, measured in one run.

Prints (1) the matmul peak: the best of a square 2048^3 product and the SAE's own encoder
shape; (2) the training throughput of a 4096-feature L1 SAE (activations per second, and the
FLOP rate it implies: 10 * d_in * n_features per activation per step: two forward matmuls,
three backward, no gradient for the input); (3) for each width, the five L1 penalties
trained one at a time against together as one vectorised group (train_saes); (4) for each
width, the TopK family's throughput while no latent is dead (the trainer skips AuxK) against
AuxK on every step; (5) for each width, BatchTopK and Matryoshka with their batch top-k found
among each row's largest pre-activations (sae.model.batch_topk) against over the whole
flattened batch, on the collected activations where they exist (a fresh SAE's first steps fall
back to the whole batch more often: the comparison skips them).

    python benchmarks/bench_sae.py [--steps 40] [--threads 2]
"""
import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.cli import parse_config, require_at_least  # noqa: E402
import sae.model  # noqa: E402
from sae.model import SAEConfig, SparseAutoencoder  # noqa: E402
from sae.train import SAETrainConfig, train_sae, train_saes  # noqa: E402


@dataclass
class BenchConfig:
    """Measure SAE training throughput against the fp32 matmul peak."""

    steps: int = 40
    """optimiser steps per measurement"""
    widths: str = "256,1024,4096"
    """widths compared one at a time against as a group"""
    group_batch_size: int = 512
    """batch size of the group comparison (the default CPU profile's)"""
    threads: int = 2
    """torch CPU threads"""
    activations: str = "runs/activations"
    """collected activations for the batch top-k comparison (random ones where missing)"""

    def __post_init__(self):
        require_at_least(self, 1, "steps", "group_batch_size", "threads")
        if not all(w.strip().isdigit() and int(w) > 0 for w in self.widths.split(",")):
            raise ValueError(f"--widths takes comma-separated positive numbers, as in 256,1024; got '{self.widths}'")


def matmul_gflops(m, k, n, device, repeats=10):
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    config = parse_config(BenchConfig, argv)
    torch.set_num_threads(config.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    d = 256
    x = torch.randn(200_000, d, device=device) * 2 + 1
    peak = max(matmul_gflops(2048, 2048, 2048, device), matmul_gflops(4096, d, 4096, device))
    print(f"device {device}, {config.threads} torch threads; fp32 matmul peak {peak:,.0f} GFLOP/s")

    for batch in (4096, config.group_batch_size):
        sae = SparseAutoencoder(SAEConfig(d, 4096)).to(device)
        train = SAETrainConfig(steps=config.steps, batch_size=batch)
        train_sae(sae, x, SAETrainConfig(steps=3, batch_size=batch), progress=False)  # warm-up
        seconds = timed(lambda: train_sae(sae, x, train, progress=False))
        rate = config.steps * batch / seconds
        gflops = rate * 10 * d * 4096 / 1e9
        print(f"4096-feature L1 SAE, batch {batch:>5}: {rate:>9,.0f} activations/s = {gflops:,.0f} GFLOP/s "
              f"= {gflops / peak:.0%} of the matmul peak")

    print(f"five L1 penalties, batch {config.group_batch_size}: one at a time vs as one group")
    train = SAETrainConfig(steps=config.steps, batch_size=config.group_batch_size)
    for width in [int(w) for w in config.widths.split(",")]:
        def fresh():
            return [SparseAutoencoder(SAEConfig(d, width, l1_penalty=p)).to(device) for p in range(1, 6)]

        alone = timed(lambda: [train_sae(sae, x, train, progress=False) for sae in fresh()])
        together = timed(lambda: train_saes(fresh(), x, train, progress=False))
        print(f"  {width:>5} features: {alone:6.2f} s vs {together:6.2f} s  ({alone / together:.2f}x)")

    print(f"TopK family (k 32, centred), batch {config.group_batch_size}: activations/s with no latent dead "
          "(no AuxK) vs all of them (AuxK every step)")
    for width in [int(w) for w in config.widths.split(",") if int(w) >= 32]:
        rates = []
        for architecture in ("topk", "batchtopk", "matryoshka"):
            for dead_after in (10**12, 0):
                sae = SparseAutoencoder(SAEConfig(d, width, architecture, k=32, centre=True)).to(device)
                train = SAETrainConfig(steps=config.steps, batch_size=config.group_batch_size, dead_after=dead_after)
                train_sae(sae, x, SAETrainConfig(steps=3, batch_size=config.group_batch_size), progress=False)  # warm-up
                rates.append(config.steps * config.group_batch_size / timed(lambda: train_sae(sae, x, train, progress=False)))
        print(f"  {width:>5} features: " + ", ".join(f"{a} {rates[2 * i]:,.0f} vs {rates[2 * i + 1]:,.0f}"
                                                   for i, a in enumerate(("topk", "batchtopk", "matryoshka"))))
    batch_topk_speed(config, [int(w) for w in config.widths.split(",") if int(w) >= 128], x, device)


def batch_topk_speed(config, widths, x, device):
    """(5): activations/s of the batch top-k from each row's candidates against the whole batch's."""
    collected = Path(config.activations) / "train" / "resid_2.npy"
    if collected.is_file():
        x = torch.from_numpy(np.load(collected, mmap_mode="r")[:200_000].copy()).to(device)
    print(f"BatchTopK and Matryoshka (k 32, centred), batch {config.group_batch_size}, on "
          f"{'the collected activations' if collected.is_file() else 'random activations'}: activations/s "
          "with the batch top-k among each row's candidates vs over the flattened batch")
    fast, whole_batch = sae.model.batch_topk, functools.partial(sae.model.batch_topk, candidates_per_row=10**9)
    train = SAETrainConfig(steps=config.steps, batch_size=config.group_batch_size)
    try:
        for width in widths:
            rates = []
            for architecture in ("batchtopk", "matryoshka"):
                for selection in (fast, whole_batch):
                    sae.model.batch_topk = selection
                    torch.manual_seed(0)
                    model = SparseAutoencoder(SAEConfig(x.shape[1], width, architecture, k=32, centre=True)).to(device)
                    train_sae(model, x, SAETrainConfig(steps=200, batch_size=config.group_batch_size), progress=False)
                    rates.append(config.steps * config.group_batch_size / timed(lambda: train_sae(model, x, train, progress=False)))
            print(f"  {width:>5} features: batchtopk {rates[0]:,.0f} vs {rates[1]:,.0f} ({rates[0] / rates[1]:.2f}x), "
                  f"matryoshka {rates[2]:,.0f} vs {rates[3]:,.0f} ({rates[2] / rates[3]:.2f}x)")
    finally:
        sae.model.batch_topk = fast


if __name__ == "__main__":
    main()
