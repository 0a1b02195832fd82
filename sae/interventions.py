"""Causal checks of SAE features: change the residual stream along one feature's decoder
direction and run the rest of the network (model.forward_from).

    ablation   on a position where the feature fires with activation a, subtract a * d (its
               decoder direction): the stream the network would have seen without the feature,
               the SAE's reconstruction error kept
    steering   on the same positions, add s * d, s = the feature's largest activation

Each is scored against the unchanged network on the same positions: how often the policy's
top legal move changes, the mean KL divergence of the legal-move policy, the mean value change,
and the move whose probability gains the most on average.
"""
import torch


def legal_log_policy(log_pi, legal):
    """Log-probabilities renormalised over the legal actions (B, A); illegal ones -inf."""
    return torch.log_softmax(log_pi.masked_fill(~legal, float("-inf")), dim=1)


@torch.no_grad()
def intervention_effects(net, sae, x, legal, layer, feature_rows, steer_scale):
    """Per feature, the effects of ablating it and of steering with it (see the module
    docstring) on the positions it fires on. `x` (N, d) raw streams at `layer`, `legal` (N, A)
    bool, `feature_rows` {feature: [row, ...]} rows of x where it fires, `steer_scale` (F,).
    Returns {"ablate" | "steer": {"top_changed", "kl", "value", "gained_move"}: (F,) arrays}
    (features with no rows: NaN, and -1 for the move)."""
    features = torch.tensor([f for f, rows in feature_rows.items() for _ in rows], dtype=torch.long)
    rows = torch.tensor([r for rows in feature_rows.values() for r in rows], dtype=torch.long)
    streams, mask = x[rows], legal[rows]
    activation = sae.encode(streams).gather(1, features[:, None])  # (P, 1)
    directions = (sae.W_dec / sae.input_scale)[features]  # raw-space decoder rows (P, d)
    log_pi, value = net.forward_from(streams, layer)
    before = legal_log_policy(log_pi, mask)
    n_features = sae.config.n_features
    count = torch.zeros(n_features).index_add_(0, features, torch.ones(len(features)))

    def mean(per_pair):  # (P,) or (P, A) -> per feature mean, NaN where no rows
        total = torch.zeros((n_features, *per_pair.shape[1:])).index_add_(0, features, per_pair.float())
        return total / count.view(-1, *([1] * (per_pair.dim() - 1))).clamp_min(1)

    effects = {}
    for name, changed in (("ablate", streams - activation * directions),
                          ("steer", streams + steer_scale[features, None] * directions)):
        new_log_pi, new_value = net.forward_from(changed, layer)
        after = legal_log_policy(new_log_pi, mask)
        kl = (before.exp() * (before - after)).nan_to_num(0.0).sum(dim=1).clamp_min(0)  # illegal: 0 * (-inf + inf);
        # the clamp only removes float rounding below 0
        gain = mean((after.exp() - before.exp()).nan_to_num(0.0))  # (F, A)
        none = count == 0
        effects[name] = {
            "top_changed": mean(before.argmax(dim=1) != after.argmax(dim=1)).masked_fill(none, float("nan")),
            "kl": mean(kl).masked_fill(none, float("nan")),
            "value": mean(new_value - value).masked_fill(none, float("nan")),
            "gained_move": gain.argmax(dim=1).masked_fill(none, -1),
        }
    return {name: {k: v.numpy() for k, v in parts.items()} for name, parts in effects.items()}
