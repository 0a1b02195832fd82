"""Activation collection and the activation store: what the SAE stage relies on."""
import json
import shutil

import numpy as np
import pytest
import torch

from NetworkWrapper import NetworkWrapper
from othello.bitboard import bitboard_rules
from othello.collect_activations import CollectConfig, collect, split_by_game
from othello.OthelloPlayers import SHIPPED_MODEL
from sae.activations import ActivationError, collection_settings, file_sha256, load_activations, read_manifest

RULES = bitboard_rules(6)


def both_splits(folder):
    return load_activations(folder, "train"), load_activations(folder, "heldout")


def test_collected_positions_are_unique_split_by_game_and_consistent(tiny_activations):
    folder, manifest = tiny_activations
    train, heldout = both_splits(folder)
    assert manifest["splits"]["train"]["count"] + manifest["splits"]["heldout"]["count"] == 600
    assert manifest["layers"] == [2] and set(train) == set(manifest["fields"])
    boards = np.concatenate([train["boards"], heldout["boards"]])
    assert len(np.unique(boards, axis=0)) == len(boards)  # deduplicated by board
    assert not set(train["game"]) & set(heldout["game"])  # no game straddles the split
    assert train["searched"].any() and (~train["searched"]).any()  # game and search positions
    assert (train["ply"] == np.abs(train["boards"]).sum(axis=1) - 4).all()
    mine, theirs = RULES.from_boards(train["boards"])
    assert not RULES.is_over(mine, theirs).any()  # only positions the network was asked about


def test_stored_outputs_are_the_networks(tiny_activations):
    folder, _ = tiny_activations
    rows = load_activations(folder, "heldout")
    network = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu")
    boards = torch.as_tensor(np.array(rows["boards"][:50]), dtype=torch.float32)
    with torch.no_grad():
        stream = network.net.eval().residual_stream(boards, 2)
    np.testing.assert_allclose(rows["resid_2"][:50], stream.numpy(), rtol=1e-4, atol=1e-5)
    pi, value = network.predict_batch(boards.numpy())
    np.testing.assert_allclose(rows["policy"][:50], pi, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rows["value"][:50], value, rtol=1e-4, atol=1e-6)


def test_split_holds_out_whole_games():
    games = np.repeat(np.arange(20), 7)
    heldout = split_by_game(games, 0.25, np.random.default_rng(0))
    assert len(np.unique(games[heldout])) == 5
    assert not set(games[heldout]) & set(games[~heldout])


@pytest.fixture
def damaged(tiny_activations, tmp_path):
    """A copy of the tiny activation folder to break."""
    folder = tmp_path / "activations"
    shutil.copytree(tiny_activations[0], folder)
    return folder


def test_missing_folder_names_the_command(tmp_path):
    with pytest.raises(ActivationError, match="collect_activations.py"):
        load_activations(tmp_path / "nowhere")


def test_corrupt_manifest(damaged):
    (damaged / "manifest.json").write_text("{not json")
    with pytest.raises(ActivationError, match="corrupt"):
        read_manifest(damaged)


def test_missing_shard(damaged):
    (damaged / "train" / "resid_2.npy").unlink()
    with pytest.raises(ActivationError, match="resid_2.npy is missing"):
        load_activations(damaged, "train")


def test_truncated_shard(damaged):
    path = damaged / "train" / "resid_2.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ActivationError, match="resid_2.npy"):
        load_activations(damaged, "train")


def test_shard_of_the_wrong_shape(damaged):
    np.save(damaged / "heldout" / "value.npy", np.zeros(3, np.float32))
    with pytest.raises(ActivationError, match="manifest says"):
        load_activations(damaged, "heldout")


def test_activations_of_another_model_are_refused(tiny_activations):
    with pytest.raises(ActivationError, match="another model"):
        load_activations(tiny_activations[0], "train", checkpoint_sha256="0" * 64)


def test_a_layer_not_collected_is_explained(tiny_activations):
    with pytest.raises(ActivationError, match="layers collected: \\[2\\]"):
        load_activations(tiny_activations[0], "train", ["resid_3"])


def test_manifest_records_what_made_it(tiny_activations):
    manifest = json.loads((tiny_activations[0] / "manifest.json").read_text())
    assert len(manifest["checkpoint_sha256"]) == 64 and manifest["config"]["positions"] == 600
    assert manifest["fields"]["resid_2"] == {"dtype": "float32", "shape": [256]}


def test_collection_settings_name_the_models_by_their_hash(tmp_path):
    config = CollectConfig(positions=40, sims=2, batch_games=4, opponents="previous", out=str(tmp_path), progress=False)
    manifest = collect(config)
    assert manifest["previous_sha256"] == file_sha256(config.previous)
    settings = collection_settings(tmp_path)
    assert settings["checkpoint_sha256"] == manifest["checkpoint_sha256"] and "checkpoint" not in settings

    def edited(change):
        path = tmp_path / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))
        return collection_settings(tmp_path)

    moved = edited(lambda m: m["config"].update(checkpoint="elsewhere/best.pth.tar", previous="elsewhere/prev.pth.tar"))
    assert moved == settings  # the same models read through other paths
    assert edited(lambda m: m.update(previous_sha256="0" * 64)) != settings  # another opponent: other games


def test_bad_collection_flags_are_explained():
    with pytest.raises(ValueError, match="--layers"):
        CollectConfig(layers="two")
    with pytest.raises(ValueError, match="heldout"):
        CollectConfig(heldout_fraction=1.5)
    with pytest.raises(ValueError, match="--sims must be at least 1, got 0"):
        CollectConfig(sims=0)


def test_the_move_that_led_to_a_position_is_the_opponents_last_disc(tiny_activations):
    train = load_activations(tiny_activations[0], "train")
    known = train["last_move"] >= 0
    assert known.mean() > 0.9  # only the first position after each random opening is unknown
    placed = known & (train["last_move"] < 36)
    rows = np.flatnonzero(placed)
    # Boards are from the side to move's view: the last disc placed is the opponent's (-1).
    assert (train["boards"][rows, train["last_move"][rows]] == -1).all()


def test_the_flipped_discs_undo_the_last_move(tiny_activations):
    """Taking back the last move (remove its disc, turn the flipped discs back) gives a position
    where that move is legal and flips exactly those discs."""
    rules = bitboard_rules(6)
    train = load_activations(tiny_activations[0], "train")
    flipped = train["flipped"].astype(bool)
    last = train["last_move"]
    assert not flipped[last < 0].any() and not flipped[last == 36].any()  # unknown or a pass: nothing
    rows = np.flatnonzero((last >= 0) & (last < 36))
    assert flipped[rows].sum(axis=1).min() >= 1  # every disc move flips at least one
    mine, theirs = rules.from_boards(train["boards"][rows])
    flips = rules.pack(flipped[rows])
    move = np.left_shift(np.uint64(1), last[rows].astype(np.uint64))
    mover_before, opponent_before = theirs & ~flips & ~move, mine | flips
    assert (flips & ~theirs == 0).all()  # flipped discs now belong to the mover
    assert np.array_equal(rules.flips(mover_before, opponent_before, move), flips)
