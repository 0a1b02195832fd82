"""AlphaZeroPlayer and othello/play.py with a network."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from model import ModelConfig
from NetworkWrapper import CheckpointError, NetworkWrapper
from othello.OthelloGame import OthelloGame
from othello.OthelloPlayers import AlphaZeroPlayer, make_player
from othello.squares import square_name
from tests.conftest import REPO, random_positions


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nets") / "tiny.pth.tar"
    NetworkWrapper(ModelConfig(width=16, depth=2), device="cpu").save_checkpoint(path)
    return path


def test_plays_legal_deterministic_moves_and_reports_its_value(game, checkpoint):
    player = make_player(str(checkpoint), game, num_simulations=12)
    assert isinstance(player, AlphaZeroPlayer)
    for board, colour in random_positions(game, 40, seed=5):
        if game.getGameEnded(board, colour):
            continue
        canonical = game.getCanonicalForm(board, colour)
        action = player.play(canonical)
        assert game.getValidMoves(canonical, 1)[action] == 1
        assert -1 <= player.last_value <= 1
        assert player.play(canonical) == action
    player.reset()
    assert player.last_value is None


def test_bad_checkpoints_are_explained(game, tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match="not found"):
        make_player(str(tmp_path / "missing.pth.tar"), game)
    with pytest.raises(ValueError, match="plays 6x6, not 8x8"):
        AlphaZeroPlayer(OthelloGame(8), checkpoint)


def run_play(args, stdin=""):
    return subprocess.run([sys.executable, "othello/play.py", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_match_with_a_checkpoint(checkpoint):
    done = run_play(["--games", "2", "--player", str(checkpoint), "--opponent", "random", "--sims", "8", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["games"] == 2


def test_human_game_against_the_network(checkpoint):
    tries = "\n".join([square_name(a) for a in range(36)] + ["pass"]) + "\n"
    done = run_play(["--human", "--player", str(checkpoint), "--sims", "8"], stdin=tries * 40)
    assert done.returncode == 0, done.stderr
    assert "it rates its position" in done.stdout
    assert any(verdict in done.stdout for verdict in ("You win", "You lose", "Draw"))


def test_missing_model_is_explained(tmp_path):
    done = run_play(["--games", "2", "--player", str(tmp_path / "gone.pth.tar")])
    assert done.returncode != 0 and "not found: train one" in done.stderr and "Traceback" not in done.stderr


def test_search_settings_follow_the_training_config(game, tmp_path):
    path = tmp_path / "margin.pth.tar"
    NetworkWrapper(ModelConfig(width=16, depth=2), device="cpu").save_checkpoint(
        path, metadata={"config": {"c_puct": 2.5, "margin_weight": 0.25, "fpu_parent_value": True}})
    config = AlphaZeroPlayer(game, path, num_simulations=5).mcts_config
    assert (config.c_puct, config.margin_weight, config.fpu_parent_value, config.num_simulations) == (2.5, 0.25, True, 5)
