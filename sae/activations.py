"""The activation store: what collection writes and every later stage reads.

On disk, one folder (default runs/activations):

    manifest.json            what is there; written last, so its presence means complete
    train/<field>.npy        one array per field, rows aligned across fields
    heldout/<field>.npy      the same fields for the held-out games

Fields (N rows per split, one per unique position):
    boards      int8 (N, n*n)      canonical board: +1 side to move, -1 opponent, 0 empty
    resid_<k>   float32 (N, width) residual stream after block k, for each collected layer k
    policy      float32 (N, A)     the network's move probabilities (the last action is pass)
    value       float32 (N,)       the network's value for the side to move
    ply         int16 (N,)         discs placed since the start (the move number, passes aside)
    game        int32 (N,)         the game the position was first seen in
    last_move   int8 (N,)          the action that led to it when seen (36: a pass; -1: unknown,
                                   i.e. the first position after a game's random opening)
    flipped     int8 (N, n*n)      1 on the discs that move flipped (none when unknown or a pass)
    searched    bool (N,)          True: evaluated in a search; False: played in the game

manifest.json: {"format": 1, "layers", "fields": {name: {"dtype", "shape"}}, "splits":
{name: {"count", "games"}}, "checkpoint", "checkpoint_sha256", "command", "config"}; shapes
exclude the row count. Positions are split by game, so no game (and no board) straddles the
split. `load_activations` is the one reader: it checks the manifest against every file.
"""
import hashlib
import json
import os
from pathlib import Path

import numpy as np

FORMAT = 1
SPLITS = ("train", "heldout")
COLLECT_COMMAND = "python othello/collect_activations.py"


class ActivationError(ValueError):
    """An activation folder is missing, incomplete, corrupt or not what the caller expects."""


def resid_field(layer):
    return f"resid_{layer}"


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path, text):
    """Write to a temporary file, then rename it over `path`: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_activations(directory, splits, metadata):
    """Write {split: {field: array}} and the manifest (with `metadata` merged in), each file
    atomically, the manifest last. Returns the manifest."""
    directory = Path(directory)
    fields = {}
    for split, arrays in splits.items():
        counts = {len(array) for array in arrays.values()}
        if len(counts) != 1:
            raise ValueError(f"fields of split '{split}' have different row counts: {sorted(counts)}")
        (directory / split).mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            fields[name] = {"dtype": str(array.dtype), "shape": list(array.shape[1:])}
            tmp = directory / split / f"{name}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(array))
            os.replace(tmp, directory / split / f"{name}.npy")
    manifest = {"format": FORMAT, **metadata, "fields": fields,
                "splits": {split: {"count": len(arrays["game"]), "games": int(len(np.unique(arrays["game"])))}
                           for split, arrays in splits.items()}}
    write_text_atomic(directory / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory):
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise ActivationError(f"no activations at {directory} ({path.name} missing): collect them with "
                              f"`{COLLECT_COMMAND} --out {directory}`")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ActivationError(f"{path} is corrupt ({error}): collect again with `{COLLECT_COMMAND}`") from None
    missing = [key for key in ("format", "layers", "fields", "splits", "checkpoint_sha256") if key not in manifest]
    if missing or manifest["format"] != FORMAT:
        raise ActivationError(f"{path} is not a format-{FORMAT} activation manifest (missing {missing}): "
                              f"collect again with `{COLLECT_COMMAND}`")
    return manifest


def search_simulations(directory):
    """The simulations per move of the searches the collected games were played with (the
    search whose move the concepts call the model's best move)."""
    return read_manifest(directory).get("config", {}).get("sims", 64)


def collection_settings(directory):
    """The settings the activations were collected with, less those that only steer the run
    (threads, progress bars, output folder): two collections with equal settings hold the same data.
    The models are named by their files' sha256, so the same model read through another path
    counts as the same (a manifest from before the previous model's hash keeps its path)."""
    manifest = read_manifest(directory)
    settings = {key: value for key, value in manifest.get("config", {}).items()
                if key not in ("threads", "progress", "out")}
    for model in ("checkpoint", "previous"):
        if f"{model}_sha256" in manifest and model in settings:
            del settings[model]
            settings[f"{model}_sha256"] = manifest[f"{model}_sha256"]
    return settings


def load_activations(directory, split="train", fields=None, checkpoint_sha256=None, mmap=True):
    """Arrays of one split, checked against the manifest: {field: array} (memory-mapped by
    default). `fields` picks some (default all); `checkpoint_sha256`, when given, must be the
    hash of the model the activations came from."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if split not in manifest["splits"]:
        raise ActivationError(f"{directory} has no split '{split}' (it has {sorted(manifest['splits'])})")
    if checkpoint_sha256 is not None and checkpoint_sha256 != manifest["checkpoint_sha256"]:
        raise ActivationError(f"{directory} was collected from another model (sha256 "
                              f"{manifest['checkpoint_sha256'][:12]}..., expected {checkpoint_sha256[:12]}...): "
                              f"collect again with `{COLLECT_COMMAND} --checkpoint <your model>`")
    names = list(manifest["fields"]) if fields is None else list(fields)
    count = manifest["splits"][split]["count"]
    arrays = {}
    for name in names:
        if name not in manifest["fields"]:
            hint = f" (layers collected: {manifest['layers']}; pass --layers)" if name.startswith("resid_") else ""
            raise ActivationError(f"{directory} has no field '{name}'{hint}: collect again with `{COLLECT_COMMAND}`")
        path = directory / split / f"{name}.npy"
        if not path.is_file():
            raise ActivationError(f"{path} is missing: the collection was interrupted or the folder damaged; "
                                  f"collect again with `{COLLECT_COMMAND}`")
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise ActivationError(f"{path} is corrupt ({error}): collect again with `{COLLECT_COMMAND}`") from None
        expected = manifest["fields"][name]
        if (array.shape != (count, *expected["shape"])) or str(array.dtype) != expected["dtype"]:
            raise ActivationError(f"{path} holds {array.dtype} {array.shape}, but the manifest says "
                                  f"{expected['dtype']} {(count, *expected['shape'])}: collect again with "
                                  f"`{COLLECT_COMMAND}`")
        arrays[name] = array
    return arrays
