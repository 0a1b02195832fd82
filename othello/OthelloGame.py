"""n x n Othello behind alpha-zero-general's game contract.

The contract (method names kept exactly, so code written for that framework runs unchanged):
- a board is a numpy (n, n) int8 array: 1 = black (moves first), -1 = white, 0 = empty;
  rows from the top, columns from the left;
- players are +1 and -1; the canonical form of a board is `player * board`, in which the
  side to move is always +1;
- actions are `n * row + col` for the n*n squares plus `n * n` for the pass, which is legal
  only when no square is (a forced pass);
- getGameEnded(board, player) is 0 while the game goes on, else 1 / -1 if `player` won / lost
  and 1e-4 for a draw (draws are real on 6x6, and must not read as a loss);
- actions and players may be Python or numpy integers (`np.argmax(pi)`,
  `np.random.choice(len(pi), p=pi)`, as that framework's Coach, Arena and MCTS pass them),
  and boards any integer or float dtype; boards come back as int8, players as Python ints.

Each method converts the board to bitboards and runs the core in `othello.bitboard`; the
batched functions there step many games at once and agree with these methods exactly.
"""
import operator

import numpy as np

from othello.bitboard import bitboard_rules, popcount
from othello.squares import square_name

DRAW = 1e-4


class OthelloGame:
    def __init__(self, n: int = 6):
        self.n = n
        self.rules = bitboard_rules(n)

    # --- checks of the contract's arguments ---
    def _player(self, player):
        """+1 or -1 as a Python int, from a Python or numpy integer."""
        value = _integer(player, "player")
        if value not in (1, -1):
            raise ValueError(f"player must be 1 (black) or -1 (white), got {value}")
        return value

    def _action(self, action):
        """An action as a Python int in [0, n*n], from a Python or numpy integer."""
        value = _integer(action, "action")
        if not 0 <= value <= self.n * self.n:
            raise ValueError(f"action must be a square 0..{self.n * self.n - 1} or the pass {self.n * self.n}, "
                             f"got {value}")
        return value

    # --- conversions between (n, n) boards and bitboards ---
    def to_bitboards(self, board, player):
        """(n, n) board -> (mine, theirs) Python-int bitboards from `player`'s point of view."""
        player = self._player(player)
        flat = np.asarray(board).reshape(-1)
        if flat.size != self.n * self.n:
            raise ValueError(f"a board must have {self.n}x{self.n} squares, got shape {np.shape(board)}")
        mine = np.packbits(flat == player, bitorder="little").tobytes()
        theirs = np.packbits(flat == -player, bitorder="little").tobytes()
        return int.from_bytes(mine, "little"), int.from_bytes(theirs, "little")

    def from_bitboards(self, mine, theirs, player):
        """Inverse of to_bitboards: `mine` holds `player`'s discs."""
        def squares(bits):
            raw = np.frombuffer(bits.to_bytes(8, "little"), dtype=np.uint8)
            return np.unpackbits(raw, bitorder="little")[: self.n * self.n].astype(np.int8)

        return (player * (squares(mine) - squares(theirs))).astype(np.int8).reshape(self.n, self.n)

    # --- the contract ---
    def getInitBoard(self):
        return self.from_bitboards(self.rules.start_mine, self.rules.start_theirs, 1)

    def getBoardSize(self):
        return (self.n, self.n)

    def getActionSize(self):
        return self.n * self.n + 1

    def getNextState(self, board, player, action):
        """Play `action` for `player`; returns (next board, -player). Raises ValueError for an
        illegal action, naming the square and the legal moves."""
        player, action = self._player(player), self._action(action)
        mine, theirs = self.to_bitboards(board, player)
        if not self.rules.action_mask(mine, theirs)[action]:
            legal = ", ".join(square_name(a, self.n) for a in np.flatnonzero(self.getValidMoves(board, player)))
            raise ValueError(f"{square_name(action, self.n)} is not a legal move here; legal: {legal or 'none'}")
        next_mine, next_theirs = self.rules.next_position(mine, theirs, action)
        # next_position returns the opponent's point of view: its "mine" is -player's discs.
        return self.from_bitboards(next_mine, next_theirs, -player), -player

    def getValidMoves(self, board, player):
        return self.rules.action_mask(*self.to_bitboards(board, player))

    def getGameEnded(self, board, player):
        mine, theirs = self.to_bitboards(board, player)
        if not self.rules.is_over(mine, theirs):
            return 0
        diff = popcount(mine) - popcount(theirs)
        return 1 if diff > 0 else -1 if diff < 0 else DRAW

    def getCanonicalForm(self, board, player):
        return (self._player(player) * np.asarray(board)).astype(np.int8)

    def getSymmetries(self, board, pi):
        """The 8 symmetries of the square, applied to the board and to the policy alike."""
        assert len(pi) == self.n * self.n + 1
        pi_board = np.reshape(pi[:-1], (self.n, self.n))
        symmetries = []
        for turns in range(1, 5):
            for flip in (True, False):
                new_board, new_pi = np.rot90(board, turns), np.rot90(pi_board, turns)
                if flip:
                    new_board, new_pi = np.fliplr(new_board), np.fliplr(new_pi)
                symmetries.append((new_board, list(new_pi.ravel()) + [pi[-1]]))
        return symmetries

    def symmetry_permutations(self):
        """(8, n*n + 1) index arrays, in getSymmetries' order: under symmetry k a flat board
        becomes `board.ravel()[perm[k][:n*n]]` and a policy becomes `pi[perm[k]]`."""
        squares = np.arange(self.n * self.n).reshape(self.n, self.n)
        actions = np.arange(self.n * self.n + 1)
        return np.array([pi for _, pi in self.getSymmetries(squares, actions)], dtype=np.int64)

    def stringRepresentation(self, board):
        return np.asarray(board, dtype=np.int8).tobytes()

    def getScore(self, board, player):
        """Disc difference: `player`'s discs minus the opponent's."""
        player, board = self._player(player), np.asarray(board)
        return int(np.sum(board == player) - np.sum(board == -player))

    @staticmethod
    def display(board, valid_moves=None):
        print(render(board, valid_moves))


def _integer(value, name):
    """A Python int from a Python or numpy integer; a clear TypeError for anything else."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got the boolean {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a Python or numpy integer, got {type(value).__name__} {value!r}") from None


def render(board, valid_moves=None) -> str:
    """Text picture of a board with square names: X = black, O = white, * = a legal move
    (when `valid_moves` is given)."""
    n = len(board)
    lines = ["   " + " ".join(chr(ord("a") + c) for c in range(n))]
    for row in range(n):
        cells = []
        for col in range(n):
            piece = board[row][col]
            marked = valid_moves is not None and valid_moves[row * n + col]
            cells.append("X" if piece == 1 else "O" if piece == -1 else "*" if marked else ".")
        lines.append(f"{row + 1:>2} " + " ".join(cells))
    black, white = int(np.sum(np.asarray(board) == 1)), int(np.sum(np.asarray(board) == -1))
    lines.append(f"   X (black) {black} - O (white) {white}")
    return "\n".join(lines)
