"""Sparse autoencoders over a residual stream: six architectures on one L0 axis.

Every SAE reads x' = s x, with one constant s chosen so that E||x'|| = sqrt(d_in) on the training
data (Anthropic, April 2024), and optionally centred (`centre`: the encoder reads x' - b_dec, with
b_dec initialised at the training mean):

    pre = W_enc x' + b_enc,   f = sigma(pre),   x_hat' = W_dec f + b_dec

    l1          sigma = ReLU; loss ||x' - x_hat'||^2 + lambda * sum_i f_i ||W_dec[i]||, decoder rows
                free (the penalty carries their norm). Anthropic's April 2024 update.
    topk        sigma keeps each input's k largest pre-activations (ReLU'd). Gao et al. 2024.
    batchtopk   in training, the n*k largest pre-activations of the whole batch of n (so one
                input's L0 varies around k); at inference, pre * (pre > theta) with one global
                theta, a running average of the smallest activation kept. Bussmann et al. 2024.
    matryoshka  BatchTopK whose loss averages the reconstructions of nested prefixes of the
                dictionary (the first n/2^(g-1), ..., n/2, n latents), so early latents must stand
                on their own: less feature absorption and splitting. Bussmann et al. 2025.
    jumprelu    sigma(pre)_i = pre_i * H(pre_i - theta_i), a learned threshold per latent; loss
                ||x' - x_hat'||^2 + lambda * L0, the step's gradient in theta from a straight-through
                estimator with a rectangle kernel of bandwidth eps. Rajamanoharan et al. 2024.
    panneal     sigma = ReLU; loss ||x' - x_hat'||^2 + lambda * sum_i f_i^p with p annealed in steps
                from 1 to p_end during training, lambda rescaled at each step so that the penalty's
                size carries over (sae/train.py): an L1 SAE that ends on a penalty close to L0.
                Karvonen et al. 2024, who introduce it with the board metrics of sae/concepts.py.

All but l1 keep unit-norm decoder rows (renormalised after every step), which removes the scale
symmetry between encoder and decoder. The TopK family adds AuxK (Gao et al.): the residual
x' - x_hat' is reconstructed from the k_aux largest pre-activations of latents that have not
fired lately, at weight 1/32.

`encode` takes raw activations and `decode` returns raw ones (the scale is applied inside), so
callers never see the scaled space; `loss` works in it. `forward` is the inference rule;
`training_forward` is what the trainer optimises (different only for the batch-level TopKs).
"""
import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES = ("l1", "topk", "batchtopk", "matryoshka", "jumprelu", "panneal")
RELU_ENCODERS = ("l1", "panneal")  # encode as ReLU(pre): SAELens's "standard" SAE
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka")  # set L0 through k, train with AuxK
THRESHOLD_ENCODERS = ("batchtopk", "matryoshka", "jumprelu")  # encode as pre * (pre > threshold)
BATCH_TOPKS = ("batchtopk", "matryoshka")  # batch top-k in training, one learned global threshold after


