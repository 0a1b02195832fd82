"""Ablation and steering of SAE features on a network small enough to reason about."""
import numpy as np
import torch

from model import ModelConfig, OthelloNet
from sae.interventions import intervention_effects
from sae.model import SAEConfig, SparseAutoencoder

WIDTH, MOVE = 16, 7


def setup():
    torch.manual_seed(0)
    net = OthelloNet(ModelConfig(width=WIDTH, depth=2)).eval()  # layer 1 is the last: heads only
    sae = SparseAutoencoder(SAEConfig(d_in=WIDTH, n_features=3))
    toward_move = torch.nn.functional.normalize(net.policy_head.weight[MOVE] - net.policy_head.weight.mean(0), dim=0)
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.W_enc[:, 0] = 1.0  # feature 0: fires on every stream (they are non-negative)
        sae.W_enc[:, 1] = 1.0  # feature 1: fires too, but its decoder direction is zero
        sae.W_dec.zero_()
        sae.W_dec[0] = toward_move
        sae.b_enc.zero_()
    x = torch.rand(40, WIDTH)
    legal = torch.ones(40, 37, dtype=torch.bool)
    return net, sae, x, legal


def test_a_feature_with_no_direction_changes_nothing_and_a_feature_toward_a_move_steers_to_it():
    net, sae, x, legal = setup()
    rows = {0: list(range(20)), 1: list(range(20))}  # feature 2 never fires: no rows
    effects = intervention_effects(net, sae, x, legal, 1, rows, steer_scale=torch.tensor([50.0, 50.0, 50.0]))
    for name in ("ablate", "steer"):
        assert effects[name]["top_changed"][1] == 0 and abs(effects[name]["kl"][1]) < 1e-6
        assert abs(effects[name]["value"][1]) < 1e-6
        assert np.isnan(effects[name]["kl"][2]) and effects[name]["gained_move"][2] == -1
    assert effects["steer"]["gained_move"][0] == MOVE
    assert effects["steer"]["kl"][0] > 0.1
    with torch.no_grad():  # a strong push makes MOVE the top move everywhere it was not already
        before = net.forward_from(x[:20], 1)[0].argmax(dim=1)
    assert effects["steer"]["top_changed"][0] == (before != MOVE).float().mean().item()


def test_ablation_removes_exactly_the_features_contribution():
    net, sae, x, legal = setup()
    effects = intervention_effects(net, sae, x, legal, 1, {0: [3]}, steer_scale=torch.zeros(3))
    with torch.no_grad():
        activation = sae.encode(x[3:4])[0, 0]
        log_pi, value = net.forward_from(x[3:4], 1)
        new_log_pi, new_value = net.forward_from(x[3:4] - activation * sae.W_dec[0], 1)
    assert abs(effects["ablate"]["value"][0] - (new_value - value).item()) < 1e-5
    kl = (log_pi.exp() * (log_pi - new_log_pi)).sum().item()  # every action legal: the plain policy
    assert abs(effects["ablate"]["kl"][0] - kl) < 1e-5
    assert effects["steer"]["kl"][0] < 1e-6  # scale 0: no change
