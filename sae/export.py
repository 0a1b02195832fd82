"""Export an SAE in SAELens's on-disk format (sae-lens >= 6), and read such an export back.

A folder holds two files:
    sae_weights.safetensors   W_enc (d_in, d_sae), b_enc (d_sae), W_dec (d_sae, d_in), b_dec (d_in),
                              [threshold (d_sae),] float32
    cfg.json                  {"architecture": "standard" | "topk" | "jumprelu", "d_in", "d_sae", ["k",
                               "rescale_acts_by_decoder_norm": false,] "dtype": "float32", "device": "cpu",
                               "apply_b_dec_to_input": centred?, "normalize_activations": "none",
                               "reshape_activations": "none", "metadata": {...}}
SAELens's "standard" SAE is ReLU(x W_enc + b_enc) (our 'l1' and 'panneal'); its "topk" keeps the k largest
pre-activations and applies ReLU to them, as ours does; its "jumprelu" is pre * (pre > threshold)
with a threshold per latent, which is the inference rule of our jumprelu and, with one threshold
for all latents, of batchtopk and matryoshka (SAELens saves its own BatchTopK SAEs the same way).
`SAE.load_from_disk(folder)` loads it; metadata["architecture"] names ours, so that
`load_saelens` gives back the architecture that was trained.

The weights work on RAW activations: our input scale s is folded in, since
    (s x - b_dec) W_enc + b_enc = (x - b_dec / s)(s W_enc) + b_enc  and  (f W_dec + b_dec) / s = f (W_dec / s) + b_dec / s,
and the thresholds, which compare pre-activations, are unchanged. A centred SAE subtracts b_dec
from its input, which is SAELens's apply_b_dec_to_input. The folded unit-norm decoder rows are
no longer unit norm, which is harmless: SAELens only uses their norms when
rescale_acts_by_decoder_norm is set, and we leave it false.

metadata carries what SAELens reads (sae_lens_version >= 6, else it treats the config as a
pre-6.0 one; model_name; hook_name), the folded scale, and the caller's training record.
"""
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sae.model import BATCH_TOPKS, RELU_ENCODERS, THRESHOLD_ENCODERS, SAEConfig, SparseAutoencoder

WEIGHTS_FILE = "sae_weights.safetensors"
CONFIG_FILE = "cfg.json"
SAELENS_VERSION = "6.0.0"  # the format version written, not an installed sae_lens
MODEL_NAME = "othello-alphazero-6x6"
ARCHITECTURES = {**dict.fromkeys(RELU_ENCODERS, "standard"), "topk": "topk",
                 **dict.fromkeys(THRESHOLD_ENCODERS, "jumprelu")}  # ours -> SAELens's
WEIGHT_NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")


def _replace_atomically(path, write):
    """write(tmp_path), then rename over `path`, so a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


@torch.no_grad()
def export_saelens(sae: SparseAutoencoder, folder, metadata=None):
    """Write `sae` to `folder` (created if needed) in SAELens's format; returns the folder.

    `metadata` (JSON-serialisable dict, e.g. the training record) is merged into cfg.json's
    metadata; its 'layer' (default 2) names the hook."""
    folder = Path(folder)
    metadata = dict(metadata or {})
    config = sae.config
    s = sae.input_scale.detach().double().cpu()
    weights = {  # folded in float64, stored in float32
        "W_enc": sae.W_enc.detach().double().cpu() * s,
        "b_enc": sae.b_enc.detach().double().cpu(),
        "W_dec": sae.W_dec.detach().double().cpu() / s,
        "b_dec": sae.b_dec.detach().double().cpu() / s,
    }
    if config.architecture in THRESHOLD_ENCODERS:
        weights["threshold"] = sae.threshold.detach().double().cpu()
    weights = {name: w.float().contiguous() for name, w in weights.items()}
    cfg = {
        "architecture": ARCHITECTURES[config.architecture],
        "d_in": config.d_in,
        "d_sae": config.n_features,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": config.centre,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "model_name": MODEL_NAME,
            **metadata,
            "sae_lens_version": SAELENS_VERSION,
            "hook_name": f"blocks.{metadata.get('layer', 2)}.hook_resid_post",
            "folded_input_scale": s.item(),
            "architecture": config.architecture,
            "k": config.k,
        },
    }
    if config.architecture == "topk":
        cfg |= {"k": config.k, "rescale_acts_by_decoder_norm": False}
    text = json.dumps(cfg, indent=2)  # fails on unserialisable metadata before anything is written

    folder.mkdir(parents=True, exist_ok=True)
    _replace_atomically(folder / WEIGHTS_FILE, lambda tmp: save_file(weights, str(tmp)))
    _replace_atomically(folder / CONFIG_FILE, lambda tmp: tmp.write_text(text + "\n"))
    return folder


def update_metadata(folder, **metadata):
    """Replace keys of an export's cfg.json metadata (e.g. a record given new metrics), atomically."""
    path = Path(folder) / CONFIG_FILE
    cfg = json.loads(path.read_text())
    cfg["metadata"].update(metadata)
    text = json.dumps(cfg, indent=2)
    _replace_atomically(path, lambda tmp: tmp.write_text(text + "\n"))


