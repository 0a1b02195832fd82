"""The network (model.py) and its wrapper: shapes, the residual-stream API, training, and
checkpoints, including every way a checkpoint file can be bad."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from model import ModelConfig, OthelloNet
from NetworkWrapper import CHECKPOINT_KEYS, CheckpointError, NetworkWrapper, read_checkpoint
from tests.conftest import REPO

SMALL = ModelConfig(width=32, depth=3)


def random_boards(count, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).integers(-1, 2, (count, 36)), dtype=torch.float32)


def test_forward_shapes_and_ranges():
    net = OthelloNet(ModelConfig()).eval()
    log_pi, v = net(random_boards(5).reshape(5, 6, 6))
    assert log_pi.shape == (5, 37) and v.shape == (5,)
    torch.testing.assert_close(log_pi.exp().sum(dim=1), torch.ones(5))
    assert (v.abs() <= 1).all()
    assert sum(p.numel() for p in net.parameters()) < 400_000  # ships at ~1 MB


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_residual_stream_and_forward_from_compose_to_forward(layer):
    net = OthelloNet(SMALL).eval()
    boards = random_boards(8)
    with torch.no_grad():
        stream = net.residual_stream(boards, layer)
        assert stream.shape == (8, 32)
        for expected, got in zip(net(boards), net.forward_from(stream, layer)):
            torch.testing.assert_close(got, expected)
        replaced = net.forward_from(torch.zeros_like(stream), layer)[0]
        assert not torch.allclose(replaced, net(boards)[0])


def test_last_layer_stream_feeds_only_the_heads():
    net = OthelloNet(SMALL).eval()
    boards = random_boards(4)
    with torch.no_grad():
        stream = net.residual_stream(boards, SMALL.depth - 1)
        torch.testing.assert_close(net.heads(stream)[1], net(boards)[1])


@pytest.mark.parametrize("layer", [-1, 3])
def test_bad_layer_is_explained(layer):
    with pytest.raises(ValueError, match="layer must be 0..2"):
        OthelloNet(SMALL).residual_stream(random_boards(1), layer)


def test_training_fits_a_small_dataset():
    torch.manual_seed(0)
    wrapper = NetworkWrapper(SMALL, device="cpu")
    rng = np.random.default_rng(0)
    boards = rng.integers(-1, 2, (64, 36)).astype(np.int8)
    pis = np.zeros((64, 37), np.float32)
    pis[np.arange(64), rng.integers(0, 37, 64)] = 1
    values = rng.choice([-1.0, 1.0], 64).astype(np.float32)
    first = wrapper.train(boards, pis, values, 1, rng)
    for _ in range(30):
        last = wrapper.train(boards, pis, values, 10, rng)
    assert last["policy_loss"] < 0.5 * first["policy_loss"]
    assert last["value_loss"] < 0.5 * first["value_loss"]


def test_predict_one_and_batch_agree():
    wrapper = NetworkWrapper(SMALL, device="cpu")
    boards = random_boards(3).numpy()
    pis, values = wrapper.predict_batch(boards)
    pi, value = wrapper.predict(boards[1])
    np.testing.assert_allclose(pi, pis[1], rtol=1e-5)
    assert value == pytest.approx(values[1], abs=1e-6)


def test_networks_flush_denormal_floats_to_zero():
    # A trained network's decayed weights reach the denormals, which slow its CPU math 19x.
    # In a fresh process: the flag is process-wide, and other tests have built networks.
    script = ("import torch; from NetworkWrapper import NetworkWrapper; tiny = torch.tensor([1e-39]); "
              "before = (tiny * 2).item(); NetworkWrapper(device='cpu'); print(before, (tiny * 2).item())")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    before, after = map(float, done.stdout.split())
    assert before > 0 and after == 0.0


def test_checkpoint_round_trip(tmp_path):
    wrapper = NetworkWrapper(SMALL, device="cpu")
    rng = np.random.default_rng(1)
    wrapper.train(rng.integers(-1, 2, (16, 36)), np.full((16, 37), 1 / 37, np.float32), np.zeros(16), 3, rng)
    path = tmp_path / "net.pth.tar"
    wrapper.save_checkpoint(path, iteration=7, metadata={"note": "test"})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == set(CHECKPOINT_KEYS) and raw["iteration"] == 7 and raw["metadata"] == {"note": "test"}
    loaded = NetworkWrapper.load_checkpoint(path, device="cpu")
    assert loaded.model_config == SMALL
    boards = random_boards(4).numpy()
    for expected, got in zip(wrapper.predict_batch(boards), loaded.predict_batch(boards)):
        np.testing.assert_array_equal(got, expected)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth.tar not found: train one"):
        NetworkWrapper.load_checkpoint(tmp_path / "nope.pth.tar")


def test_corrupt_and_truncated_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pth.tar"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth.tar is corrupt") as error:
        read_checkpoint(garbage)
    assert "weights_only" not in str(error.value) and len(str(error.value)) < 300
    good = tmp_path / "good.pth.tar"
    NetworkWrapper(SMALL, device="cpu").save_checkpoint(good)
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated.pth.tar is corrupt") as error:
        read_checkpoint(truncated)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300  # one line a user can read


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading!",))


def test_pickled_objects_are_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pth.tar"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}, protocol=2))
    with pytest.raises(CheckpointError, match="evil.pth.tar is corrupt") as error:
        read_checkpoint(path)
    assert "code ran" not in capsys.readouterr().out
    # the reason names what was refused and never advises the unsafe way round it
    assert "never unpickled here" in str(error.value) and "GLOBAL print" in str(error.value)
    assert "weights_only" not in str(error.value)


def test_checkpoint_without_the_contract_keys(tmp_path):
    path = tmp_path / "weights_only.pth.tar"
    torch.save(OthelloNet(SMALL).state_dict(), path)
    with pytest.raises(CheckpointError, match="weights_only.pth.tar lacks the keys"):
        read_checkpoint(path)


def test_mismatched_checkpoints(tmp_path):
    checkpoint = NetworkWrapper(SMALL, device="cpu").checkpoint()
    with pytest.raises(CheckpointError, match="holds a network with"):
        NetworkWrapper(ModelConfig(width=64, depth=3), device="cpu").load_state(checkpoint)
    checkpoint["model_config"] = ModelConfig(width=64, depth=3).to_dict()  # config lies about the weights
    path = tmp_path / "lying.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="lying.pth.tar does not fit its model_config"):
        NetworkWrapper.load_checkpoint(path)
    checkpoint["model_config"] = {"width": 32, "layers": 3}
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="unknown config"):
        NetworkWrapper.load_checkpoint(path)
