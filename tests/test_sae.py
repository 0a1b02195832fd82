"""SAEs on synthetic data with planted sparse directions; schedules; metrics; fidelity."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model import ModelConfig, OthelloNet
from othello.bitboard import bitboard_rules
from othello.OthelloGame import OthelloGame
from sae.metrics import fidelity_baseline, fidelity_metrics, reconstruction_metrics
from sae.model import (ARCHITECTURES, SAEConfig, SAEOutput, SparseAutoencoder, batch_topk,
                       jumprelu_with_threshold_gradient, lp_penalty, step_with_threshold_gradient)
from sae.train import (PAnnealing, SAETrainConfig, Splice, clip_grad_norm_per_model, l1_penalty_at, lr_at, train_sae,
                       train_saes)
from tests.conftest import random_positions


def planted(n=20_000, d=24, n_true=32, active=3, seed=0):
    """Inputs that are sparse non-negative sums of `n_true` random unit directions (plus an
    offset, as real residual streams have); returns (inputs, directions)."""
    g = torch.Generator().manual_seed(seed)
    directions = F.normalize(torch.randn(n_true, d, generator=g), dim=1)
    weights = torch.zeros(n, n_true)
    chosen = torch.rand(n, n_true, generator=g).argsort(dim=1)[:, :active]
    weights.scatter_(1, chosen, 1 + torch.rand(n, active, generator=g) * 3)
    return weights @ directions + 0.5, directions


def recovered(sae, directions):
    cosine = F.normalize(directions, dim=1) @ F.normalize(sae.W_dec.detach(), dim=1).T  # (true, learned)
    return (cosine.max(dim=1).values > 0.9).float().mean().item()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_recovers_planted_directions(architecture):
    torch.manual_seed(0)
    x, directions = planted()
    sae = SparseAutoencoder(SAEConfig(d_in=24, n_features=64, architecture=architecture, l1_penalty=0.3, k=3,
                                      l0_penalty=1.0, matryoshka_groups=3, centre=architecture != "l1"))
    record = train_sae(sae, x[:-4000], SAETrainConfig(steps=1500, batch_size=512, lr=3e-3), progress=False)
    metrics = reconstruction_metrics(sae, x[-4000:])
    assert metrics["fve"] > 0.9, metrics
    assert recovered(sae, directions) >= 0.9
    assert metrics["l0"] < (12 if architecture == "l1" else 4)  # the truth: 3 active directions
    assert record["activations_per_s"] > 0


def test_batch_topk_equals_the_top_k_of_the_flattened_batch():
    def reference(pre, k):
        flat = torch.relu(pre).flatten()
        top = flat.topk(k * len(pre))
        return torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(pre)

    torch.manual_seed(0)
    spread = torch.randn(64, 200)
    crowded = spread.clone()
    crowded[5] += 10  # one row holds far more than 4k of the batch's winners: the fallback
    for pre in (spread, crowded, -spread.abs()):  # the last: fewer positive entries than k per row
        for k in (1, 3, 60):
            torch.testing.assert_close(batch_topk(pre, k), reference(pre, k), rtol=0, atol=0)
    assert (batch_topk(crowded, 3)[5] > 0).sum() > 4 * 3
    pre = torch.randn(32, 100, requires_grad=True)
    batch_topk(pre, 2).sum().backward()
    assert pre.grad.sum() == (batch_topk(pre.detach(), 2) > 0).sum()  # gradient 1 on each kept entry


def test_batch_topk_keeps_n_times_k_over_the_batch_and_its_threshold_keeps_about_k():
    torch.manual_seed(0)
    x, _ = planted(n=8000)
    sae = SparseAutoencoder(SAEConfig(d_in=24, n_features=64, architecture="batchtopk", k=3, centre=True))
    train_sae(sae, x[:-2000], SAETrainConfig(steps=300, batch_size=256, lr=3e-3), progress=False)
    with torch.no_grad():
        kept = (batch_topk(sae.pre_activations(x[:256]), 3) > 0).sum(dim=1)
        assert kept.sum() == 3 * 256 and kept.max() > 3  # the batch's budget, spent unevenly
        inference = (sae.encode(x[-2000:]) > 0).sum(dim=1).float()
    assert sae.global_threshold > 0
    assert 2.0 < inference.mean() < 4.5, inference.mean()  # one position's L0 varies around k


def test_jumprelu_threshold_gets_the_straight_through_gradients():
    pre = torch.tensor([[0.30, 0.52, 0.70], [0.49, 0.10, 0.58]])
    threshold = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    eps = 0.1  # the kernel's window: |pre - threshold| < 0.05
    step = step_with_threshold_gradient(pre, threshold, eps)
    torch.testing.assert_close(step.detach(), (pre > 0.5).float())
    step.sum().backward()  # dL0/dtheta = -(1/eps) * (inputs inside the window)
    torch.testing.assert_close(threshold.grad, torch.tensor([-10.0, -10.0, 0.0]))
    threshold.grad = None
    pre.requires_grad_(True)
    out = jumprelu_with_threshold_gradient(pre, threshold, eps)
    torch.testing.assert_close(out.detach(), pre.detach() * (pre.detach() > 0.5))
    out.sum().backward()  # -(theta/eps) per input inside the window; pre passes where it fired
    torch.testing.assert_close(threshold.grad, torch.tensor([-5.0, -5.0, 0.0]))
    torch.testing.assert_close(pre.grad, (pre.detach() > 0.5).float())


def test_jumprelu_thresholds_learn_at_their_own_rate_and_only_jumprelu_records_it():
    x, _ = planted(n=4000)
    config = SAETrainConfig(steps=40, batch_size=256, lr=1e-3, l1_warmup_fraction=0, lr_decay_fraction=0)

    def moved(threshold_lr):  # the largest change of a log threshold, and of an encoder weight
        torch.manual_seed(0)
        sae = SparseAutoencoder(SAEConfig(d_in=24, n_features=64, architecture="jumprelu", l0_penalty=1.0,
                                          jumprelu_threshold_lr=threshold_lr))
        start = copy.deepcopy(sae.state_dict())
        train_sae(sae, x, config, progress=False)
        return [(sae.state_dict()[name] - start[name]).abs().max().item() for name in ("log_threshold", "W_enc")]

    (slow, encoder_slow), (fast, encoder_fast) = moved(1.0), moved(10.0)
    assert slow <= 40 * 1e-3 * 1.5 and fast > 5 * slow  # Adam: about lr a step at most
    assert max(encoder_slow, encoder_fast) <= 40 * 1e-3 * 1.5  # the rest at the SAE's rate
    assert "jumprelu_threshold_lr" in SAEConfig(architecture="jumprelu").to_dict()
    assert "jumprelu_threshold_lr" not in SAEConfig(architecture="batchtopk").to_dict()  # older records resume


def test_matryoshka_prefixes_each_reconstruct_the_input():
    config = SAEConfig(d_in=8, n_features=16, architecture="matryoshka", k=2, matryoshka_groups=3)
    assert config.prefix_sizes() == [4, 8, 16]
    sae = SparseAutoencoder(config)
    x, features = torch.randn(10, 8), torch.rand(10, 16)
    expected = sum((x - (features[:, :m] @ sae.W_dec[:m] + sae.b_dec)).pow(2).sum(1).mean() for m in (4, 8, 16)) / 3
    torch.testing.assert_close(sae.prefix_mse(x, features), expected)
    with pytest.raises(ValueError, match="matryoshka_groups"):
        SAEConfig(n_features=16, architecture="matryoshka", matryoshka_groups=6)


def test_p_annealing_steps_p_down_and_carries_the_penalty_over():
    annealing = PAnnealing(steps=100, p_end=0.2, groups=2)
    assert annealing.change_steps == [20, 27, 33, 40, 47, 53, 60, 67, 73, 80]
    exponents = {step: annealing.exponents(step).tolist() for step in (0, 19, 20, 79, 80, 99)}
    assert exponents == {step: pytest.approx(pair) for step, pair in {
        0: [1.0, 0.92], 19: [1.0, 0.92], 20: [0.92, 0.84], 79: [0.28, 0.2], 80: [0.2, 0.2], 99: [0.2, 0.2]}.items()}
    for step in range(5, 19):  # only the last ten batches count
        annealing.observe(step, {"sparsity": torch.tensor([1.0, 1.0]), "sparsity_next": torch.tensor([1.0, 1.0])})
    assert annealing.scale.tolist() == [1.0, 1.0]
    for penalty in (3.0, 5.0):
        annealing.observe(18, {"sparsity": torch.tensor([penalty, 6.0]), "sparsity_next": torch.tensor([2 * penalty, 3.0])})
    annealing.observe(19, {"sparsity": torch.tensor([4.0, 6.0]), "sparsity_next": torch.tensor([8.0, 3.0])})  # p changes next
    # lambda * (penalty at the new p) equals the old lambda * (penalty at the old p), over the window
    old = (7 * 1.0 + 3.0 + 5.0 + 4.0) / 10, (7 * 1.0 + 6.0 * 3) / 10
    new = (7 * 1.0 + 6.0 + 10.0 + 8.0) / 10, (7 * 1.0 + 3.0 * 3) / 10
    assert annealing.scale.tolist() == pytest.approx([old[0] / new[0], old[1] / new[1]])
    assert annealing.recent == []


def test_the_lp_penalty_is_sum_f_to_the_p_with_a_bounded_gradient_at_zero():
    features = torch.tensor([[0.0, 0.5, 2.0], [1.0, 0.0, 1e-6]], requires_grad=True)
    torch.testing.assert_close(lp_penalty(features, 0.5), torch.tensor((0.5**0.5 + 2**0.5 + 1 + 1e-6 / 1e-3**0.5) / 2))
    torch.testing.assert_close(lp_penalty(features, 1.0), features.sum(dim=1).mean())
    lp_penalty(features, 0.2).backward()
    assert features.grad.isfinite().all() and features.grad.max() == pytest.approx(1e-3**-0.8 / 2)  # the chord's slope
    sae = SparseAutoencoder(SAEConfig(d_in=4, n_features=3, architecture="panneal"))
    out = SAEOutput(torch.zeros(2, 4), features.detach(), features.detach())
    _, parts = sae.loss(torch.zeros(2, 4), out, penalty=1.0, exponents=torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(parts["sparsity"], lp_penalty(features.detach(), 1.0))
    torch.testing.assert_close(parts["sparsity_next"], lp_penalty(features.detach(), 0.5))


def test_p_annealing_lowers_l0_below_an_l1_sae_of_the_same_lambda():
    x, _ = planted(n=8000)
    config = SAETrainConfig(steps=600, batch_size=256, lr=3e-3)

    def l0(architecture):
        torch.manual_seed(0)
        sae = SparseAutoencoder(SAEConfig(d_in=24, n_features=64, architecture=architecture, l1_penalty=0.1,
                                          p_end=0.2, init_decoder_norm=1.0))
        record = train_sae(sae, x[:-2000], config, progress=False)
        return reconstruction_metrics(sae, x[-2000:])["l0"], record

    (annealed, record), (plain, _) = l0("panneal"), l0("l1")
    assert annealed < plain, (annealed, plain)
    assert record["final_lambda"] != 0.1 and "final_sparsity_next" in record


def test_schedules():
    assert [l1_penalty_at(s, 100, 5.0, 0.05) for s in (0, 1, 4, 5, 99)] == [1.0, 2.0, 5.0, 5.0, 5.0]
    assert l1_penalty_at(0, 100, 5.0, 0.0) == 5.0
    assert [lr_at(s, 100, 1e-3, 0.2) for s in (0, 79, 80, 90, 99)] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-5])


def test_gradients_are_clipped_per_model_as_clip_grad_norm_would():
    grads = [torch.randn(3, 4, 5) * 10, torch.randn(3, 5) * 0.01]
    grads[0][1] *= 1e-4  # model 1's gradient is already small: left alone
    stacked = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(stacked, grads):
        p.grad = g.clone()
    clip_grad_norm_per_model(stacked, 1.0)
    for model in range(3):
        alone = [torch.zeros_like(g[model], requires_grad=True) for g in grads]
        for p, g in zip(alone, grads):
            p.grad = g[model].clone()
        torch.nn.utils.clip_grad_norm_(alone, 1.0)
        for p, q in zip(stacked, alone):
            torch.testing.assert_close(p.grad[model], q.grad)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_training_together_equals_training_alone(architecture):
    x = torch.randn(2048, 8) * 3 + 1
    config = SAETrainConfig(steps=40, batch_size=128, lr=3e-3, dead_after=256)

    def fresh(penalty, seed):
        torch.manual_seed(seed)
        return SparseAutoencoder(SAEConfig(d_in=8, n_features=16, architecture=architecture, l1_penalty=penalty,
                                           l0_penalty=penalty / 10, k=3, matryoshka_groups=3, centre=True))

    together = [fresh(1.0, 0), fresh(4.0, 1)]
    records = train_saes(together, x, config, progress=False)
    for sae, record, (penalty, seed) in zip(together, records, [(1.0, 0), (4.0, 1)]):
        alone = fresh(penalty, seed)
        alone_record = train_sae(alone, x, config, progress=False)
        for name, value in alone.state_dict().items():
            torch.testing.assert_close(sae.state_dict()[name], value, rtol=1e-4, atol=1e-5)
        assert record["final_mse"] == pytest.approx(alone_record["final_mse"], rel=1e-4)


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "matryoshka"])
def test_auxk_trains_only_dead_latents_and_only_while_some_are_dead(architecture):
    torch.manual_seed(0)
    x = torch.randn(2000, 8).abs()

    def trained(dead_after):
        torch.manual_seed(0)
        sae = SparseAutoencoder(SAEConfig(d_in=8, n_features=16, architecture=architecture, k=2, matryoshka_groups=2))
        with torch.no_grad():  # latent 3 is never among the top k, but its pre-activation is positive
            sae.W_enc[:, 3] = 1e-3
        before = sae.W_enc[:, 3].clone()
        record = train_saes([sae], x, SAETrainConfig(steps=20, batch_size=100, dead_after=dead_after), progress=False)[0]
        return sae, before, record

    sae, before, record = trained(dead_after=10**9)  # nobody counts as dead: no AuxK
    torch.testing.assert_close(sae.W_enc[:, 3], before, rtol=0, atol=0)  # no gradient ever reached it
    assert record["final_aux"] == 0
    sae, before, record = trained(dead_after=300)  # dead after 3 steps: AuxK trains it
    assert not torch.equal(sae.W_enc[:, 3], before) and record["final_aux"] > 0
    # with no dead latent the AuxK term and its gradient are exactly zero, so skipping it is exact
    out = sae.training_forward(x[:50])
    loss, parts = sae.loss(x[:50], out, dead_mask=torch.zeros(16, dtype=torch.bool))
    assert parts["aux"] == 0
    plain, _ = sae.loss(x[:50], out)
    for with_aux, without in zip(torch.autograd.grad(loss, list(sae.parameters()), allow_unused=True, retain_graph=True),
                                 torch.autograd.grad(plain, list(sae.parameters()), allow_unused=True)):
        assert (with_aux is None and without is None) or torch.equal(with_aux, without)


def test_input_scale_and_initialisation():
    sae = SparseAutoencoder(SAEConfig(d_in=16, n_features=32, init_decoder_norm=0.1))
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.full((32,), 0.1))
    torch.testing.assert_close(sae.W_enc, sae.W_dec.T)
    assert sae.b_enc.abs().sum() == 0 and sae.b_dec.abs().sum() == 0
    x = torch.randn(1000, 16) * 7
    sae.set_input_scale(x)
    assert (x * sae.input_scale).norm(dim=1).mean().item() == pytest.approx(4.0)
    # encode/decode stay in raw space: a perfect SAE would give back x
    out = sae(x)
    assert out.x_hat.shape == x.shape and out.features.shape == (1000, 32)


def test_topk_keeps_k_and_unit_decoder():
    sae = SparseAutoencoder(SAEConfig(d_in=8, n_features=32, architecture="topk", k=4))
    f = sae.encode(torch.randn(100, 8))
    assert ((f > 0).sum(dim=1) <= 4).all()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(32))


def test_metrics_on_hand_computable_cases():
    x = torch.randn(500, 6) + 3

    class Fixed(torch.nn.Module):
        config = SAEConfig(d_in=6, n_features=2)

        def __init__(self, reconstruction, features):
            super().__init__()
            self.reconstruction, self.features = reconstruction, features

        def forward(self, chunk):
            n = len(chunk)
            return SAEOutput(self.reconstruction(chunk), self.features[:n], self.features[:n])

    features = torch.zeros(500, 2)
    features[:, 0] = 1.0  # feature 0 always fires, feature 1 never
    mean_predictor = reconstruction_metrics(Fixed(lambda c: x.mean(0).expand_as(c), features), x, batch_size=500)
    assert mean_predictor["fve"] == pytest.approx(0.0, abs=1e-5)
    assert mean_predictor["l0"] == 1 and mean_predictor["dead_fraction"] == 0.5
    assert mean_predictor["dense_fraction"] == 0.5
    perfect = reconstruction_metrics(Fixed(lambda c: c, features), x, batch_size=500)
    assert perfect["fve"] == pytest.approx(1.0) and perfect["mse"] == 0 and perfect["shrinkage"] == pytest.approx(1.0)
    half = reconstruction_metrics(Fixed(lambda c: c / 2, features), x, batch_size=500)
    assert half["shrinkage"] == pytest.approx(0.5)


def test_bad_configs():
    with pytest.raises(ValueError, match="architecture"):
        SAEConfig(architecture="gated")
    with pytest.raises(ValueError, match="k must be"):
        SAEConfig(architecture="topk", n_features=8, k=9)
    with pytest.raises(ValueError, match="p_end"):
        SAEConfig(architecture="panneal", p_end=0)
    assert "p_end" in SAEConfig(architecture="panneal").to_dict()
    assert "p_end" not in SAEConfig(architecture="l1").to_dict()  # older records resume


def layer2_streams(model, count):
    """(x, legal): the layer-2 stream and legal moves of the unfinished positions among `count`
    visited by random games."""
    game, rules = OthelloGame(6), bitboard_rules(6)
    boards = np.stack([game.getCanonicalForm(b, p) for b, p in random_positions(game, count)])
    boards = boards[~rules.is_over(*rules.from_boards(boards))]
    legal = torch.from_numpy(rules.action_mask(*rules.from_boards(boards)) > 0)
    with torch.no_grad():
        return model.residual_stream(torch.as_tensor(boards.reshape(len(boards), -1), dtype=torch.float32), 2), legal


def test_fidelity_of_a_perfect_and_of_a_mean_reconstruction():
    torch.manual_seed(0)
    model = OthelloNet(ModelConfig(width=16, depth=4)).eval()
    x, legal = layer2_streams(model, 300)
    mean = x.mean(dim=0)

    class Reconstructs(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, chunk):
            return SAEOutput(self.fn(chunk), None, None)

    baseline = fidelity_baseline(model, x, legal, 2, mean)
    assert baseline["ablation_kl_zero"] > 0 and baseline["ablation_kl_mean"] > 0
    perfect = fidelity_metrics(model, Reconstructs(lambda c: c), x, legal, 2, baseline)
    assert perfect["policy_kl"] == pytest.approx(0, abs=1e-6) and perfect["top1_agreement"] == 1
    assert perfect["value_mse"] == pytest.approx(0, abs=1e-10) and perfect["fraction_recovered"] == pytest.approx(1)
    as_mean = fidelity_metrics(model, Reconstructs(lambda c: mean.expand_as(c)), x, legal, 2, baseline)
    assert as_mean["fraction_recovered"] == pytest.approx(0, abs=1e-5)
    assert as_mean["fraction_recovered_zero"] == pytest.approx(
        1 - baseline["ablation_kl_mean"] / baseline["ablation_kl_zero"], abs=1e-5)


def test_the_kl_term_trades_reconstruction_for_the_networks_policy():
    """An SAE too small to rebuild the stream: with the policy KL in its loss it keeps more of
    what the policy reads (lower spliced KL) at the cost of plain reconstruction (higher MSE)."""
    torch.manual_seed(0)
    model = OthelloNet(ModelConfig(width=16, depth=4)).eval()
    with torch.no_grad():
        model.policy_head.weight.mul_(20)  # an untrained policy is nearly uniform: make it read the stream
    x, legal = layer2_streams(model, 3000)
    baseline = fidelity_baseline(model, x, legal, 2, x.mean(dim=0))
    results = {}
    for coefficient in (0.0, 30.0):
        torch.manual_seed(1)
        sae = SparseAutoencoder(SAEConfig(16, 8, "topk", k=2))
        config = SAETrainConfig(steps=400, batch_size=256, lr=3e-3, kl_coefficient=coefficient)
        record = train_sae(sae, x, config, progress=False) if not coefficient else \
            train_saes([sae], x, config, progress=False, splice=Splice(model, 2, legal))[0]
        results[coefficient] = ({**reconstruction_metrics(sae, x), **fidelity_metrics(model, sae, x, legal, 2, baseline)},
                                record)
    (plain, _), (with_kl, record) = results[0.0], results[30.0]
    assert with_kl["policy_kl"] < 0.85 * plain["policy_kl"] and with_kl["mse"] > 1.2 * plain["mse"]
    assert record["final_kl"] > 0
    with pytest.raises(ValueError, match="needs the network"):
        train_sae(SparseAutoencoder(SAEConfig(16, 8, "topk", k=2)), x, config, progress=False)
    assert not {"kl_coefficient", "kl_from"} & SAETrainConfig().to_dict().keys()  # records from before still resume
    assert config.to_dict()["kl_coefficient"] == 30.0


def test_the_kl_term_joins_after_kl_from_of_the_steps(monkeypatch):
    model = OthelloNet(ModelConfig(width=16, depth=4)).eval()
    x, legal = layer2_streams(model, 200)
    steps = []
    original = Splice.kl
    monkeypatch.setattr(Splice, "kl", lambda splice, *args: steps.append(1) or original(splice, *args))
    config = SAETrainConfig(steps=20, batch_size=32, kl_coefficient=1.0, kl_from=0.75)
    record = train_saes([SparseAutoencoder(SAEConfig(16, 8, "topk", k=2))], x, config, progress=False,
                        splice=Splice(model, 2, legal))[0]
    assert len(steps) == 5 and record["final_kl"] > 0  # steps 15..19
    assert config.to_dict()["kl_from"] == 0.75