def load_saelens(folder) -> SparseAutoencoder:
    """Read an export of `export_saelens` back, without sae_lens (input_scale 1: it is folded)."""
    folder = Path(folder)

    def invalid(problem):
        return ValueError(f"{folder}: not a valid SAELens export: {problem}")

    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise invalid(f"missing {name}")
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as e:
        raise invalid(f"{CONFIG_FILE} is not JSON ({e})") from e
    if not isinstance(cfg, dict):
        raise invalid(f"{CONFIG_FILE} is not a JSON object")
    theirs = set(ARCHITECTURES.values())
    if cfg.get("architecture") not in theirs:
        raise invalid(f"unknown architecture {cfg.get('architecture')!r} (expected one of {sorted(theirs)})")
    # anything else would change the maths that our SparseAutoencoder implements
    expected = {"normalize_activations": "none", "reshape_activations": "none"}
    if cfg["architecture"] == "topk":
        expected["rescale_acts_by_decoder_norm"] = False
    for key, value in expected.items():
        if cfg.get(key, value) != value:
            raise invalid(f"{key} is {cfg[key]!r}, only {value!r} is supported")
    metadata = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    try:
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
        k = int(cfg["k"] if cfg["architecture"] == "topk" else metadata.get("k", SAEConfig.k))
    except (KeyError, TypeError, ValueError) as e:
        raise invalid(f"{CONFIG_FILE} lacks a valid d_in, d_sae or k ({e!r})") from e

    try:
        weights = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError) as e:
        raise invalid(f"cannot read {WEIGHTS_FILE} ({e})") from e
    names = [*WEIGHT_NAMES, "threshold"] if cfg["architecture"] == "jumprelu" else list(WEIGHT_NAMES)
    if sorted(weights) != sorted(names):
        raise invalid(f"{WEIGHTS_FILE} holds {sorted(weights)}, expected {sorted(names)}")
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,), "threshold": (d_sae,)}
    for name, shape in shapes.items():
        if name in weights and tuple(weights[name].shape) != shape:
            raise invalid(f"{name} has shape {tuple(weights[name].shape)}, cfg.json implies {shape}")

    trained_as = metadata.get("architecture")
    if cfg["architecture"] == "standard":  # the same inference rule; the name says how it was trained
        architecture = trained_as if trained_as in RELU_ENCODERS else "l1"
    elif cfg["architecture"] == "topk":
        architecture = "topk"
    else:
        architecture = threshold_architecture(trained_as, weights["threshold"])
    try:
        config = SAEConfig(d_in=d_in, n_features=d_sae, architecture=architecture, k=k,
                           centre=bool(cfg.get("apply_b_dec_to_input", False)))
    except ValueError as e:
        raise invalid(str(e)) from e
    sae = SparseAutoencoder(config)
    state = {n: w.float() for n, w in weights.items() if n != "threshold"}
    if architecture == "jumprelu":
        state["log_threshold"] = weights["threshold"].float().log()
    elif architecture in THRESHOLD_ENCODERS:
        state["global_threshold"] = weights["threshold"][0].float()
    sae.load_state_dict({**state, "input_scale": torch.ones(())})
    return sae


def threshold_architecture(trained_as, threshold):
    """Ours for a SAELens jumprelu export: the batch-level TopK it was trained as when its
    metadata says so and its threshold is one for all latents, else jumprelu."""
    if trained_as in BATCH_TOPKS and bool((threshold == threshold[0]).all()):
        return trained_as
    return "jumprelu"
