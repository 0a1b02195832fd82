"""Training loop for SAEs, with the schedule of Anthropic's April 2024 update: Adam
(0.9, 0.999), the penalty (L1 or L0) warmed up linearly over the first 5% of steps, learning
rate decayed linearly to 0 over the last 20%, gradient norm clipped at 1. All but the L1 SAE
keep unit-norm decoder rows; the TopK family gets the AuxK loss on latents that have not fired
for `dead_after` inputs, and BatchTopK and Matryoshka learn their inference threshold as a
running average of the smallest activation each batch keeps. p-annealing's exponent falls from 1
to p_end in ten equal steps spread over the middle of the run (20% to 80%), and at each step
lambda is multiplied by (penalty at the old p) / (penalty at the new p), both averaged over the
last ten batches, so that the penalty's size carries over (Karvonen et al. 2024).

SAEs of one shape (the five L1 penalties of one width, say) train together: their parameters
are stacked along a leading axis and `torch.func.vmap` runs the SAE's own forward and loss for
all of them in one pass over each shared batch. Every SAE still gets exactly the update it
would get alone (Adam is elementwise; the gradient clip is applied per SAE). A group of one
runs the same code without vmap, and BatchTopK and Matryoshka SAEs always train one at a time:
their batch top-k branches on the data (sae/model.py), which vmap cannot.

With `kl_coefficient` > 0 the loss also has the network's policy in it: the KL, over the legal
moves, from the policy of the network on its own stream to its policy with the SAE's
reconstruction spliced in (the end-to-end objective of Braun et al. 2024, beside the
reconstruction rather than instead of it). The network stays frozen; only the SAE learns.
"""
import copy
import time
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from sae.metrics import legal_policy_log_probs, policy_kl
from sae.model import BATCH_TOPKS, TOPK_FAMILY, SparseAutoencoder


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
    """gradient norm clip, per SAE"""
    dead_after: int = 200_000
    """TopK family: a latent is dead once it has not fired for this many inputs"""
    threshold_decay: float = 0.99
    """BatchTopK, Matryoshka: decay of the running average that gives the inference threshold"""
    seed: int = 0
    """seeds the batch order"""
    kl_coefficient: float = 0.0
    """weight of the policy KL with the reconstruction spliced in (0: reconstruction alone)"""
    kl_from: float = 0.0
    """share of the steps after which the KL term joins the loss (0: from the start)"""

    def to_dict(self):
        # without the KL settings at their defaults, so that SAEs trained before they existed
        # still resume
        settings = asdict(self)
        for key, default in (("kl_coefficient", 0.0), ("kl_from", 0.0)):
            if settings[key] == default:
                del settings[key]
        return settings


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


class PAnnealing:
    """p-annealing's schedule for a group of SAEs: the exponent at each step, and the factor
    (G,) on each SAE's lambda, updated from the penalties the loss reports."""

    changes, start, end, window = 10, 0.2, 0.8, 10

    def __init__(self, steps, p_end, groups):
        self.change_steps = np.rint(np.linspace(self.start * steps, self.end * steps, self.changes)).astype(int).tolist()
        self.values = np.linspace(1.0, p_end, self.changes + 1).tolist()  # p before the first change, after each
        self.scale = torch.ones(groups)
        self.recent = []  # (penalty at p, at the next p), (G,) each, of the last batches

    def exponents(self, step):
        """(p, the next p) at `step` (0-based), as the loss takes them."""
        done = sum(change <= step for change in self.change_steps)
        return torch.tensor([self.values[done], self.values[min(done + 1, self.changes)]])

    def observe(self, step, parts):
        """Record this step's penalties; before a step where p changes, rescale lambda."""
        self.recent = [*self.recent[-(self.window - 1):], (parts["sparsity"].detach(), parts["sparsity_next"])]
        if step + 1 in self.change_steps:
            old, new = (torch.stack(column).mean(dim=0).cpu() for column in zip(*self.recent))
            self.scale *= old / new.clamp_min(1e-12)
            self.recent = []


