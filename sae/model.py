"""Sparse autoencoders over a residual stream.

L1 SAE, following Anthropic's April 2024 update on training SAEs:
    f = ReLU(W_enc x' + b_enc),  x_hat' = W_dec f + b_dec,   x' = s * x
    loss = ||x' - x_hat'||^2 (summed over dims, mean over the batch) + lambda * sum_i f_i ||W_dec[i]||
where s is one constant chosen so that E||x'|| = sqrt(d_in) on the training data; the decoder
rows are free (the penalty carries their norm).

TopK SAE (Gao et al. 2024, OpenAI): f = ReLU(TopK_k(W_enc x' + b_enc)), unit-norm decoder rows
(renormalised after every step), loss = ||x' - x_hat'||^2 + aux_coefficient * AuxK, where AuxK
reconstructs the residual x' - x_hat' from the k_aux largest pre-activations of the dead latents.

`encode` takes raw activations and `decode` returns raw ones (the scale is applied inside),
so callers never see the scaled space; `loss` works in it.
"""
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SAEConfig:
    d_in: int = 256
    """width of the residual stream"""
    n_features: int = 1024
    """dictionary size"""
    architecture: str = "l1"
    """'l1' (ReLU + L1 penalty) or 'topk'"""
    l1_penalty: float = 3.0
    """lambda of the L1 SAE"""
    k: int = 16
    """active latents per input of the TopK SAE"""
    init_decoder_norm: float = 0.1
    """norm of every decoder row at initialisation (Anthropic: 0.05 to 1)"""

    def __post_init__(self):
        if self.architecture not in ("l1", "topk"):
            raise ValueError(f"architecture must be 'l1' or 'topk', got '{self.architecture}'")
        if self.architecture == "topk" and not 0 < self.k <= self.n_features:
            raise ValueError(f"k must be in 1..n_features ({self.n_features}), got {self.k}")

    def to_dict(self):
        return asdict(self)


class SAEOutput(NamedTuple):
    x_hat: torch.Tensor
    """reconstruction in raw activation space, (B, d_in)"""
    features: torch.Tensor
    """feature activations f, (B, n_features)"""
    pre_activations: torch.Tensor
    """W_enc x' + b_enc before the nonlinearity, (B, n_features)"""


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SAEConfig):
        super().__init__()
        self.config = config
        directions = F.normalize(torch.randn(config.n_features, config.d_in), dim=1)  # random unit rows
        norm = 1.0 if config.architecture == "topk" else config.init_decoder_norm
        self.W_dec = nn.Parameter(directions * norm)  # (n, d)
        self.W_enc = nn.Parameter(self.W_dec.detach().T.clone())  # (d, n): the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(config.n_features))
        self.b_dec = nn.Parameter(torch.zeros(config.d_in))
        self.register_buffer("input_scale", torch.ones(()))

    def pre_activations(self, x):
        return (x * self.input_scale) @ self.W_enc + self.b_enc  # (B, n)

    def activate(self, pre):
        if self.config.architecture == "l1":
            return F.relu(pre)
        top = pre.topk(self.config.k, dim=1)
        return torch.zeros_like(pre).scatter(1, top.indices, F.relu(top.values))

    def encode(self, x):
        """Raw activations (B, d_in) -> feature activations (B, n_features)."""
        return self.activate(self.pre_activations(x))

    def decode(self, features):
        """Feature activations -> reconstruction in raw activation space."""
        return (features @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x):
        pre = self.pre_activations(x)
        features = self.activate(pre)
        return SAEOutput(self.decode(features), features, pre)

    def loss(self, x, out: SAEOutput, l1_penalty=None, dead_mask=None, k_aux=None, aux_coefficient=1 / 32):
        """Training loss in the scaled space; returns (total, parts dict).

        L1: `l1_penalty` overrides the config's lambda (for its warm-up). TopK: `dead_mask`
        (n,) marks latents that have not fired lately; their AuxK loss is added."""
        scale = self.input_scale
        error = (x - out.x_hat) * scale  # (B, d) in the scaled space
        mse = error.pow(2).sum(dim=1).mean()
        parts = {"mse": mse}
        if self.config.architecture == "l1":
            lam = self.config.l1_penalty if l1_penalty is None else l1_penalty
            sparsity = (out.features * self.W_dec.norm(dim=1)).sum(dim=1).mean()
            parts["sparsity"] = sparsity
            return mse + lam * sparsity, parts
        if dead_mask is None:
            return mse, parts
        # Branch-free, so that several SAEs can be trained as one vectorised batch (vmap): the
        # k_aux largest pre-activations among dead latents (-inf elsewhere, which ReLU zeroes).
        k_aux = k_aux or min(2 * self.config.k, self.config.n_features)
        dead_pre = out.pre_activations.masked_fill(~dead_mask, float("-inf"))
        top = dead_pre.topk(k_aux, dim=1)
        aux_features = torch.zeros_like(dead_pre).scatter(1, top.indices, F.relu(top.values))
        aux_error = error.detach() - aux_features @ self.W_dec  # reconstruct the residual, no bias
        aux = aux_error.pow(2).sum(dim=1).mean() * dead_mask.any()  # no dead latent: no AuxK
        parts["aux"] = aux
        return mse + aux_coefficient * aux, parts

    @torch.no_grad()
    def normalize_decoder(self):
        """Unit-norm decoder rows (the TopK SAE's constraint)."""
        self.W_dec.data = F.normalize(self.W_dec.data, dim=1)

    @torch.no_grad()
    def set_input_scale(self, activations):
        """Choose s so that E||s x|| = sqrt(d_in) on these activations (B, d_in)."""
        self.input_scale.fill_(self.config.d_in**0.5 / activations.norm(dim=1).mean().item())
