"""SAELens export: our loader and (where installed) sae_lens itself reproduce the SAE on raw
activations; broken folders give clear errors."""
import json
import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from sae.export import CONFIG_FILE, WEIGHTS_FILE, export_saelens, load_saelens
from sae.model import ARCHITECTURES, THRESHOLD_ENCODERS, SAEConfig, SparseAutoencoder

SAELENS_NAMES = {"l1": "standard", "topk": "topk", "batchtopk": "jumprelu", "matryoshka": "jumprelu",
                 "jumprelu": "jumprelu", "panneal": "standard"}
TOL = dict(rtol=1e-5, atol=1e-4)  # float32 rounding of the folded scale; outputs reach ~100


def random_sae(architecture, seed=0, centre=False):
    """d_in 16, 32 features, random weights, nonzero biases and a non-1 input scale. b_enc leans
    negative so that some TopK rows have negative top-k pre-activations (which ReLU zeroes);
    thresholds are positive and, for jumprelu, different per latent."""
    torch.manual_seed(seed)
    sae = SparseAutoencoder(SAEConfig(d_in=16, n_features=32, architecture=architecture, k=8, centre=centre))
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p))
        sae.b_enc.sub_(2.0)
        sae.input_scale.fill_(0.37)
        if architecture in ("batchtopk", "matryoshka"):
            sae.global_threshold.fill_(1.5)
    return sae


def raw_inputs(n=256, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 16, generator=g) * 3 + 1  # raw scale, far from unit norm


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_round_trip_on_raw_activations(tmp_path, architecture, centre):
    sae, x = random_sae(architecture, centre=centre), raw_inputs()
    export_saelens(sae, tmp_path / "export")
    loaded = load_saelens(tmp_path / "export")
    assert loaded.config.architecture == architecture and loaded.input_scale.item() == 1.0
    assert loaded.config.centre == centre and loaded.config.k == 8
    with torch.no_grad():
        f = sae.encode(x)
        torch.testing.assert_close(loaded.encode(x), f, **TOL)
        torch.testing.assert_close(loaded.decode(f), sae.decode(f), **TOL)
        torch.testing.assert_close(loaded(x).x_hat, sae(x).x_hat, **TOL)
    assert (f > 0).any(dim=1).all() and (f == 0).any()
    if architecture == "topk":
        active = (f > 0).sum(dim=1)
        assert active.max() == 8 and active.min() < 8  # ReLU after TopK is exercised
    if architecture in THRESHOLD_ENCODERS:  # the threshold is exercised: some positive pre-activations stay out
        pre = sae.pre_activations(x)
        assert ((pre > 0) & (f == 0)).any()


def test_a_foreign_jumprelu_export_with_thresholds_per_latent_loads_as_jumprelu(tmp_path):
    sae, x = random_sae("batchtopk"), raw_inputs()
    folder = export_saelens(sae, tmp_path / "export")
    weights = {**load_file(str(folder / WEIGHTS_FILE)), "threshold": torch.linspace(0.5, 2.0, 32)}
    save_file(weights, str(folder / WEIGHTS_FILE))
    loaded = load_saelens(folder)
    assert loaded.config.architecture == "jumprelu"
    torch.testing.assert_close(loaded.threshold, weights["threshold"])


def test_cfg_json(tmp_path):
    sae = random_sae("topk")
    folder = export_saelens(sae, tmp_path / "export", metadata={"layer": 3, "steps": 100, "fve": 0.9})
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no .tmp left
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    assert cfg["metadata"]["architecture"] == "topk"
    assert cfg | {"metadata": None} == {
        "architecture": "topk", "d_in": 16, "d_sae": 32, "k": 8, "rescale_acts_by_decoder_norm": False,
        "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": False,
        "normalize_activations": "none", "reshape_activations": "none", "metadata": None,
    }
    meta = cfg["metadata"]
    assert int(meta["sae_lens_version"].split(".")[0]) >= 6
    assert meta["model_name"] == "othello-alphazero-6x6"
    assert meta["hook_name"] == "blocks.3.hook_resid_post"
    assert meta["steps"] == 100 and meta["fve"] == 0.9
    assert meta["folded_input_scale"] == pytest.approx(0.37)

    l1 = json.loads((export_saelens(random_sae("l1"), tmp_path / "l1") / CONFIG_FILE).read_text())
    assert l1["architecture"] == "standard" and "k" not in l1
    assert l1["metadata"]["hook_name"] == "blocks.2.hook_resid_post"