@dataclass
class SAEConfig:
    d_in: int = 256
    """width of the residual stream"""
    n_features: int = 1024
    """dictionary size"""
    architecture: str = "l1"
    """one of l1, topk, batchtopk, matryoshka, jumprelu, panneal (see the module docstring)"""
    l1_penalty: float = 3.0
    """lambda of the L1 SAE, and the starting lambda of p-annealing (p = 1)"""
    k: int = 16
    """active latents per input of the TopK family (the batch average for batchtopk, matryoshka)"""
    l0_penalty: float = 1.0
    """lambda of the JumpReLU SAE's L0 penalty (in the scaled space, where E||x'||^2 ~ d_in)"""
    jumprelu_bandwidth: float = 0.01
    """JumpReLU: the estimator's bandwidth eps, and the initial threshold, in units of the
    input's norm. The paper's 0.001 leaves the thresholds where they start at this repo's
    budgets (thousands of steps, not 100k): they move only through the kernel's window."""
    jumprelu_threshold_lr: float = 10.0
    """JumpReLU: the thresholds' learning rate, as a multiple of the SAE's. Adam moves each log
    threshold by at most about the learning rate a step (x3.3 over 2,400 steps at 5e-4), so at
    1, the paper's, the L0 at this repo's budgets follows the step count more than the penalty
    (docs/saes.md); at 10 the thresholds settle where the penalty puts them."""
    p_end: float = 0.2
    """p-annealing: the exponent the penalty sum f_i^p ends at"""
    matryoshka_groups: int = 5
    """Matryoshka: nested prefixes, halving from the whole dictionary"""
    centre: bool = False
    """encode x' - b_dec, with b_dec initialised at the training mean"""
    init_decoder_norm: float = 0.1
    """L1: norm of every decoder row at initialisation (Anthropic: 0.05 to 1); others: 1"""

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got '{self.architecture}'")
        if self.architecture in TOPK_FAMILY and not 0 < self.k <= self.n_features:
            raise ValueError(f"k must be in 1..n_features ({self.n_features}), got {self.k}")
        if self.architecture == "panneal" and not 0 < self.p_end <= 1:
            raise ValueError(f"p_end must be in (0, 1], got {self.p_end}")
        if self.architecture == "matryoshka" and not 1 <= self.matryoshka_groups <= math.log2(self.n_features) + 1:
            raise ValueError(f"matryoshka_groups must be in 1..log2(n_features) + 1, got {self.matryoshka_groups}")

    def to_dict(self):
        settings = asdict(self)
        # added later, and each only its architecture's: SAEs trained before still resume
        for key, owner in (("jumprelu_threshold_lr", "jumprelu"), ("p_end", "panneal")):
            if self.architecture != owner:
                del settings[key]
        return settings

    @property
    def penalty(self):
        """Lambda of the sparsity penalty: L0 for jumprelu, L1 for l1, the starting one of panneal
        (unused by the TopK family)."""
        return self.l0_penalty if self.architecture == "jumprelu" else self.l1_penalty

    def prefix_sizes(self):
        """Matryoshka: the nested prefix lengths, smallest first (n / 2^(g-1), ..., n)."""
        return [self.n_features >> g for g in reversed(range(self.matryoshka_groups))]


class SAEOutput(NamedTuple):
    x_hat: torch.Tensor
    """reconstruction in raw activation space, (B, d_in)"""
    features: torch.Tensor
    """feature activations f, (B, n_features)"""
    pre_activations: torch.Tensor
    """W_enc x' + b_enc before the nonlinearity, (B, n_features)"""


def step_with_threshold_gradient(pre, threshold, bandwidth):
    """H(pre - threshold) (B, n) whose gradient in `threshold` is -(1/eps) K((pre - threshold)/eps),
    K the rectangle kernel on [-1/2, 1/2], and zero in `pre` (the JumpReLU paper's estimator).
    Plain tensor ops, so that it runs under vmap."""
    step = (pre > threshold).to(pre.dtype)
    kernel = ((pre - threshold).abs() < bandwidth / 2).to(pre.dtype) / bandwidth
    surrogate = -threshold * kernel.detach()  # d/d threshold = -K/eps
    return step.detach() + surrogate - surrogate.detach()


def jumprelu_with_threshold_gradient(pre, threshold, bandwidth):
    """pre * H(pre - threshold), gradient H in `pre` and -(threshold/eps) K(...) in `threshold`:
    the step's threshold gradient, times the threshold."""
    step = step_with_threshold_gradient(pre, threshold, bandwidth)
    return pre * step.detach() + threshold.detach() * (step - step.detach())


