"""The AlphaZero network: a residual MLP over the canonical board.

    x0 = ReLU(BN(Linear(board)))                       board: (B, n*n), +1 mine, -1 theirs
    x_{k+1} = x_k + ReLU(BN(Linear(x_k)))               block k, k = 0 .. depth-1
    log pi = log_softmax(Linear(x_depth))              (B, n*n + 1), the last action is pass
    v = tanh(Linear(x_depth))                          (B,), the side to move's expected result

"Layer k" is the residual stream after block k (0-based): the SAEs study layer 2.
`residual_stream(boards, k)` returns it and `forward_from(stream, k)` runs the rest of the
network from a replaced stream, so splicing an SAE in needs no hooks and no global state.
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    board_size: int = 6
    """n of the n x n board"""
    width: int = 256
    """size of the residual stream"""
    depth: int = 4
    """number of residual blocks"""

    @property
    def num_actions(self):
        return self.board_size**2 + 1

    def to_dict(self):
        return asdict(self)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x):
        return x + F.relu(self.norm(self.linear(x)))


class OthelloNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Sequential(nn.Linear(config.board_size**2, config.width),
                                   nn.BatchNorm1d(config.width), nn.ReLU())
        self.blocks = nn.ModuleList(Block(config.width) for _ in range(config.depth))
        self.policy_head = nn.Linear(config.width, config.num_actions)
        self.value_head = nn.Linear(config.width, 1)

    def _check_layer(self, layer):
        if not 0 <= layer < self.config.depth:
            raise ValueError(f"layer must be 0..{self.config.depth - 1} (a residual block), got {layer}")

    def residual_stream(self, boards, layer):
        """Residual stream after block `layer`: (B, n*n) boards -> (B, width)."""
        self._check_layer(layer)
        x = self.embed(boards.flatten(1))
        for block in self.blocks[: layer + 1]:
            x = block(x)
        return x

    def forward_from(self, stream, layer):
        """Run blocks after `layer` and the heads on a (B, width) residual stream."""
        self._check_layer(layer)
        x = stream
        for block in self.blocks[layer + 1 :]:
            x = block(x)
        return self.heads(x)

    def heads(self, x):
        log_pi = F.log_softmax(self.policy_head(x), dim=1)  # (B, A)
        value = torch.tanh(self.value_head(x)).squeeze(1)  # (B,)
        return log_pi, value

    def forward(self, boards):
        """(B, n, n) or (B, n*n) canonical boards -> (log pi (B, A), v (B,))."""
        x = self.embed(boards.flatten(1))
        for block in self.blocks:
            x = block(x)
        return self.heads(x)
