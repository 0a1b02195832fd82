"""Bitboard rules of n x n Othello: the fast core under OthelloGame.

A position is a pair of bitboards `(mine, theirs)` from the side to move's point of view
(the canonical form): bit `i` is the square `action = n * row + col`, rows from the top and
columns from the left, so the bit order matches the action order of the game contract.
Action `n * n` is the pass.

Every function here works unchanged on a single position held in Python ints (fast for
searching one board) and on a batch held in numpy uint64 arrays of shape (B,), where one
numpy call processes every board at once (fast for stepping hundreds of games together):
only shifts, ands and ors are used, and both types support them with the same operators.
"""
from functools import lru_cache

import numpy as np


def popcount(x):
    """Number of set bits, for a Python int or element-wise for a uint64 array."""
    return x.bit_count() if isinstance(x, int) else np.bitwise_count(x).astype(np.int64)


class BitboardRules:
    """Move generation, move application and game end on n x n bitboards (even n, 4..8).

    Build one with `bitboard_rules(n)`, which caches it: the masks depend only on n.
    """

    def __init__(self, n: int):
        if n % 2 or not 4 <= n <= 8:
            raise ValueError(f"board size must be even and between 4 and 8, got {n}")
        self.n = n
        self.num_squares = n * n
        self.pass_action = n * n
        self.full = (1 << self.num_squares) - 1
        not_first_col = self.full & ~sum(1 << (r * n) for r in range(n))
        not_last_col = self.full & ~sum(1 << (r * n + n - 1) for r in range(n))
        # (shift, mask): a positive shift moves bits to higher indices (down / right).
        # The mask removes bits that wrapped around a row edge or fell off the board.
        self.directions = (
            (1, not_first_col),  # east
            (-1, not_last_col),  # west
            (n, self.full),  # south
            (-n, self.full),  # north
            (n + 1, not_first_col),  # south-east
            (n - 1, not_last_col),  # south-west
            (-(n - 1), not_first_col),  # north-east
            (-(n + 1), not_last_col),  # north-west
        )
        # In a line of n squares at most n - 2 opponent discs can lie between two of ours.
        self.max_run = n - 2
        half = n // 2
        self.start_mine = (1 << ((half - 1) * n + half)) | (1 << (half * n + half - 1))  # black
        self.start_theirs = (1 << ((half - 1) * n + half - 1)) | (1 << (half * n + half))  # white

    @staticmethod
    def _shift(x, shift, mask):
        return ((x << shift) if shift > 0 else (x >> -shift)) & mask

    def legal_moves(self, mine, theirs):
        """Bitboard of the squares where the side to move may place a disc."""
        empty = ~(mine | theirs) & self.full
        moves = mine & 0  # zero of the same type (int or array)
        for shift, mask in self.directions:
            run = self._shift(mine, shift, mask) & theirs
            for _ in range(self.max_run - 1):
                run |= self._shift(run, shift, mask) & theirs
            moves |= self._shift(run, shift, mask) & empty
        return moves

    def flips(self, mine, theirs, move):
        """Bitboard of the opponent discs flipped by placing a disc on the `move` bit."""
        flipped = mine & 0
        for shift, mask in self.directions:
            run = self._shift(move, shift, mask) & theirs
            for _ in range(self.max_run - 1):
                run |= self._shift(run, shift, mask) & theirs
            closed = self._shift(run, shift, mask) & mine
            if isinstance(closed, int):
                flipped |= run if closed else 0
            else:
                flipped |= np.where(closed != 0, run, 0).astype(np.uint64)
        return flipped

    def next_position(self, mine, theirs, action):
        """Play `action` (a square index or the pass) and return the position of the next
        side to move, `(mine, theirs)` swapped into its point of view. Legality is not
        checked here: callers pick actions from `legal_moves` / `action_mask`."""
        if isinstance(mine, int):
            if action == self.pass_action:
                return theirs, mine
            move = 1 << action
            flipped = self.flips(mine, theirs, move)
            return theirs & ~flipped, mine | flipped | move
        action = np.asarray(action, dtype=np.int64)
        is_pass = action == self.pass_action
        square = np.where(is_pass, 0, action).astype(np.uint64)
        move = np.where(is_pass, np.uint64(0), np.left_shift(np.uint64(1), square))
        flipped = self.flips(mine, theirs, move)
        return theirs & ~flipped, mine | flipped | move

    def is_over(self, mine, theirs):
        """True where neither side has a legal move."""
        either = self.legal_moves(mine, theirs) | self.legal_moves(theirs, mine)
        return either == 0

    def action_mask(self, mine, theirs):
        """0/1 uint8 array of the legal actions, shape (n*n + 1,) or (B, n*n + 1).

        The pass (last action) is legal exactly when no square is; at a finished game every
        entry is 0."""
        moves = self.legal_moves(mine, theirs)
        if isinstance(mine, int):
            squares = np.array([(moves >> i) & 1 for i in range(self.num_squares)], np.uint8)
            can_pass = not moves and self.legal_moves(theirs, mine) != 0
            return np.append(squares, np.uint8(can_pass))
        mask = np.zeros((len(moves), self.num_squares + 1), np.uint8)
        mask[:, :-1] = self.unpack(moves)
        stuck = np.flatnonzero(moves == 0)  # usually few: test only these for a forced pass
        mask[stuck, -1] = self.legal_moves(theirs[stuck], mine[stuck]) != 0
        return mask

    def unpack(self, bits):
        """uint64 array (B,) -> 0/1 uint8 array (B, n*n), column i = bit i."""
        as_bytes = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8).reshape(-1, 8)  # (B, 8)
        return np.unpackbits(as_bytes, axis=1, count=self.num_squares, bitorder="little")

    def pack(self, flags):
        """Boolean array (B, n*n) -> uint64 array (B,): the inverse of `unpack`."""
        flags = np.asarray(flags, dtype=bool)
        padded = np.zeros((len(flags), 64), bool)
        padded[:, : self.num_squares] = flags
        return np.packbits(padded, axis=1, bitorder="little").view("<u8").reshape(-1).astype(np.uint64)

    def from_boards(self, boards):
        """Canonical boards (B, n, n) with +1 = side to move -> bitboards `(mine, theirs)`."""
        flat = np.asarray(boards).reshape(len(boards), self.num_squares)
        return self.pack(flat == 1), self.pack(flat == -1)

    def to_boards(self, mine, theirs):
        """Bitboards -> canonical int8 boards (B, n, n): +1 mine, -1 theirs, 0 empty."""
        flat = self.unpack(mine).astype(np.int8) - self.unpack(theirs).astype(np.int8)
        return flat.reshape(-1, self.n, self.n)


@lru_cache(maxsize=None)
def bitboard_rules(n: int = 6) -> BitboardRules:
    return BitboardRules(n)
