"""Superhuman positions and the features behind the network's moves there (sae/superhuman.py,
vis/superhuman.py)."""
import json

import numpy as np
import pytest
import torch

from model import ModelConfig, OthelloNet
from othello.solved import load_solved_positions
from sae.model import SAEConfig, SparseAutoencoder
from sae.superhuman import (attribution, causal_effect, classify, excess_p_value, feature_ranking, frequency_matched,
                            keeps_outcome, matched_control, move_values_table, moves_without)
from tests.conftest import SolvedPlayer

WIDTH, FEATURES, DRIVER, MOVE = 8, 6, 2, 14  # feature DRIVER is built to push the network to MOVE


def test_outcomes_follow_the_solved_values_exact_or_signs_alike():
    positions = load_solved_positions()[:200]
    values = move_values_table([p.values for p in positions], 37)
    best = np.nanargmax(values, axis=1)
    worst = np.nanargmin(values, axis=1)
    assert keeps_outcome(values, best).all()
    flips = np.sign(values[np.arange(len(values)), worst]) != np.sign(values[np.arange(len(values)), best])
    assert flips.any() and (keeps_outcome(values, worst) == ~flips).all()
    signs = np.sign(values)  # what the solver's move_outcomes gives
    assert (keeps_outcome(signs, worst) == keeps_outcome(values, worst)).all()


def test_classify_by_hand_solved_positions():
    # Three positions, moves 0..2 legal: values of a won, a drawn and a lost position.
    values = move_values_table([{0: 4, 1: -2, 2: 2}, {0: 0, 1: -2, 2: 0}, {0: -2, 1: -6, 2: -4}], 37)
    network = np.array([2, 0, 1])  # keeps the win (not exactly), keeps the draw, keeps the loss (a worse one)
    classical = {"greedy": np.array([1, 1, 0]), "alphabeta4": np.array([1, 2, 2])}
    superhuman, ordinary = classify(values, network, classical)
    assert superhuman.tolist() == [True, False, False]  # the draw: alpha-beta keeps it too
    assert ordinary.tolist() == [False, False, True]  # every player keeps the loss


def test_the_control_matches_the_phase_of_the_superhuman_positions():
    empties = np.array([12, 12, 12, 15, 15, 15, 15, 18])
    superhuman = np.array([1, 0, 0, 1, 1, 0, 0, 0], bool)
    ordinary = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
    control = matched_control(empties, superhuman, ordinary, np.random.default_rng(0))
    assert sorted(empties[control]) == [12, 15, 15] and not superhuman[control].any() and ordinary[control].all()


@pytest.fixture
def tiny():
    """A network whose policy reads the last residual block directly, and an SAE whose feature
    DRIVER writes a direction that only MOVE's logit reads."""
    torch.manual_seed(0)
    net = OthelloNet(ModelConfig(width=WIDTH, depth=1)).eval()
    sae = SparseAutoencoder(SAEConfig(WIDTH, FEATURES, "l1"))
    with torch.no_grad():
        net.policy_head.weight.zero_(), net.policy_head.bias.zero_()
        net.policy_head.weight[MOVE, 0] = 3.0  # the MOVE logit reads dimension 0
        sae.W_dec.copy_(torch.eye(FEATURES, WIDTH))  # feature i writes dimension i
        sae.W_enc.copy_(torch.eye(WIDTH, FEATURES))
        sae.b_enc.zero_(), sae.b_dec.zero_()
        sae.W_dec[[0, DRIVER]] = sae.W_dec[[DRIVER, 0]]  # DRIVER writes dimension 0, feature 0 dimension DRIVER
        sae.W_enc[:, [0, DRIVER]] = sae.W_enc[:, [DRIVER, 0]]
    x = torch.rand(32, WIDTH) + 0.1  # every feature fires
    legal = torch.zeros(32, 37, dtype=torch.bool)
    legal[:, [3, MOVE, 20]] = True
    return net, sae, x, legal


