"""Training, batched prediction and checkpoints for the AlphaZero network (model.py).

Checkpoint format (a plain dict, loadable with `torch.load(path, weights_only=True)` and
enough to rebuild the network with no side files):
    {"state_dict": the network's tensors,
     "model_config": ModelConfig as a dict, "train_config": TrainConfig as a dict,
     "iteration": the training iteration that produced it, "metadata": free-form dict}
"""
import os
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model import ModelConfig, OthelloNet

CHECKPOINT_KEYS = ("state_dict", "model_config", "train_config", "iteration", "metadata")


@dataclass
class TrainConfig:
    lr: float = 1e-3
    """Adam learning rate"""
    weight_decay: float = 1e-4
    """L2 regularisation, as in AlphaZero (c = 1e-4)"""
    batch_size: int = 256
    """examples per training step"""


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def atomic_save(obj, path):
    """torch.save to a temporary file, then rename it over `path`: a kill never leaves a
    half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit the network."""


def load_failure(error):
    """Why torch.load failed, in one short clause. A refused unpickle gets its own words: torch's
    message suggests weights_only=False, which this project never does."""
    message = " ".join(str(error).split())
    if isinstance(error, pickle.UnpicklingError):
        detail = message.partition("WeightsUnpickler error:")[2].partition(" Check the documentation")[0]
        detail = detail.strip().split(". ")[0]
        return ("it holds something other than tensors and plain values, which is never unpickled here"
                + (f"; torch: {detail}" if detail else ""))
    return f"{type(error).__name__}: {message.split('. ')[0]}"


def load_weights_only(path, what, remedy=""):
    """torch.load(path, weights_only=True) onto the CPU; any failure is a CheckpointError naming
    `what` the file should be, the file, and why (then `remedy`)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise CheckpointError(f"{what} {path} is corrupt or not a {what} ({load_failure(error)}){remedy}") from None


def read_checkpoint(path):
    """Load a checkpoint dict safely (weights_only) and check its keys, naming the file and
    the problem on any failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found: train one with `python train_alphazero.py`, "
                              "or use the shipped othello/pretrained/best.pth.tar")
    checkpoint = load_weights_only(path, "checkpoint")
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in CHECKPOINT_KEYS):
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"checkpoint {path} lacks the keys {list(CHECKPOINT_KEYS)}; found {found}")
    return checkpoint


class NetworkWrapper:
    """The network with its optimiser: `train` on (board, pi, z) examples, `predict` for one
    board or a batch, `save_checkpoint` / `load_checkpoint`."""

    def __init__(self, model_config=None, train_config=None, device=None):
        # Weight decay drives unused weights toward zero, into the denormal floats, where every
        # CPU multiply takes a slow path: the shipped network evaluated 19x slower
        # (benchmarks/bench_mcts.py). Flushing them to zero is process-wide, like
        # torch.set_num_threads, and changes no result that matters (they are below 1e-38).
        torch.set_flush_denormal(True)
        self.model_config = model_config or ModelConfig()
        self.train_config = train_config or TrainConfig()
        self.device = torch.device(device or default_device())
        self.net = OthelloNet(self.model_config).to(self.device)
        self.metadata = {}  # a loaded checkpoint's metadata (its training config among it)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.train_config.lr,
                                          weight_decay=self.train_config.weight_decay)

    def train(self, boards, pis, values, num_steps, rng, symmetries=None):
        """`num_steps` Adam steps on minibatches drawn uniformly from the examples.

        boards (N, n*n) canonical, pis (N, A) search policies, values (N,) results in [-1, 1]
        for the side to move. `symmetries` (S, A) action permutations (see
        OthelloGame.symmetry_permutations): each drawn example is seen under a random one.
        Returns the mean policy and value losses."""
        self.net.train()
        boards, pis = torch.as_tensor(boards), torch.as_tensor(pis, dtype=torch.float32)
        values = torch.as_tensor(values, dtype=torch.float32)
        num_squares = boards.shape[1]
        policy_total, value_total = 0.0, 0.0
        for _ in range(num_steps):
            index = torch.as_tensor(rng.integers(0, len(boards), self.train_config.batch_size))
            board, pi, z = boards[index], pis[index], values[index]
            if symmetries is not None:
                perm = torch.as_tensor(symmetries[rng.integers(0, len(symmetries), len(index))])  # (b, A)
                board = torch.gather(board, 1, perm[:, :num_squares])
                pi = torch.gather(pi, 1, perm)
            board, pi, z = board.to(self.device, torch.float32), pi.to(self.device), z.to(self.device)
            log_pi, v = self.net(board)
            policy_loss = -(pi * log_pi).sum(dim=1).mean()
            value_loss = F.mse_loss(v, z)
            self.optimizer.zero_grad(set_to_none=True)
            (policy_loss + value_loss).backward()
            self.optimizer.step()
            policy_total += policy_loss.item()
            value_total += value_loss.item()
        return {"policy_loss": policy_total / max(num_steps, 1), "value_loss": value_total / max(num_steps, 1)}

    @torch.inference_mode()
    def predict_batch(self, boards):
        """(B, n, n) or (B, n*n) canonical boards -> (pi (B, A), v (B,)) numpy float32."""
        self.net.eval()
        x = torch.as_tensor(np.asarray(boards, dtype=np.float32), device=self.device)
        log_pi, v = self.net(x.reshape(len(x), -1))
        return log_pi.exp().cpu().numpy(), v.cpu().numpy()

    def predict(self, board):
        """One canonical board -> (pi (A,), v float)."""
        pi, v = self.predict_batch(np.asarray(board)[None])
        return pi[0], float(v[0])

    def checkpoint(self, iteration=0, metadata=None):
        return {"state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                "model_config": self.model_config.to_dict(), "train_config": asdict(self.train_config),
                "iteration": int(iteration), "metadata": dict(metadata or {})}

    def save_checkpoint(self, path, iteration=0, metadata=None):
        atomic_save(self.checkpoint(iteration, metadata), path)

    def load_state(self, checkpoint, source="checkpoint"):
        """Load a checkpoint dict's weights into this network; the configs must agree."""
        if checkpoint["model_config"] != self.model_config.to_dict():
            raise CheckpointError(f"{source} holds a network with {checkpoint['model_config']}, "
                                  f"but this one has {self.model_config.to_dict()}")
        try:
            self.net.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as error:
            raise CheckpointError(f"{source} does not fit its model_config: {str(error).splitlines()[0]}") from None

    @classmethod
    def load_checkpoint(cls, path, device=None):
        """Rebuild the network a checkpoint file describes."""
        checkpoint = read_checkpoint(path)
        try:
            model_config = ModelConfig(**checkpoint["model_config"])
            train_config = TrainConfig(**checkpoint["train_config"])
        except TypeError as error:
            raise CheckpointError(f"checkpoint {path} has an unknown config ({error})") from None
        wrapper = cls(model_config, train_config, device)
        wrapper.load_state(checkpoint, source=f"checkpoint {path}")
        wrapper.metadata = checkpoint["metadata"]
        return wrapper
