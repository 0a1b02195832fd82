"""Training loop of one SAE, with the schedule of Anthropic's April 2024 update: Adam
(0.9, 0.999), lambda warmed up linearly over the first 5% of steps, learning rate decayed
linearly to 0 over the last 20%, gradient norm clipped at 1. TopK SAEs keep unit-norm decoder
rows and get the AuxK loss on latents that have not fired for `dead_after` inputs."""
import time
from dataclasses import asdict, dataclass

import torch
from tqdm import tqdm

from sae.model import SparseAutoencoder


@dataclass
class SAETrainConfig:
    steps: int = 3000
    """optimiser steps"""
    batch_size: int = 4096
    """activations per step"""
    lr: float = 5e-4
    """peak Adam learning rate"""
    l1_warmup_fraction: float = 0.05
    """share of the steps over which lambda rises linearly from 0"""
    lr_decay_fraction: float = 0.2
    """final share of the steps over which the learning rate falls linearly to 0"""
    max_grad_norm: float = 1.0
    """gradient norm clip"""
    dead_after: int = 200_000
    """TopK: a latent is dead once it has not fired for this many inputs"""
    seed: int = 0
    """seeds the initialisation and the batch order"""

    def to_dict(self):
        return asdict(self)


def l1_penalty_at(step, steps, l1_penalty, warmup_fraction):
    """Lambda at `step` (0-based): linear warm-up from 0, then constant."""
    warmup = warmup_fraction * steps
    return l1_penalty * min(1.0, (step + 1) / warmup) if warmup > 0 else l1_penalty


def lr_at(step, steps, lr, decay_fraction):
    """Learning rate at `step` (0-based): constant, then linear decay to 0 over the last part."""
    decay_start = steps * (1 - decay_fraction)
    if step < decay_start:
        return lr
    return lr * max(0.0, (steps - step) / (steps - decay_start))


def train_sae(sae: SparseAutoencoder, activations, config: SAETrainConfig, progress=True):
    """Train `sae` on raw activations (N, d_in) (float32, on the SAE's device); sets its input
    scale first. Returns a record: seconds, final losses, activations per second."""
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    sae.set_input_scale(activations[: min(len(activations), 65_536)])
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.lr, betas=(0.9, 0.999))
    since_fired = torch.zeros(sae.config.n_features, device=activations.device)
    start = time.perf_counter()
    parts = {}
    for step in tqdm(range(config.steps), desc="sae", disable=not progress, leave=False):
        index = torch.randint(0, len(activations), (config.batch_size,), generator=generator)
        x = activations[index.to(activations.device)]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config.steps, config.lr, config.lr_decay_fraction)
        out = sae(x)
        dead = since_fired >= config.dead_after if sae.config.architecture == "topk" else None
        lam = l1_penalty_at(step, config.steps, sae.config.l1_penalty, config.l1_warmup_fraction)
        loss, parts = sae.loss(x, out, l1_penalty=lam, dead_mask=dead)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), config.max_grad_norm)
        optimizer.step()
        with torch.no_grad():
            fired = (out.features > 0).any(dim=0)
            since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + len(x))
        if sae.config.architecture == "topk":
            sae.normalize_decoder()
    seconds = time.perf_counter() - start
    return {"train_seconds": seconds, "activations_per_s": config.steps * config.batch_size / seconds,
            **{f"final_{k}": v.item() for k, v in parts.items()}}
