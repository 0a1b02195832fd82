"""train_sae.py end to end on a tiny activation set: records, exports, plots, resume, errors."""
import json
import os
import shutil

import numpy as np
import pytest
import torch

import train_sae
from othello.OthelloPlayers import PREVIOUS_BEST
from sae.activations import load_activations
from sae.export import load_saelens
from sae.metrics import reconstruction_metrics
from tests.conftest import REPO

RECORD_KEYS = {"architecture", "l1_penalty", "k", "l0_penalty", "centre", "n_features", "layer", "steps", "batch_size", "lr", "train_seconds",
               "l0", "fve", "mse", "dead_fraction", "dense_fraction", "shrinkage", "policy_kl", "top1_agreement",
               "value_mse", "fraction_recovered", "coverage", "reconstruction_mine", "reconstruction_theirs",
               "reconstruction_legal", "reconstruction_threshold_mine", "reconstruction_recall_mine",
               "reconstruction_precision_legal", "labelled_features", "auroc",
               "explained_features", "probe_cosine", "coverage_flipped", "coverage_best_move"}


# Every architecture of the matched-sparsity sweep, at the narrower width.
ARCH_SWEEP = ("--architectures", "topk,batchtopk,matryoshka,jumprelu,panneal", "--ks", "4", "--jumprelu-penalties",
              "0.1", "--panneal-penalties", "0.5", "--arch-widths", "32")


def run(activations, out, *extra):
    train_sae.main(["--activations", str(activations), "--profile", "quick", "--steps", "30", "--batch-size", "64",
                    "--l1-penalties", "1,3", "--n-features", "32,64", "--architectures", "", "--out-dir", str(out),
                    "--no-progress", *extra])


@pytest.fixture(scope="module")
def sweep(tiny_activations, tmp_path_factory):
    out = tmp_path_factory.mktemp("saes")
    # Width 64 trains one SAE at a time, width 32 as a group: both paths run.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
        run(tiny_activations[0], out, *ARCH_SWEEP)
    return out, json.loads((out / "scaling.json").read_text())


def test_every_sae_has_a_record_with_every_metric(sweep):
    _, scaling = sweep
    names = [r["name"] for r in scaling["records"]]
    assert sorted(names) == sorted(["l1_lambda1_f32", "l1_lambda3_f32", "l1_lambda1_f64", "l1_lambda3_f64",
                                    "topk_k4_f32", "batchtopk_k4_f32", "matryoshka_k4_f32", "jumprelu_lambda0.1_f32",
                                    "panneal_lambda0.5_f32"])
    for record in scaling["records"]:
        assert RECORD_KEYS <= set(record)
        assert 0 <= record["dead_fraction"] <= 1 and 0 <= record["top1_agreement"] <= 1
    assert len(scaling["checkpoint_sha256"]) == 64 and scaling["train_config"]["steps"] == 30
    assert scaling["config"]["checkpoint"] == "othello/pretrained/best.pth.tar"  # no path of this machine
    baselines = scaling["concept_baselines"]
    assert set(baselines) == {"neurons", "pca", "random_network_sae", "linear_probes"}
    assert all(0 <= b["coverage"] <= 1 and 0 <= b["auroc"] <= 1 for b in baselines.values())
    # Linear probes read whose discs are where off the trained stream, better than any one neuron.
    assert baselines["linear_probes"]["coverage_mine"] > max(0.7, baselines["neurons"]["coverage_mine"])
    by_name = {r["name"]: r for r in scaling["records"]}
    assert by_name["topk_k4_f32"]["l0"] <= 4 and by_name["topk_k4_f32"]["k"] == 4
    assert by_name["jumprelu_lambda0.1_f32"]["l0_penalty"] == 0.1 and by_name["batchtopk_k4_f32"]["centre"]
    assert by_name["panneal_lambda0.5_f32"]["l1_penalty"] == 0.5 and by_name["panneal_lambda0.5_f32"]["final_lambda"] > 0


def test_exports_reproduce_the_recorded_metrics(sweep, tiny_activations):
    out, scaling = sweep
    heldout = torch.from_numpy(np.array(load_activations(tiny_activations[0], "heldout", ["resid_2"])["resid_2"]))
    for record in scaling["records"]:
        sae = load_saelens(out / record["name"])  # raw-space weights, the scale folded in
        metrics = reconstruction_metrics(sae, heldout)
        assert metrics["fve"] == pytest.approx(record["fve"], abs=1e-4)
        assert metrics["l0"] == pytest.approx(record["l0"], abs=1e-3)


