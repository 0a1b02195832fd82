"""vis/generate_vis_data.py on a tiny SAE: every number the viewer shows, recomputed."""
import json

import numpy as np
import pytest
import torch

from NetworkWrapper import NetworkWrapper
from othello.bitboard import bitboard_rules
from othello.OthelloPlayers import SHIPPED_MODEL, search_best_moves
from sae.activations import load_activations
from sae.export import export_saelens, load_saelens
from sae.model import SAEConfig, SparseAutoencoder
from tests.conftest import REPO
from vis import generate_vis_data

RULES = bitboard_rules(6)


@pytest.fixture(scope="module")
def vis_data(tiny_activations, tmp_path_factory):
    """A random SAE over the tiny activations, exported and turned into viewer data."""
    root = tmp_path_factory.mktemp("vis")
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(n_features=48))
    sae.b_enc.data[:4] = -1e3  # dead features
    x = torch.from_numpy(np.array(load_activations(tiny_activations[0], "train", ["resid_2"])["resid_2"]))
    sae.set_input_scale(x)
    export_saelens(sae, root / "tiny_sae", {"record": {}})
    (root / "tiny_sae" / "record.json").write_text(json.dumps({"architecture": "l1", "l1_penalty": 3.0,
                                                               "n_features": 48, "fve": 0.5}))
    generate_vis_data.main(["--saes", str(root / "tiny_sae"), "--activations", str(tiny_activations[0]),
                            "--out", str(root / "data"), "--top", "6", "--random", "6", "--no-progress"])
    heldout = load_activations(tiny_activations[0], "heldout", ["resid_2", "boards"])
    data = json.loads((root / "data" / "tiny_sae.json").read_text())
    index = json.loads((root / "data" / "index.json").read_text())
    with torch.no_grad():
        features = load_saelens(root / "tiny_sae").encode(torch.from_numpy(np.array(heldout["resid_2"])))
    return data, index, features, np.array(heldout["boards"]), load_saelens(root / "tiny_sae"), root / "data"


def test_index_lists_the_sae_with_its_metrics(vis_data):
    data, index, *_ = vis_data
    (entry,) = index["saes"]
    assert entry["file"] == "tiny_sae.json" and entry["n_features"] == 48 and entry["fve"] == 0.5
    assert entry["alive_features"] == sum(f["frequency"] > 0 for f in data["features"])


def test_frequencies_examples_and_histograms_match_the_activations(vis_data):
    data, _, features, boards, *_ = vis_data
    assert len(data["features"]) == 48 and data["features"][0] == {"id": 0, "frequency": 0}
    for feature in data["features"]:
        column = features[:, feature["id"]]
        firing = int((column > 0).sum())
        assert feature["frequency"] == pytest.approx(firing / len(column), abs=1e-6)
        if not firing:
            continue
        tops = [activation for _, activation in feature["top"]]
        expected = column.sort(descending=True).values[:min(6, firing)]
        np.testing.assert_allclose(tops, expected.numpy(), atol=2e-3)
        assert sum(feature["histogram"]) == firing
        assert len(feature["random"]) == min(6, firing)
        for board_index, activation in feature["top"] + feature["random"] + sum(feature["bands"], []):
            assert activation > 0
            text = data["boards"][board_index]
            assert len(text) == 36 and set(text) <= set("xo*.")


def test_boards_are_stored_once_with_legal_and_last_moves(vis_data):
    data, *_ = vis_data
    assert len(set(data["boards"])) == len(data["boards"])
    for text in data["boards"]:
        board = np.array([{"x": 1, "o": -1}.get(c, 0) for c in text])
        legal = RULES.action_mask(*RULES.from_boards(board[None]))[0]
        assert [c == "*" for c in text] == list(legal[:36] > 0)
    assert len(data["last_moves"]) == len(data["boards"])
    for text, last in zip(data["boards"], data["last_moves"]):
        assert last == -1 or last == 36 or text[last] == "o"  # the opponent's disc just placed
    referenced = {b for f in data["features"] if f["frequency"]
                  for b, _ in f["top"] + f["random"] + sum(f["bands"], [])}
    assert referenced == set(range(len(data["boards"])))  # only boards that are used


def test_heat_maps_are_differences_of_distributions(vis_data):
    data, _, features, boards, *_ = vis_data
    feature = next(f for f in data["features"] if f["frequency"] > 0.1)
    heat = feature["heat"]
    np.testing.assert_allclose(np.add(np.add(heat["mine"], heat["theirs"]), heat["empty"]), 0, atol=0.01)
    fires = (features[:, feature["id"]] > 0).numpy()
    expected_mine = (boards[fires] == 1).mean(axis=0) - (boards == 1).mean(axis=0)
    np.testing.assert_allclose(heat["mine"], expected_mine, atol=2e-3)


def test_move_and_value_effects_are_the_direct_path(vis_data):
    data, _, _, _, sae, _ = vis_data
    net = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu").net
    feature = next(f for f in data["features"] if f["frequency"] > 0)
    direction = sae.W_dec[feature["id"]].detach()
    logits = (net.policy_head.weight @ direction).detach()
    assert feature["promotes"][0][0] == int(logits.argmax())
    assert feature["suppresses"][0][0] == int(logits.argmin())
    assert feature["value"] == pytest.approx(float(net.value_head.weight[0].detach() @ direction), abs=1e-3)


