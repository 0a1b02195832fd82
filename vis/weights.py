"""The network and SAE weights for the viewer's position explorer, which runs both in the page.

Each model is one little-endian binary file of concatenated tensors, described in index.json:

    "explorer": {"layer": 2,
                 "network": {"file": "network.bin", "dtype": "float32", "board_size", "width", "depth",
                             "tensors": {name: [offset (in elements), shape]}},
                 "saes": {sae name: {"file": "<name>.bin", "dtype": "float16", "architecture", "k",
                                     "tensors": {...}}}}

Network tensors, batch norm folded into the linear layer before it (eval mode): "embed.weight"
(width, n*n), "embed.bias", "blocks.<k>.weight" (width, width), "blocks.<k>.bias",
"policy.weight" (n*n+1, width), "policy.bias", "value.weight" (1, width), "value.bias".
SAE tensors, in raw activation space (the export's): "encoder" (F, d) (W_enc transposed, so a
feature's weights are contiguous), "encoder_bias" (F,) (a centred SAE's b_dec folded in: the page
computes pre = encoder x + encoder_bias), "decoder" (F, d), "decoder_bias" (d,), and for the
threshold encoders (batchtopk, matryoshka, jumprelu) "threshold" (F,): f = pre where pre > threshold.
The SAEs are stored in float16 (half the bytes; activations move by well under 1%).
"""
import os
from pathlib import Path

import numpy as np
import torch

from sae.export import load_saelens
from sae.model import THRESHOLD_ENCODERS


def fold_batch_norm(linear, norm):
    """(weight, bias) of linear followed by an eval-mode batch norm, as one affine map."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return linear.weight * scale[:, None], (linear.bias - norm.running_mean) * scale + norm.bias


def network_tensors(net):
    embed_linear, embed_norm = net.embed[0], net.embed[1]
    tensors = dict(zip(("embed.weight", "embed.bias"), fold_batch_norm(embed_linear, embed_norm)))
    for k, block in enumerate(net.blocks):
        tensors.update(zip((f"blocks.{k}.weight", f"blocks.{k}.bias"), fold_batch_norm(block.linear, block.norm)))
    tensors.update({"policy.weight": net.policy_head.weight, "policy.bias": net.policy_head.bias,
                    "value.weight": net.value_head.weight, "value.bias": net.value_head.bias})
    return tensors


def sae_tensors(sae):
    encoder_bias = sae.b_enc - sae.b_dec @ sae.W_enc if sae.config.centre else sae.b_enc  # (x - b) W = x W - b W
    tensors = {"encoder": sae.W_enc.T, "encoder_bias": encoder_bias, "decoder": sae.W_dec, "decoder_bias": sae.b_dec}
    if sae.config.architecture in THRESHOLD_ENCODERS:
        tensors["threshold"] = sae.threshold
    return tensors


@torch.no_grad()
def write_tensors(path, tensors, dtype):
    """Concatenate the tensors into one binary file (atomically); returns {name: [offset, shape]}."""
    layout, parts, offset = {}, [], 0
    for name, tensor in tensors.items():
        array = tensor.detach().cpu().numpy().astype(dtype)
        layout[name] = [offset, list(array.shape)]
        parts.append(array.ravel())
        offset += array.size
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    np.concatenate(parts).astype(np.dtype(dtype).newbyteorder("<")).tofile(tmp)
    os.replace(tmp, path)
    return layout


def export_weights(network, sae_folders, layer, out):
    """Write network.bin and one <name>.bin per SAE folder ({name: folder}) into `out`; returns
    the "explorer" entry of index.json."""
    out = Path(out)
    net, config = network.net.cpu().eval(), network.model_config
    entry = {"layer": layer,
             "network": {"file": "network.bin", "dtype": "float32", "board_size": config.board_size,
                         "width": config.width, "depth": config.depth,
                         "tensors": write_tensors(out / "network.bin", network_tensors(net), "float32")},
             "saes": {}}
    for name, folder in sae_folders.items():
        sae = load_saelens(folder)
        entry["saes"][name] = {"file": f"{name}.bin", "dtype": "float16", "architecture": sae.config.architecture,
                               "k": sae.config.k, "tensors": write_tensors(out / f"{name}.bin", sae_tensors(sae), "float16")}
    return entry