def test_plots_are_written(sweep):
    out, _ = sweep
    for name in ("scaling.png", "mse_vs_l0.png", "concepts.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_finished_saes(sweep, tiny_activations, monkeypatch):
    out, scaling = sweep

    def no_training(*args, **kwargs):
        raise AssertionError("a finished SAE was trained again")

    monkeypatch.setattr(train_sae, "train_saes", no_training)
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
    run(tiny_activations[0], out, *ARCH_SWEEP)
    again = json.loads((out / "scaling.json").read_text())
    assert again["records"] == scaling["records"]


def test_a_rerun_adds_missing_concept_metrics_without_training(sweep, tiny_activations, monkeypatch):
    out, scaling = sweep
    path = out / "l1_lambda1_f64" / "record.json"
    record = json.loads(path.read_text())
    older = {k: v for k, v in record.items()
             if k not in ("coverage", "auroc", "reconstruction_threshold_mine", "reconstruction_recall_mine")}
    path.write_text(json.dumps({**older, "reconstruction_mine": 0.0}))  # and by the old board rule

    def no_training(*args, **kwargs):
        raise AssertionError("a finished SAE was trained again")

    monkeypatch.setattr(train_sae, "train_saes", no_training)
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
    run(tiny_activations[0], out, *ARCH_SWEEP)
    updated = json.loads(path.read_text())
    assert json.loads((path.parent / "cfg.json").read_text())["metadata"]["record"] == updated  # both say the same
    assert updated["coverage"] == pytest.approx(record["coverage"], abs=1e-5)
    assert updated["auroc"] == pytest.approx(record["auroc"], abs=1e-5)
    assert updated["reconstruction_mine"] == pytest.approx(record["reconstruction_mine"], abs=1e-5)


def test_a_rerun_trains_again_only_the_saes_whose_files_were_damaged(sweep, tiny_activations, monkeypatch, capsys):
    out, scaling = sweep
    weights = out / "l1_lambda3_f64" / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])
    (out / "l1_lambda1_f32" / "record.json").write_text("{not json")
    trained = []
    real_train_saes = train_sae.train_saes

    def recording(saes, *args, **kwargs):
        trained.extend(sae.config.n_features for sae in saes)
        return real_train_saes(saes, *args, **kwargs)

    monkeypatch.setattr(train_sae, "train_saes", recording)
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
    run(tiny_activations[0], out, *ARCH_SWEEP)
    said = capsys.readouterr()
    assert "training l1_lambda3_f64 again: " in said.out + said.err and "cannot read sae_weights" in said.out + said.err
    assert "training l1_lambda1_f32 again: its record.json is corrupt" in said.out + said.err
    assert sorted(trained) == [32, 64]  # the two damaged ones, nothing else
    load_saelens(out / "l1_lambda3_f64")  # readable again
    again = {r["name"]: r for r in json.loads((out / "scaling.json").read_text())["records"]}
    for record in scaling["records"]:  # the same seeds and data: the same SAEs
        assert again[record["name"]]["fve"] == pytest.approx(record["fve"], abs=1e-4)


def test_activations_collected_again_with_other_settings_train_again(tiny_activations, tmp_path, monkeypatch):
    folder = tmp_path / "activations"
    shutil.copytree(tiny_activations[0], folder)
    run(folder, tmp_path / "saes", "--n-features", "32", "--l1-penalties", "1")
    trained = []
    monkeypatch.setattr(train_sae, "train_saes", lambda saes, *a, **k: trained.append(len(saes)) or
                        [{"train_seconds": 0.0, "activations_per_s": 0.0} for _ in saes])
    run(folder, tmp_path / "saes", "--n-features", "32", "--l1-penalties", "1", "--threads", "1")
    assert trained == []  # same folder, same settings: nothing to train
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["checkpoint"] = os.path.relpath(manifest["config"]["checkpoint"], tmp_path)  # the same model
    (folder / "manifest.json").write_text(json.dumps(manifest))
    run(folder, tmp_path / "saes", "--n-features", "32", "--l1-penalties", "1")
    assert trained == []  # the model is named by its hash, not by the path it was read through
    manifest["config"]["opening_plies"] += 2  # the same sizes, other games
    (folder / "manifest.json").write_text(json.dumps(manifest))
    run(folder, tmp_path / "saes", "--n-features", "32", "--l1-penalties", "1")
    assert trained == [1]  # other collection settings: trained again


def test_the_profile_gives_wide_saes_their_own_steps_and_steps_overrides_them(tiny_activations, tmp_path, monkeypatch):
    monkeypatch.setattr(train_sae, "GROUP_MAX_FEATURES", 32)
    monkeypatch.setitem(train_sae.PROFILES, "quick", {**train_sae.PROFILES["quick"], "steps": 12, "wide_steps": 6,
                                                      "wide_l1_steps": 3})
    flags = ["--activations", str(tiny_activations[0]), "--profile", "quick", "--batch-size", "64",
             "--l1-penalties", "1", "--n-features", "32,64", "--architectures", "topk", "--ks", "4",
             "--arch-widths", "64", "--no-progress"]
    train_sae.main([*flags, "--out-dir", str(tmp_path / "profile")])
    steps = {r["name"]: r["steps"] for r in json.loads((tmp_path / "profile" / "scaling.json").read_text())["records"]}
    assert steps == {"l1_lambda1_f32": 12, "l1_lambda1_f64": 3, "topk_k4_f64": 6}
    train_sae.main([*flags, "--out-dir", str(tmp_path / "fixed"), "--steps", "9"])
    steps = {r["name"]: r["steps"] for r in json.loads((tmp_path / "fixed" / "scaling.json").read_text())["records"]}
    assert set(steps.values()) == {9}