def batch_topk(pre, k, candidates_per_row=4):
    """Keep the len(pre) * k largest positive pre-activations of the whole batch (B, n).

    A top-k over the flattened batch costs several times the SAE's matrix products on a CPU, so
    the batch's winners are looked for among each row's `candidates_per_row * k` largest: exact
    whenever no row holds more of them than that, which the result shows (some row kept all its
    candidates) and then falls back to the whole batch. The branch is on the data, so this runs
    outside vmap (sae/train.py trains these architectures one SAE at a time)."""
    relu = F.relu(pre)
    keep = min(k * len(pre), relu.numel())
    per_row = min(pre.shape[1], candidates_per_row * k)
    if per_row < pre.shape[1]:
        rows = relu.topk(per_row, dim=1, sorted=False)  # (B, per_row)
        top = rows.values.flatten().topk(keep, sorted=False)
        row = torch.div(top.indices, per_row, rounding_mode="floor")
        if torch.bincount(row, minlength=len(pre)).max() < per_row:  # every row left a candidate out
            out = torch.zeros_like(pre)
            out[row, rows.indices.flatten()[top.indices]] = top.values
            return out
    top = relu.flatten().topk(keep, sorted=False)
    return torch.zeros_like(relu).flatten().scatter(0, top.indices, top.values).view_as(pre)


