"""Reconstruction metrics of an SAE on held-out activations, in raw activation space."""
import torch

DENSE_THRESHOLD = 0.1  # a feature firing on more than 10% of inputs counts as dense


@torch.no_grad()
def reconstruction_metrics(sae, activations, batch_size=8192):
    """L0 (mean active features), FVE = 1 - E||x - x_hat||^2 / E||x - E[x]||^2 (about the mean,
    so predicting the mean scores 0), MSE (mean over dims), dead fraction (never fired here),
    dense fraction (fires on > 10% of inputs), shrinkage (mean ||x_hat|| / ||x||)."""
    fired = torch.zeros(sae.config.n_features, device=activations.device)
    squared_error = active = shrinkage = 0.0
    mean = activations.mean(dim=0)
    variance = (activations - mean).pow(2).sum(dim=1).mean().item()
    for chunk in activations.split(batch_size):
        out = sae(chunk)
        squared_error += (chunk - out.x_hat).pow(2).sum().item()
        firing = out.features > 0
        active += firing.sum().item()
        fired += firing.sum(dim=0)
        shrinkage += (out.x_hat.norm(dim=1) / chunk.norm(dim=1).clamp_min(1e-12)).sum().item()
    n, d = activations.shape
    frequency = fired / n
    return {"l0": active / n, "fve": 1 - (squared_error / n) / variance, "mse": squared_error / (n * d),
            "dead_fraction": (frequency == 0).float().mean().item(),
            "dense_fraction": (frequency > DENSE_THRESHOLD).float().mean().item(), "shrinkage": shrinkage / n}