def clip_grad_norm_per_model(stacked, max_norm):
    """Clip the gradients of stacked parameters (leading axis = model) so that each model's
    total gradient norm is at most `max_norm`, as torch.nn.utils.clip_grad_norm_ would do for
    each model alone. Returns the norms before clipping, (G,)."""
    norms = torch.stack([p.grad.flatten(1).pow(2).sum(dim=1) for p in stacked]).sum(dim=0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in stacked:
        p.grad.mul_(scale.view(-1, *[1] * (p.dim() - 1)))
    return norms


class _TrainingLoss(nn.Module):
    """The SAE's loss as a forward pass, so that functional_call can swap in stacked weights."""

    def __init__(self, sae):
        super().__init__()
        self.sae = sae

    def forward(self, x, penalty, dead_mask, exponents):
        out = self.sae.training_forward(x)
        loss, parts = self.sae.loss(x, out, penalty=penalty, dead_mask=dead_mask, exponents=exponents)
        fired = out.features > 0
        if self.sae.config.architecture in BATCH_TOPKS:  # what their inference threshold averages
            smallest_kept = out.features.masked_fill(~fired, float("inf")).min()
        else:
            smallest_kept = out.features.new_zeros(())
        return loss, parts, fired.any(dim=0), smallest_kept, out.x_hat


class Splice:
    """What the KL term needs: the frozen network, the layer the SAEs read, and the legal moves
    (N, A) bool of each training activation's position."""

    def __init__(self, net, layer, legal):
        self.net, self.layer, self.legal = net.eval().requires_grad_(False), layer, legal

    def kl(self, x, x_hat, index):
        """(G,) mean policy KL over the batch x (B, d), from the network on x to the network on
        each SAE's reconstruction x_hat (G, B, d)."""
        legal = self.legal[index]
        with torch.no_grad():
            log_p = legal_policy_log_probs(self.net.forward_from(x, self.layer)[0], legal)
        groups, batch = x_hat.shape[:2]
        legal = legal.repeat(groups, 1)  # one row per (SAE, position), as x_hat flattened
        log_q = legal_policy_log_probs(self.net.forward_from(x_hat.flatten(0, 1), self.layer)[0], legal)
        return policy_kl(log_p.repeat(groups, 1), log_q, legal).view(groups, batch).mean(dim=1)


def train_saes(saes, activations, config: SAETrainConfig, progress=True, desc="sae", checkpoints=(), on_checkpoint=None,
               splice=None):
    """Train SAEs with one config shape (same d_in, n_features, architecture) on the same raw
    activations (N, d_in) (float32, on the SAEs' device); sets their input scale first.
    Returns one record per SAE: train_seconds (the group's), final losses, activations/s.
    After each step number in `checkpoints` (1-based), the SAEs hold the weights so far and
    on_checkpoint(step) is called (for training curves; its time is not counted).
    config.kl_coefficient > 0 needs `splice` (a Splice for these activations)."""
    if config.kl_coefficient and splice is None:
        raise ValueError("kl_coefficient > 0 needs the network and the legal moves (splice=Splice(...))")
    shapes = {shape_key(s.config) for s in saes}
    if len(shapes) != 1:
        raise ValueError(f"SAEs trained together must share their shape, got {sorted(shapes)}")
    architecture = saes[0].config.architecture
    if architecture in BATCH_TOPKS and len(saes) > 1:  # their batch top-k cannot run under vmap
        return [record for sae in saes for record in train_saes(
            [sae], activations, config, progress, desc, checkpoints, on_checkpoint, splice)]
    auxk, learns_threshold = architecture in TOPK_FAMILY, architecture in BATCH_TOPKS
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    for sae in saes:
        sae.set_input_scale(activations[: min(len(activations), 65_536)])
    params, buffers = stack_module_state([_TrainingLoss(sae) for sae in saes])  # {name: (G, ...)}
    template = _TrainingLoss(copy.deepcopy(saes[0])).to("meta")
    penalties = torch.tensor([s.config.penalty for s in saes], device=activations.device)
    call = lambda p, b, x, lam, dead, exponents: functional_call(template, (p, b), (x, lam, dead, exponents))  # noqa: E731
    if len(saes) == 1:  # no vmap: the batch-level TopK's fast selection branches on the data
        batched_loss = batched_loss_auxk = partial(_call_alone, call)
    else:
        batched_loss = vmap(call, in_dims=(0, 0, None, 0, None, None))
        # AuxK costs a top-k and three (B, n, d) products a step: only run while some latent is
        # dead (its loss and gradient are zero otherwise, so skipping it changes nothing)
        batched_loss_auxk = vmap(call, in_dims=(0, 0, None, 0, 0, None))
    groups = [{"params": [p for name, p in params.items() if name != "sae.log_threshold"], "lr_scale": 1.0}]
    if "sae.log_threshold" in params:  # JumpReLU's thresholds learn at their own rate (SAEConfig)
        groups.append({"params": [params["sae.log_threshold"]], "lr_scale": saes[0].config.jumprelu_threshold_lr})
    optimizer = torch.optim.Adam(groups, lr=config.lr, betas=(0.9, 0.999))
    since_fired = torch.zeros(len(saes), saes[0].config.n_features, device=activations.device)
    annealing = PAnnealing(config.steps, saes[0].config.p_end, len(saes)) if architecture == "panneal" else None
    start = time.perf_counter()
    for step in tqdm(range(config.steps), desc=desc, disable=not progress, leave=False):
        index = torch.randint(0, len(activations), (config.batch_size,), generator=generator)
        x = activations[index.to(activations.device)]
        for group in optimizer.param_groups:
            group["lr"] = group["lr_scale"] * lr_at(step, config.steps, config.lr, config.lr_decay_fraction)
        lam = penalties * l1_penalty_at(step, config.steps, 1.0, config.l1_warmup_fraction)
        exponents = None
        if annealing is not None:
            lam = lam * annealing.scale.to(lam.device)
            exponents = annealing.exponents(step).to(activations.device)
        dead = since_fired >= config.dead_after if auxk else None
        if dead is not None and dead.any():
            losses, parts, fired, smallest_kept, x_hat = batched_loss_auxk(params, buffers, x, lam, dead, exponents)
        else:
            losses, parts, fired, smallest_kept, x_hat = batched_loss(params, buffers, x, lam, None, exponents)
            if auxk:
                parts["aux"] = torch.zeros_like(losses)
        if config.kl_coefficient and step >= config.kl_from * config.steps:
            parts["kl"] = splice.kl(x, x_hat, index.to(activations.device))
            losses = losses + config.kl_coefficient * parts["kl"]
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        clip_grad_norm_per_model(list(params.values()), config.max_grad_norm)
        optimizer.step()
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + len(x))
        if annealing is not None:
            annealing.observe(step, parts)
        with torch.no_grad():
            if architecture != "l1":
                params["sae.W_dec"].copy_(F.normalize(params["sae.W_dec"], dim=-1))
            if learns_threshold:
                threshold = buffers["sae.global_threshold"]
                decay = config.threshold_decay if step else 0.0  # the first batch sets it
                kept = torch.where(smallest_kept.isfinite(), smallest_kept.detach(), threshold)  # inf: none kept
                threshold.mul_(decay).add_((1 - decay) * kept)
        if step + 1 in checkpoints:
            paused = time.perf_counter()
            _unstack(saes, params, buffers)
            on_checkpoint(step + 1)
            start += time.perf_counter() - paused
    seconds = time.perf_counter() - start
    _unstack(saes, params, buffers)
    return [{"train_seconds": seconds, "activations_per_s": len(saes) * config.steps * config.batch_size / seconds,
             **{f"final_{k}": v[g].item() for k, v in parts.items()},
             **({"final_lambda": lam[g].item()} if annealing is not None else {})} for g in range(len(saes))]


def _call_alone(call, params, buffers, x, lam, dead, exponents):
    """`call` for a group of one SAE, its inputs and outputs with the group axis, as vmap's."""
    first = lambda stacked: {name: value[0] for name, value in stacked.items()}  # noqa: E731
    loss, parts, fired, smallest_kept, x_hat = call(first(params), first(buffers), x, lam[0],
                                                    None if dead is None else dead[0], exponents)
    return (loss[None], {name: value[None] for name, value in parts.items()}, fired[None], smallest_kept[None],
            x_hat[None])


@torch.no_grad()
def _unstack(saes, params, buffers):
    """Copy the stacked training state into each SAE module."""
    for g, sae in enumerate(saes):
        for name, value in [*sae.named_parameters(), *sae.named_buffers()]:
            value.copy_({**params, **buffers}[f"sae.{name}"][g])


def shape_key(config):
    """What SAEs trained together must share: everything but their penalty."""
    return tuple(v for k, v in config.to_dict().items() if k not in ("l1_penalty", "l0_penalty"))


def train_sae(sae: SparseAutoencoder, activations, config: SAETrainConfig, progress=True):
    """Train one SAE (a group of one); returns its record."""
    return train_saes([sae], activations, config, progress)[0]
