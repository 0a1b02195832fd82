"""Arena: two players meet over many games, alternating colours.

Deterministic players would repeat the same two games forever, so games come in pairs that
share a random opening of `opening_plies` moves, each player taking each colour once: the
standard way to get a fair, varied sample from strong, deterministic engines.
"""
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from othello.OthelloGame import render
from othello.squares import square_name


@dataclass
class ArenaResult:
    """Results from the first player's point of view."""

    wins: int = 0
    losses: int = 0
    draws: int = 0
    disc_diffs: list = field(default_factory=list)
    """final disc difference (first player minus second) of every game, in order"""

    @property
    def games(self):
        return self.wins + self.losses + self.draws

    @property
    def score(self):
        """Share of points, a draw counting half."""
        return (self.wins + 0.5 * self.draws) / max(self.games, 1)

    def summary(self, name1="player1", name2="player2"):
        mean = np.mean(self.disc_diffs) if self.disc_diffs else 0.0
        return (f"{name1} vs {name2}: {self.wins} wins, {self.losses} losses, {self.draws} draws "
                f"in {self.games} games (score {self.score:.1%}, mean disc difference {mean:+.2f})")


def random_opening(game, plies, rng):
    """A list of `plies` uniformly random legal actions from the start (shorter if the game
    ends first)."""
    board, player, actions = game.getInitBoard(), 1, []
    for _ in range(plies):
        if game.getGameEnded(board, player):
            break
        action = int(rng.choice(np.flatnonzero(game.getValidMoves(board, player))))
        board, player = game.getNextState(board, player, action)
        actions.append(action)
    return actions


def play_game(game, black, white, opening=(), verbose=False):
    """Play one game; returns black's final disc difference (positive: black won).

    `verbose` prints the board before every move and each move as it is played."""
    players = {1: black, -1: white}
    board, player = game.getInitBoard(), 1
    black.reset()
    white.reset()
    moves = list(opening)
    while not game.getGameEnded(board, player):
        colour = "Black (X)" if player == 1 else "White (O)"
        if verbose:
            print()
            print(render(board, game.getValidMoves(board, player)))
            print(f"{colour} to move")
        from_opening = bool(moves)
        action = moves.pop(0) if from_opening else players[player].play(game.getCanonicalForm(board, player))
        if verbose:
            value = None if from_opening else getattr(players[player], "last_value", None)
            estimate = f" (it rates its position {value:+.2f}, from -1 lost to +1 won)" if value is not None else ""
            print(f"{colour} plays {square_name(action, game.n)}{estimate}")
        board, player = game.getNextState(board, player, action)
    if verbose:
        print()
        print(render(board))
    return game.getScore(board, 1)


def arena(game, player1, player2, num_games, opening_plies=0, seed=0, progress=True, verbose=False):
    """Play `num_games` games, player1 taking black in the even-numbered ones; a pair of games
    shares one random opening of `opening_plies` moves."""
    rng = np.random.default_rng(seed)
    result = ArenaResult()
    opening = []
    for i in tqdm(range(num_games), desc="arena", disable=not progress, leave=False):
        if i % 2 == 0:
            opening = random_opening(game, opening_plies, rng)
        first_is_black = i % 2 == 0
        black, white = (player1, player2) if first_is_black else (player2, player1)
        diff = play_game(game, black, white, opening, verbose)
        diff = diff if first_is_black else -diff
        result.disc_diffs.append(diff)
        if diff > 0:
            result.wins += 1
        elif diff < 0:
            result.losses += 1
        else:
            result.draws += 1
    return result

