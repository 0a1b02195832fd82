"""Square names: columns a, b, ... from the left, rows 1, 2, ... from the top (`c4`).

An action is `n * row + col` with 0-based row and col; `n * n` is the pass.
"""
import re

_NAME = re.compile(r"^([a-z])([1-9])$")


def square_name(action: int, n: int = 6) -> str:
    """Action index -> name, e.g. 20 -> 'c4' on 6x6; the pass is 'pass'."""
    if action == n * n:
        return "pass"
    if not 0 <= action < n * n:
        raise ValueError(f"action {action} is off a {n}x{n} board (0..{n * n})")
    row, col = divmod(action, n)
    return f"{chr(ord('a') + col)}{row + 1}"


def parse_square(text: str, n: int = 6) -> int:
    """Name ('c4', 'C4'), 'row col' counted from 0 ('3 2'), or 'pass' -> action index.

    Raises ValueError with a message fit to show a user when the text names no square.
    """
    text = text.strip().lower()
    if text == "pass":
        return n * n
    match = _NAME.match(text)
    if match:
        col, row = ord(match[1]) - ord("a"), int(match[2]) - 1
    else:
        parts = text.replace(",", " ").split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"'{text}' is not a square: type a name like c4 or 'row col' like '3 2'")
        row, col = int(parts[0]), int(parts[1])
    if not (0 <= row < n and 0 <= col < n):
        last = f"{chr(ord('a') + n - 1)}{n}"
        raise ValueError(f"'{text}' is off the board: squares run from a1 to {last} (row and col 0..{n - 1})")
    return n * row + col