def test_the_feature_built_to_drive_the_move_ranks_first(tiny):
    net, sae, x, legal = tiny
    moves = torch.full((len(x),), MOVE)
    attr = attribution(net, sae, x, legal, 0, moves)
    assert attr.shape == (len(x), FEATURES) and (attr[:, DRIVER] > 0.1).all()
    others = np.delete(np.arange(FEATURES), DRIVER)
    assert attr[:, others].abs().max() < 1e-5  # nothing else reads the others' directions
    ranking = feature_ranking(attr[:16], attr[16:] * 0)
    assert int(np.argmax(ranking["contribution"])) == DRIVER == int(np.argmax(ranking["enrichment"]))
    assert ranking["fires"][DRIVER] == 1.0


def test_attribution_is_zero_where_a_feature_does_not_fire(tiny):
    net, sae, x, legal = tiny
    x = x.clone()
    x[:8, 0] = -1.0  # feature DRIVER reads dimension 0: silent on the first 8 positions
    attr = attribution(net, sae, x, legal, 0, torch.full((len(x),), MOVE))
    assert (attr[:8, DRIVER] == 0).all() and (attr[8:, DRIVER] > 0).all()


def test_removing_the_driver_changes_the_move_and_the_check_says_so(tiny):
    net, sae, x, legal = tiny
    assert (moves_without(net, sae, x, legal, 0, [1]) == MOVE).all()  # an unrelated feature: no change
    after = moves_without(net, sae, x, legal, 0, [DRIVER])
    assert (after != MOVE).all()
    # MOVE wins by 2, the other legal moves lose: the network keeps the outcome, and loses it
    # without its driver; the "classical" player plays what the ablated network plays.
    values = move_values_table([{3: -4, MOVE: 2, 20: -2}] * len(x), 37)
    effect = causal_effect(net, sae, x, legal, 0, values, [DRIVER], after.numpy())
    assert effect == {"positions": len(x), "changed": 1.0, "outcome_lost": 1.0, "became_classical": 1.0}
    baseline = causal_effect(net, sae, x, legal, 0, values, [1], after.numpy())
    assert baseline["outcome_lost"] == 0.0 and np.isnan(baseline["became_classical"])


def test_frequency_matched_features_are_distinct_live_and_close_in_frequency():
    frequencies = np.array([0.5, 0.0, 0.49, 0.1, 0.11, 0.3, 0.31, 0.0, 0.52, 0.12])
    matched = frequency_matched(frequencies, [0, 3], np.random.default_rng(0))
    assert len(set(matched)) == 2 and not {0, 3} & set(matched) and (frequencies[matched] > 0).all()
    assert matched[0] in {2, 8, 6, 5, 9} and matched[1] in {4, 9, 5, 6, 2, 8}  # among the 5 closest still free


def test_the_excess_p_value_is_fishers_one_sided_test():
    # Fisher's lady tasting tea: 8 cups, 4 with milk first; all 4 picked right p = 1/70, 3 of 4 17/70
    assert excess_p_value(4, 4, 0, 4) == pytest.approx(1 / 70)
    assert excess_p_value(3, 4, 1, 4) == pytest.approx(17 / 70)
    assert excess_p_value(0, 5, 3, 5) == 1.0  # fewer hits than the baseline: nothing to see
    assert excess_p_value(12, 30, 2, 29) < 0.01 < excess_p_value(3, 10, 1, 10)


@pytest.fixture(scope="module")
def tiny_sae_folder(tmp_path_factory):
    from sae.export import export_saelens

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sae") / "tiny_l1"
    export_saelens(SparseAutoencoder(SAEConfig(256, 32, "l1")), folder)
    return folder


