"""Othello rules written the plain way (walk each direction square by square), independent of
the bitboard core, to check it against."""
import numpy as np

DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def flipped_squares(board, player, row, col):
    """Squares (r, c) that a disc of `player` placed on the empty (row, col) would flip."""
    n = len(board)
    flips = []
    for dr, dc in DIRECTIONS:
        line, r, c = [], row + dr, col + dc
        while 0 <= r < n and 0 <= c < n and board[r][c] == -player:
            line.append((r, c))
            r, c = r + dr, c + dc
        if line and 0 <= r < n and 0 <= c < n and board[r][c] == player:
            flips += line
    return flips


def legal_squares(board, player):
    n = len(board)
    return [r * n + c for r in range(n) for c in range(n)
            if board[r][c] == 0 and flipped_squares(board, player, r, c)]


def play(board, player, action):
    n = len(board)
    board = np.array(board, copy=True)
    if action == n * n:
        return board
    row, col = divmod(action, n)
    for r, c in flipped_squares(board, player, row, col):
        board[r][c] = player
    board[row][col] = player
    return board