def test_missing_saes_are_explained(tmp_path):
    with pytest.raises(SystemExit) as exit:
        generate_vis_data.main(["--sae-dir", str(tmp_path), "--out", str(tmp_path / "data"), "--no-progress"])
    assert "train_sae.py" in str(exit.value)


@pytest.mark.parametrize("flag, message", [("--top=0", "--top must be at least 1"),
                                           ("--bins=0", "--bins must be at least 1"),
                                           ("--random=-1", "--random must be at least 0")])
def test_nonsense_counts_are_usage_errors(flag, message, capsys):
    with pytest.raises(SystemExit) as exit:
        generate_vis_data.main([flag])
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_the_closing_hint_says_how_to_browse_the_export(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    assert generate_vis_data.viewer_hint("vis/data").startswith("open the viewer: cd vis && python -m http.server")
    elsewhere = generate_vis_data.viewer_hint(tmp_path / "data")
    assert "http.server" not in elsewhere and f"with {tmp_path / 'data'} as its data/ folder" in elsewhere


def test_shipped_bundle_lists_what_it_holds():
    data_dir = REPO / "vis" / "data"
    index = json.loads((data_dir / "index.json").read_text())
    assert [entry["name"] for entry in index["saes"]] == ["batchtopk_k40_f1024", "matryoshka_k40_f1024", "l1_lambda3_f1024"]
    for entry in index["saes"]:
        data = json.loads((data_dir / entry["file"]).read_text())
        assert len(data["features"]) == entry["n_features"] == data["sae"]["n_features"]
        assert (REPO / "sae" / "pretrained" / entry["name"] / "cfg.json").is_file()  # the SAE it shows ships too


def test_best_concepts_are_scored_on_the_scanned_positions(vis_data, tiny_activations):
    from othello.concepts import concept_matrix, quantile_cuts, scalar_values
    from sae.concepts import threshold_scores

    data, _, features, boards, *_ = vis_data
    heldout = load_activations(tiny_activations[0], "heldout", ["last_move", "flipped", "value"])
    mine, theirs = RULES.from_boards(boards)
    network = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu")
    names, concepts = concept_matrix(RULES, mine, theirs, np.array(heldout["last_move"]),
                                     quantile_cuts(scalar_values(RULES, mine, theirs)),
                                     flipped=np.array(heldout["flipped"]), value=np.array(heldout["value"]),
                                     best_move=search_best_moves(network, RULES, mine, theirs, 64))
    feature = max((f for f in data["features"] if f["frequency"]), key=lambda f: f["concepts"][0][1])
    name, f1, precision, recall, threshold = feature["concepts"][0]
    scores = threshold_scores(features.numpy()[:, [feature["id"]]], concepts[:, [names.index(name)]])
    assert f1 == pytest.approx(scores["f1"].max(), abs=2e-3)
    assert all(label in names for f in data["features"] if f["frequency"] for label in f["labels"])


def test_intervention_effects_and_unexplained_features(vis_data):
    data, *_ = vis_data
    live = [f for f in data["features"] if f["frequency"]]
    for feature in live:
        for name in ("ablate", "steer"):
            top_changed, kl, value, move = feature[name]
            assert 0 <= top_changed <= 1 and kl >= 0 and -2 <= value <= 2 and 0 <= move <= 36
    unlabelled = {f["id"] for f in live if not f["labels"]}
    for kind in ("frequent", "policy_relevant"):
        assert set(data["unexplained"][kind]) <= unlabelled
        assert len(data["unexplained"][kind]) == min(12, len(unlabelled))
    by_id = {f["id"]: f for f in live}
    kls = [by_id[i]["ablate"][1] for i in data["unexplained"]["policy_relevant"]]
    assert kls == sorted(kls, reverse=True)


def read_tensors(folder, entry):
    flat = np.fromfile(folder / entry["file"], dtype="<" + {"float32": "f4", "float16": "f2"}[entry["dtype"]])
    return {name: flat[offset:offset + int(np.prod(shape))].reshape(shape).astype(np.float64)
            for name, (offset, shape) in entry["tensors"].items()}


def test_explorer_weights_reproduce_the_network_and_the_sae(vis_data, tiny_activations):
    """The page's forward pass, in numpy, from the exported files alone."""
    *_, sae, data_dir = vis_data
    explorer = json.loads((data_dir / "index.json").read_text())["explorer"]
    w = read_tensors(data_dir, explorer["network"])
    boards = np.array(load_activations(tiny_activations[0], "heldout", ["boards"])["boards"][:50], np.float64)
    x = np.maximum(boards @ w["embed.weight"].T + w["embed.bias"], 0)
    for k in range(explorer["network"]["depth"]):
        x = x + np.maximum(x @ w[f"blocks.{k}.weight"].T + w[f"blocks.{k}.bias"], 0)
        if k == explorer["layer"]:
            stream = x
    logits = x @ w["policy.weight"].T + w["policy.bias"]
    value = np.tanh(x @ w["value.weight"].T + w["value.bias"])[:, 0]
    network = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu").net.eval()
    with torch.no_grad():
        log_pi, expected_value = network(torch.from_numpy(boards).float())
        expected_stream = network.residual_stream(torch.from_numpy(boards).float(), explorer["layer"])
    np.testing.assert_allclose(logits - logits.max(axis=1, keepdims=True),
                               (log_pi - log_pi.max(dim=1, keepdim=True).values).numpy(), atol=1e-3)
    np.testing.assert_allclose(value, expected_value.numpy(), atol=1e-4)
    s = read_tensors(data_dir, explorer["saes"]["tiny_sae"])
    features = np.maximum(stream @ s["encoder"].T + s["encoder_bias"], 0)
    with torch.no_grad():
        expected = sae.encode(expected_stream).numpy()
    np.testing.assert_allclose(features, expected, atol=0.02 * expected.max())  # float16 weights


def test_report_pictures_the_chosen_features_and_tabulates_the_sweep(vis_data, tmp_path):
    from vis import report

    data, *_, data_dir = vis_data
    record = {"name": "tiny_sae", "n_features": 48, "l1_penalty": 3.0, "l0": 12.5, "coverage": 0.25, "auroc": 0.7,
              "reconstruction_mine": 0.5, "reconstruction_theirs": 0.4, "reconstruction_legal": 0.3,
              "reconstruction_recall_mine": 0.35, "explained_features": 7, "probe_cosine": 0.2}
    scaling = tmp_path / "scaling.json"
    scaling.write_text(json.dumps({"records": [record], "concept_baselines": {"neurons": {"coverage": 0.1}}}))
    text = report.report(report.ReportConfig(scaling=str(scaling), data=str(data_dir), out=str(tmp_path / "pictures"),
                                             surprising=2))
    assert "| tiny_sae | 12.5 | 0.250 | 0.700 | 0.500 | 0.400 | 0.300 | 0.350 | 7 | 0.200 |" in text
    assert "| *neurons* | - | 0.100 |" in text
    assert len(data["probes"]) == len({name for name, _, _ in data["probes"]}) > 300  # one per concept
    assert all(0 <= feature < 48 and -1 <= cosine <= 1 for _, feature, cosine in data["probes"])
    assert "| legal | 36 |" in text
    clearest, surprising = report.pick_features(data, 6, 2)
    assert surprising == [f for i in data["unexplained"]["policy_relevant"][:2] for f in data["features"] if f["id"] == i]
    assert clearest + surprising
    kinds = [report.concept_kind(f["concepts"][0][0]) for f in clearest]
    assert len(kinds) == len(set(kinds))  # one feature per kind of concept
    for feature in clearest + surprising:
        assert f"**Feature {feature['id']}**" in text
        assert (tmp_path / "pictures" / f"tiny_sae_{feature['id']}.png").read_bytes()[:4] == b"\x89PNG"


def test_report_names_a_missing_or_corrupt_input_and_what_makes_it(vis_data, tmp_path):
    from vis import report

    *_, data_dir = vis_data
    missing = report.ReportConfig(scaling=str(tmp_path / "none.json"), data=str(data_dir), out=str(tmp_path))
    with pytest.raises(ValueError, match="none.json not found; it is the sweep's records: run `python train_sae.py`"):
        report.report(missing)
    corrupt = tmp_path / "scaling.json"
    corrupt.write_text('{"records": [')
    with pytest.raises(ValueError, match="scaling.json is corrupt .*train_sae.py"):
        report.report(report.ReportConfig(scaling=str(corrupt), data=str(data_dir), out=str(tmp_path)))
    corrupt.write_text('{"records": []}')
    with pytest.raises(ValueError, match="index.json not found; .*generate_vis_data.py"):
        report.report(report.ReportConfig(scaling=str(corrupt), data=str(tmp_path), out=str(tmp_path)))


@pytest.mark.parametrize("architecture", ["batchtopk", "jumprelu"])
def test_explorer_tensors_give_a_centred_threshold_encoder_its_encoding(architecture, tmp_path):
    from vis.weights import sae_tensors

    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=16, n_features=24, architecture=architecture, k=4, centre=True))
    x = torch.randn(200, 16) * 2 + 1
    with torch.no_grad():
        sae.set_input_scale(x)
        sae.b_dec.add_(torch.randn(16))
        pre = sae.pre_activations(x)
        if architecture == "jumprelu":
            sae.log_threshold.copy_(pre.quantile(0.8, dim=0).clamp_min(1e-3).log())
        else:
            sae.global_threshold.fill_(pre.quantile(0.8).item())
        expected = sae.encode(x).numpy()
        exported = load_saelens(export_saelens(sae, tmp_path / "sae"))  # as vis/weights.py reads it
        s = {name: t.numpy() for name, t in sae_tensors(exported).items()}
    page_pre = x.numpy() @ s["encoder"].T + s["encoder_bias"]  # what explorer.js computes
    features = np.maximum(np.where(page_pre > s["threshold"], page_pre, 0), 0)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)
    assert 0 < (expected > 0).mean() < 1
