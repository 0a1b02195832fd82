"""Arena: two players meet over many games, alternating colours.

Deterministic players would repeat the same two games forever, so games come in pairs that
share a random opening of `opening_plies` moves, each player taking each colour once: the
standard way to get a fair, varied sample from strong, deterministic engines.

Two forms: `arena` plays per-board players (`play(canonical_board)`) one game at a time, with
optional printing; `play_match` plays batch actors (`act(mine, theirs)` over bitboard arrays)
in lockstep, so that a searching agent evaluates all games' positions in one network call.
"""
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from othello.bitboard import popcount
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



def random_openings(rules, count, plies, rng):
    """`count` positions after `plies` uniformly random legal moves from the start (fewer if
    the game ends first): bitboards from the side to move's view and whether black is to move."""
    mine = np.full(count, rules.start_mine, np.uint64)
    theirs = np.full(count, rules.start_theirs, np.uint64)
    black_to_move = np.ones(count, bool)
    for _ in range(plies):
        mask = rules.action_mask(mine, theirs)  # (count, A)
        playing = mask.any(axis=1)
        actions = np.argmax(rng.random(mask.shape) * mask, axis=1)  # a uniform legal action
        next_mine, next_theirs = rules.next_position(mine, theirs, actions)
        mine, theirs = np.where(playing, next_mine, mine), np.where(playing, next_theirs, theirs)
        black_to_move ^= playing
    return mine, theirs, black_to_move


class PlayerActor:
    """Batch actor that plays positions one by one with a per-board player."""

    def __init__(self, rules, player):
        self.rules, self.player = rules, player

    def act(self, mine, theirs):
        boards = self.rules.to_boards(mine, theirs)
        return np.array([self.player.play(board) for board in boards], np.int64)


def play_match(rules, actor_a, actor_b, num_games, opening_plies, rng, on_move=None, accept_opening=None):
    """`num_games` games of actor_a against actor_b in lockstep; a takes black in the even
    games, and each pair of games starts from the same random opening. Returns an
    ArenaResult from a's point of view.

    `on_move(actor, games, mine, theirs, actions)`, if given, sees every batch of moves the
    actors choose: the game indices, the positions (side to move's view) and the actions.
    `accept_opening(mine, theirs)`, if given, says which openings (bool per position, side to
    move's view) may be played: the others are drawn again."""
    pairs = (num_games + 1) // 2
    mine, theirs, black_to_move = random_openings(rules, pairs, opening_plies, rng)
    if accept_opening is not None:
        for _ in range(1000):
            redraw = np.flatnonzero(~np.asarray(accept_opening(mine, theirs), bool))
            if not len(redraw):
                break
            mine[redraw], theirs[redraw], black_to_move[redraw] = random_openings(rules, len(redraw), opening_plies, rng)
        else:
            raise ValueError("no acceptable opening in 1,000 draws")
    mine, theirs = np.repeat(mine, 2)[:num_games], np.repeat(theirs, 2)[:num_games]
    black_to_move = np.repeat(black_to_move, 2)[:num_games]
    a_is_black = np.arange(num_games) % 2 == 0
    active = ~rules.is_over(mine, theirs)
    while active.any():
        a_turn, b_turn = active & (black_to_move == a_is_black), active & (black_to_move != a_is_black)
        actions = np.zeros(num_games, np.int64)
        for turn, actor in ((a_turn, actor_a), (b_turn, actor_b)):
            if turn.any():
                actions[turn] = actor.act(mine[turn], theirs[turn])
                if on_move is not None:
                    on_move(actor, np.flatnonzero(turn), mine[turn], theirs[turn], actions[turn])
        next_mine, next_theirs = rules.next_position(mine[active], theirs[active], actions[active])
        mine[active], theirs[active] = next_mine, next_theirs
        black_to_move[active] ^= True
        active[active] = ~rules.is_over(next_mine, next_theirs)
    to_move_diff = popcount(mine) - popcount(theirs)
    a_to_move = black_to_move == a_is_black
    diffs = np.where(a_to_move, to_move_diff, -to_move_diff)
    return ArenaResult(wins=int((diffs > 0).sum()), losses=int((diffs < 0).sum()),
                       draws=int((diffs == 0).sum()), disc_diffs=[int(d) for d in diffs])