def test_export_overwrites(tmp_path):
    export_saelens(random_sae("l1", seed=0), tmp_path)
    second = random_sae("topk", seed=1)
    export_saelens(second, tmp_path)
    x = raw_inputs()
    with torch.no_grad():
        torch.testing.assert_close(load_saelens(tmp_path).encode(x), second.encode(x), **TOL)


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sae_lens_loads_the_export(tmp_path, architecture, centre):
    sae_lens = pytest.importorskip("sae_lens")
    sae, x = random_sae(architecture, centre=centre), raw_inputs()
    export_saelens(sae, tmp_path / "export", metadata={"steps": 100})
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path / "export"))
    assert theirs.cfg.architecture() == SAELENS_NAMES[architecture]
    assert theirs.cfg.metadata.hook_name == "blocks.2.hook_resid_post"
    assert theirs.cfg.metadata.steps == 100
    with torch.no_grad():
        f = sae.encode(x)
        torch.testing.assert_close(theirs.encode(x), f, **TOL)
        torch.testing.assert_close(theirs.decode(f), sae.decode(f), **TOL)
        torch.testing.assert_close(theirs(x), sae(x).x_hat, **TOL)


def exported(tmp_path):
    return export_saelens(random_sae("topk"), tmp_path / "export")


def edit_cfg(folder, **changes):
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps(cfg | changes))


def test_missing_files(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "nowhere")) + ".*missing cfg.json"):
        load_saelens(tmp_path / "nowhere")
    folder = exported(tmp_path)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(ValueError, match="missing sae_weights.safetensors"):
        load_saelens(folder)


def test_corrupt_files(tmp_path):
    folder = exported(tmp_path)
    (folder / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=re.escape(str(folder)) + ".*cannot read sae_weights.safetensors"):
        load_saelens(folder)
    (folder / CONFIG_FILE).write_text("{truncated")
    with pytest.raises(ValueError, match="cfg.json is not JSON"):
        load_saelens(folder)


def test_wrong_keys_and_shapes(tmp_path):
    folder = exported(tmp_path)
    edit_cfg(folder, d_in=17)
    with pytest.raises(ValueError, match=r"W_enc has shape \(16, 32\), cfg.json implies \(17, 32\)"):
        load_saelens(folder)
    edit_cfg(folder, d_in=16)
    load_saelens(folder)
    save_file({"W_enc": torch.zeros(16, 32), "b_enc": torch.zeros(32)}, str(folder / WEIGHTS_FILE))
    with pytest.raises(ValueError, match="holds \\['W_enc', 'b_enc'\\]"):
        load_saelens(folder)


def test_unsupported_configs(tmp_path):
    folder = exported(tmp_path)
    edit_cfg(folder, architecture="gated")
    with pytest.raises(ValueError, match="unknown architecture 'gated'"):
        load_saelens(folder)
    edit_cfg(folder, architecture="jumprelu")
    with pytest.raises(ValueError, match="expected \\['W_dec', 'W_enc', 'b_dec', 'b_enc', 'threshold'\\]"):
        load_saelens(folder)  # a jumprelu export needs its thresholds
    edit_cfg(folder, architecture="topk", normalize_activations="expected_average_only_in")
    with pytest.raises(ValueError, match="normalize_activations is 'expected_average_only_in'"):
        load_saelens(folder)
    edit_cfg(folder, normalize_activations="none", k=0)
    with pytest.raises(ValueError, match="k must be in 1..n_features"):
        load_saelens(folder)