def lp_penalty(features, p, eps=1e-3):
    """Mean over the batch of sum_i f_i^p (f >= 0), exact for f_i >= eps; below eps the chord from
    0 to eps^p, whose slope eps^(p-1) bounds the gradient where f^p's is unbounded for p < 1 (one
    barely active latent would otherwise own the clipped gradient)."""
    powered = features.clamp_min(eps).pow(p)  # clamped: no infinite gradient in the branch not taken
    return torch.where(features >= eps, powered, features * eps ** (p - 1)).sum(dim=1).mean()


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SAEConfig):
        super().__init__()
        self.config = config
        directions = F.normalize(torch.randn(config.n_features, config.d_in), dim=1)  # random unit rows
        norm = config.init_decoder_norm if config.architecture == "l1" else 1.0
        self.W_dec = nn.Parameter(directions * norm)  # (n, d)
        self.W_enc = nn.Parameter(self.W_dec.detach().T.clone())  # (d, n): the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(config.n_features))
        self.b_dec = nn.Parameter(torch.zeros(config.d_in))
        self.register_buffer("input_scale", torch.ones(()))
        # eps and the initial threshold scale with the input norm sqrt(d_in) (see SAEConfig)
        self.bandwidth = config.jumprelu_bandwidth * config.d_in**0.5
        if config.architecture == "jumprelu":
            self.log_threshold = nn.Parameter(torch.full((config.n_features,), math.log(self.bandwidth)))
        elif config.architecture in THRESHOLD_ENCODERS:
            self.register_buffer("global_threshold", torch.zeros(()))

    @property
    def threshold(self):
        """Per-latent inference threshold (n,) of the threshold encoders, in the scaled space."""
        if self.config.architecture == "jumprelu":
            return self.log_threshold.exp()
        return self.global_threshold.expand(self.config.n_features)

    def pre_activations(self, x):
        x = x * self.input_scale
        if self.config.centre:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc  # (B, n)

    def activate(self, pre, training=False):
        architecture = self.config.architecture
        if architecture in RELU_ENCODERS:
            return F.relu(pre)
        if architecture == "topk":
            top = pre.topk(self.config.k, dim=1)
            return torch.zeros_like(pre).scatter(1, top.indices, F.relu(top.values))
        if architecture == "jumprelu":
            return jumprelu_with_threshold_gradient(pre, self.threshold, self.bandwidth)
        if training:
            return batch_topk(pre, self.config.k)
        return pre * (pre > self.threshold)

    def encode(self, x):
        """Raw activations (B, d_in) -> feature activations (B, n_features), the inference rule."""
        return self.activate(self.pre_activations(x))

    def decode(self, features):
        """Feature activations -> reconstruction in raw activation space."""
        return (features @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x):
        pre = self.pre_activations(x)
        features = self.activate(pre)
        return SAEOutput(self.decode(features), features, pre)

    def training_forward(self, x):
        """`forward` with the training rule (the batch-level TopK for batchtopk and matryoshka)."""
        pre = self.pre_activations(x)
        features = self.activate(pre, training=True)
        return SAEOutput(self.decode(features), features, pre)

    def loss(self, x, out: SAEOutput, penalty=None, dead_mask=None, exponents=None, k_aux=None, aux_coefficient=1 / 32):
        """Training loss in the scaled space; returns (total, parts dict).

        `penalty` overrides the config's lambda (L1 or L0, for its warm-up). TopK family:
        `dead_mask` (n,) marks latents that have not fired lately; their AuxK loss is added.
        panneal: `exponents` (2,) holds p and the next p of the schedule (default 1, 1); parts
        gets the penalty at both ("sparsity", "sparsity_next"), which is what rescales lambda."""
        config, scale = self.config, self.input_scale
        error = (x - out.x_hat) * scale  # (B, d) in the scaled space
        mse = error.pow(2).sum(dim=1).mean()
        parts = {"mse": mse}
        total = mse
        if config.architecture == "matryoshka":
            total = self.prefix_mse(x * scale, out.features)
            parts["prefix_mse"] = total
        lam = config.penalty if penalty is None else penalty
        if config.architecture == "l1":
            parts["sparsity"] = (out.features * self.W_dec.norm(dim=1)).sum(dim=1).mean()
            return total + lam * parts["sparsity"], parts
        if config.architecture == "panneal":
            p, p_next = (1.0, 1.0) if exponents is None else exponents
            parts["sparsity"] = lp_penalty(out.features, p)
            parts["sparsity_next"] = lp_penalty(out.features.detach(), p_next)
            return total + lam * parts["sparsity"], parts
        if config.architecture == "jumprelu":
            parts["l0"] = step_with_threshold_gradient(out.pre_activations, self.threshold, self.bandwidth).sum(1).mean()
            return total + lam * parts["l0"], parts
        if dead_mask is None:
            return total, parts
        # Branch-free, so that several SAEs can be trained as one vectorised batch (vmap): the
        # k_aux largest pre-activations among dead latents (-inf elsewhere, which ReLU zeroes).
        k_aux = min(k_aux or config.d_in // 2, config.n_features)  # Gao et al.: k_aux = d_in / 2
        dead_pre = out.pre_activations.masked_fill(~dead_mask, float("-inf"))
        top = dead_pre.topk(k_aux, dim=1)
        aux_features = torch.zeros_like(dead_pre).scatter(1, top.indices, F.relu(top.values))
        aux_error = error.detach() - aux_features @ self.W_dec  # reconstruct the residual, no bias
        parts["aux"] = aux_error.pow(2).sum(dim=1).mean() * dead_mask.any()  # no dead latent: no AuxK
        return total + aux_coefficient * parts["aux"], parts

    def prefix_mse(self, target, features):
        """Matryoshka: the mean over the nested prefixes of ||x' - (W_dec[:m] f[:m] + b_dec)||^2,
        from one decode per group of latents and a running sum."""
        sizes = self.config.prefix_sizes()
        starts = [0, *sizes[:-1]]
        reconstruction, total = self.b_dec.expand_as(target), 0.0
        for start, end in zip(starts, sizes):
            reconstruction = reconstruction + features[:, start:end] @ self.W_dec[start:end]
            total = total + (target - reconstruction).pow(2).sum(dim=1).mean()
        return total / len(sizes)

    @torch.no_grad()
    def set_input_scale(self, activations):
        """Choose s so that E||s x|| = sqrt(d_in) on these activations (B, d_in); a centred SAE
        also starts b_dec at their (scaled) mean."""
        self.input_scale.fill_(self.config.d_in**0.5 / activations.norm(dim=1).mean().item())
        if self.config.centre:
            self.b_dec.copy_(activations.mean(dim=0) * self.input_scale)