def test_the_kl_coefficient_trains_with_the_network_and_is_part_of_what_resume_checks(tiny_activations, tmp_path,
                                                                                       monkeypatch):
    seen = []
    original = train_sae.Splice.kl

    def kl(splice, x, x_hat, index):
        assert splice.legal[index].any(dim=1).all()  # every training position's legal moves
        seen.append(len(x))
        return original(splice, x, x_hat, index)

    monkeypatch.setattr(train_sae.Splice, "kl", kl)
    flags = ["--l1-penalties", "1", "--n-features", "32"]
    run(tiny_activations[0], tmp_path, *flags, "--kl-coefficient", "5")
    (record,) = json.loads((tmp_path / "scaling.json").read_text())["records"]
    assert seen == [64] * 30 and record["final_kl"] > 0
    folder = tmp_path / "l1_lambda1_f32"
    saved = json.loads((folder / "record.json").read_text())
    assert saved["train_config"]["kl_coefficient"] == 5
    # Without the KL term it is another SAE: resume would train it again.
    without = {k: saved[k] for k in train_sae.RUN_KEYS} | {"train_config": {
        k: v for k, v in saved["train_config"].items() if k != "kl_coefficient"}}
    assert train_sae.finished_record(folder, without) is None
    assert train_sae.finished_record(folder, {k: saved[k] for k in train_sae.RUN_KEYS}) == saved


def test_activations_of_another_model_are_refused(tiny_activations, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        run(tiny_activations[0], tmp_path, "--checkpoint", str(PREVIOUS_BEST))
    assert "another model" in str(exit.value)


def test_missing_activations_name_the_command(tmp_path):
    with pytest.raises(SystemExit) as exit:
        run(tmp_path / "none", tmp_path)
    assert "collect_activations.py" in str(exit.value)


@pytest.mark.parametrize("flags, message", [(["--profile", "huge"], "--profile must be one of"),
                                            (["--n-features", "a,b"], "comma-separated numbers"),
                                            (["--ks", "300", "--architectures", "topk", "--arch-widths", "256"], "at most every --arch-widths"),
                                            (["--architectures", "gated"], "--architectures takes"),
                                            (["--steps", "-1"], "--steps must be at least 0"),
                                            (["--max-activations", "-2"], "--max-activations must be at least -1"),
                                            (["--kl-coefficient", "-1"], "--kl-coefficient must be 0 or more"),
                                            (["--kl-coefficient", "1", "--ray"], "drop --ray or the KL term"),
                                            (["--kl-from", "1"], "--kl-from is a share of the steps")])
def test_bad_flags_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        train_sae.main(flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err


SHIPPED_SAES = sorted(path.name for path in (REPO / "sae" / "pretrained").iterdir() if path.is_dir())


def test_the_shipped_bundle_is_the_best_two_and_an_l1_sae():
    assert SHIPPED_SAES == ["batchtopk_k40_f1024", "l1_lambda3_f1024", "matryoshka_k40_f1024"]


@pytest.mark.parametrize("name", SHIPPED_SAES)
def test_shipped_saes_reconstruct_the_shipped_model(name, tiny_activations):
    """Each shipped SAE is one of the sweep's (scaling.json) or of the longer run that trained
    the best ones (sae/pretrained/scaling.json), as its record says."""
    folder = REPO / "sae" / "pretrained" / name
    record = json.loads((folder / "record.json").read_text())
    runs = [json.loads(path.read_text()) for path in (REPO / "scaling.json", REPO / "sae" / "pretrained" / "scaling.json")]
    (scaling,) = [run for run in runs if {k: v for k, v in record.items() if k not in train_sae.RUN_KEYS} in run["records"]]
    assert record["checkpoint_sha256"] == scaling["checkpoint_sha256"] == runs[0]["checkpoint_sha256"]
    heldout = torch.from_numpy(np.array(load_activations(tiny_activations[0], "heldout", ["resid_2"])["resid_2"]))
    metrics = reconstruction_metrics(load_saelens(folder), heldout)
    assert metrics["fve"] > record["fve"] - 0.15  # fresh positions, a few hundred of them
    assert metrics["l0"] == pytest.approx(record["l0"], rel=0.5)
