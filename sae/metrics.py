"""Reconstruction metrics of an SAE on held-out activations, in raw activation space."""
import torch

DENSE_THRESHOLD = 0.1  # a feature firing on more than 10% of inputs counts as dense


@torch.no_grad()
def reconstruction_metrics(sae, activations, batch_size=8192, with_loss=False, keep_reconstruction=False):
    """L0 (mean active features), FVE = 1 - E||x - x_hat||^2 / E||x - E[x]||^2 (about the mean,
    so predicting the mean scores 0), MSE (mean over dims), dead fraction (never fired here),
    dense fraction (fires on > 10% of inputs), shrinkage (mean ||x_hat|| / ||x||); with_loss:
    the SAE's training loss too. keep_reconstruction: returns (metrics, x_hat), so that
    fidelity_metrics needs no second pass of the SAE."""
    fired = torch.zeros(sae.config.n_features, device=activations.device)
    squared_error = active = shrinkage = loss = 0.0
    mean = activations.mean(dim=0)
    variance = (activations - mean).pow(2).sum(dim=1).mean().item()
    reconstruction = []
    for chunk in activations.split(batch_size):
        out = sae(chunk)
        squared_error += (chunk - out.x_hat).pow(2).sum().item()
        firing = out.features > 0
        active += firing.sum().item()
        fired += firing.sum(dim=0)
        shrinkage += (out.x_hat.norm(dim=1) / chunk.norm(dim=1).clamp_min(1e-12)).sum().item()
        if with_loss:
            loss += sae.loss(chunk, out)[0].item() * len(chunk)
        if keep_reconstruction:
            reconstruction.append(out.x_hat)
    n, d = activations.shape
    frequency = fired / n
    metrics = {"l0": active / n, "fve": 1 - (squared_error / n) / variance, "mse": squared_error / (n * d),
               "dead_fraction": (frequency == 0).float().mean().item(),
               "dense_fraction": (frequency > DENSE_THRESHOLD).float().mean().item(), "shrinkage": shrinkage / n}
    if with_loss:
        metrics["loss"] = loss / n
    return (metrics, torch.cat(reconstruction)) if keep_reconstruction else metrics


def legal_policy_log_probs(log_pi, legal):
    """Log-probabilities renormalised over the legal actions (what the search uses as priors)."""
    masked = log_pi.masked_fill(~legal, float("-inf"))
    return masked - masked.logsumexp(dim=1, keepdim=True)


@torch.no_grad()
def splice_outputs(model, stream, layer, legal):
    """Legal-move log-policy and value of the network run on from a (possibly replaced)
    residual stream at `layer`."""
    log_pi, value = model.forward_from(stream, layer)
    return legal_policy_log_probs(log_pi, legal), value


def policy_kl(log_p, log_q, legal):
    """KL(p || q) per row over the legal actions."""
    return torch.where(legal, log_p.exp() * (log_p - log_q), 0.0).sum(dim=1)


@torch.no_grad()
def fidelity_baseline(model, activations, legal, layer, mean_stream):
    """What every SAE is compared with: the network's own legal-move log-policy and value on
    these residual streams (N, d), and its policy KL when the layer is ablated (replaced by
    its training mean, or by zeros)."""
    log_p, value = splice_outputs(model.eval(), activations, layer, legal)
    ablated = {}
    for name, stream in (("mean", mean_stream.expand_as(activations)), ("zero", torch.zeros_like(activations))):
        log_q, _ = splice_outputs(model, stream, layer, legal)
        ablated[name] = policy_kl(log_p, log_q, legal).mean().item()
    return {"log_p": log_p, "value": value, "ablation_kl_mean": ablated["mean"], "ablation_kl_zero": ablated["zero"]}


@torch.no_grad()
def fidelity_metrics(model, sae, activations, legal, layer, baseline, x_hat=None):
    """How well the network still plays when the SAE's reconstruction replaces its residual
    stream at `layer` (held-out activations (N, d), legal action masks (N, A) bool, and
    `fidelity_baseline` of the same):

    policy_kl          E KL(pi || pi_sae) over the legal moves
    top1_agreement     share of positions where both pick the same move
    value_mse          E (v - v_sae)^2
    fraction_recovered 1 - KL_sae / KL_ablated, with the stream replaced by its training mean
                       (`fraction_recovered`, the headline) or by zeros (`..._zero`); 1 is
                       perfect, 0 no better than ablating the layer (the analogue of "loss
                       recovered" for language models).

    `x_hat`: the SAE's reconstruction of `activations`, when it is at hand."""
    if x_hat is None:
        x_hat = torch.cat([sae(chunk).x_hat for chunk in activations.split(8192)])  # bounded memory
    log_q, value_q = splice_outputs(model.eval(), x_hat, layer, legal)
    log_p, value = baseline["log_p"], baseline["value"]
    kl = policy_kl(log_p, log_q, legal).mean().item()
    return {"policy_kl": kl, "top1_agreement": (log_p.argmax(dim=1) == log_q.argmax(dim=1)).float().mean().item(),
            "value_mse": (value - value_q).pow(2).mean().item(),
            "fraction_recovered": 1 - kl / baseline["ablation_kl_mean"],
            "fraction_recovered_zero": 1 - kl / baseline["ablation_kl_zero"]}