def test_the_script_finds_the_positions_only_the_network_keeps_and_ranks_features(
        tiny_activations, tiny_sae_folder, tmp_path, monkeypatch, capsys):
    from vis import superhuman as script

    monkeypatch.setattr(script, "classical_players", lambda depths, seed: {"worst": SolvedPlayer(min)})
    flags = ["--sae", str(tiny_sae_folder), "--activations", str(tiny_activations[0]), "--per-phase", "4",
             "--min-empties", "10", "--max-empties", "16", "--sims", "4", "--workers", "1", "--top", "3",
             "--together", "2", "--out", str(tmp_path), "--no-progress"]
    script.main(flags + ["--pictures", str(tmp_path / "pictures")])
    result = json.loads((tmp_path / "tiny_l1.json").read_text())
    assert result["positions"] == sum(n for _, n in result["by_empties"].values()) <= 4 * 7
    assert all(n <= 4 for _, n in result["by_empties"].values()) and set(map(int, result["by_empties"])) <= set(range(10, 17))
    assert 0 < result["superhuman"] == sum(s for s, _ in result["by_empties"].values())
    assert result["keeps_outcome"]["worst"] < result["keeps_outcome"]["network"]
    assert len(result["per_feature"]["contribution"]) == 32 and len(result["features"]) <= 3
    for feature in result["features"]:
        assert feature["contribution"] > 0 and feature["random"]["id"] != feature["id"]
        assert set(feature["causal"]) == {"positions", "changed", "outcome_lost", "became_classical"}
        for example in feature["examples"]:
            assert example["network_outcome"] != example["classical_outcome"]
    assert "positions are superhuman for the raw policy" in capsys.readouterr().out
    pictures = sorted((tmp_path / "pictures").glob("tiny_l1_*.png"))
    assert 1 <= len(pictures) <= 3 and {int(p.stem.split("_")[-1]) for p in pictures} <= {f["id"] for f in result["features"]}

    # The same flags again: the analysis is read back, not redone; other settings redo it.
    monkeypatch.setattr(script, "analyse", lambda config: pytest.fail("analysed again"))
    script.main(flags + ["--workers", "2"])
    assert "holds this analysis already" in capsys.readouterr().out
    with pytest.raises(pytest.fail.Exception, match="analysed again"):
        script.main(flags + ["--top", "2"])


def test_the_script_says_when_no_position_is_superhuman(tiny_activations, tiny_sae_folder, tmp_path, monkeypatch):
    from vis import superhuman as script

    monkeypatch.setattr(script, "classical_players", lambda depths, seed: {"perfect": SolvedPlayer(max)})
    with pytest.raises(SystemExit, match="no superhuman position"):
        script.main(["--sae", str(tiny_sae_folder), "--activations", str(tiny_activations[0]), "--per-phase", "3",
                     "--min-empties", "10", "--max-empties", "14", "--sims", "4", "--workers", "1",
                     "--out", str(tmp_path), "--no-progress"])


@pytest.mark.parametrize("flags, message", [(["--depths", "4,x"], "--depths takes comma-separated depths"),
                                            (["--depths", "0"], "at least one depth of 1 or more"),
                                            (["--min-empties", "20", "--max-empties", "12"], "need 0 < --min-empties"),
                                            (["--per-phase", "0"], "--per-phase must be at least 1")])
def test_bad_flags_say_what_to_change(flags, message, capsys):
    from vis import superhuman as script

    with pytest.raises(SystemExit) as exit_info:
        script.main(flags)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_solving_and_playing_gives_the_same_answer_on_any_number_of_workers():
    from othello.bitboard import bitboard_rules
    from vis import superhuman as script

    positions = [p for p in load_solved_positions() if (p.board == 0).sum() == 12][:6]
    mine, theirs = bitboard_rules(6).from_boards(np.stack([p.board for p in positions]))
    runs = [script.solve_and_play_all(mine, theirs, script.SuperhumanConfig(depths="2,3", workers=w, progress=False))
            for w in (1, 2)]
    (outcomes, moves), (outcomes_2, moves_2) = runs
    np.testing.assert_array_equal(outcomes, outcomes_2)
    assert list(moves) == ["greedy", "alphabeta2", "alphabeta3"]
    assert all((moves[name] == moves_2[name]).all() for name in moves)
    expected = move_values_table([{a: np.sign(v) for a, v in p.values.items()} for p in positions], 37)
    np.testing.assert_array_equal(outcomes, expected)
