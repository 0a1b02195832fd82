"""Players with alpha-zero-general's convention: `play(canonical_board) -> action`, where the
board is in canonical form (the player to move is +1). `reset()` is called between games.

`make_player(spec, game)` builds one from a command-line spec such as `alphabeta:4`.
"""
from pathlib import Path

import numpy as np

from othello.bitboard import popcount
from othello.squares import parse_square, square_name


PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED_MODEL = PRETRAINED / "best.pth.tar"
PREVIOUS_BEST = PRETRAINED / "previous_best.pth.tar"  # the best network before it
DEFAULT_SIMULATIONS = 256  # AlphaZeroPlayer's search per move: ~0.2 s on a 2-core CPU


class GameAborted(Exception):
    """The human ended the game (end of input, Ctrl-C or 'quit')."""


class RandomPlayer:
    """A uniformly random legal move."""

    def __init__(self, game, seed: int = 0):
        self.game, self.rng = game, np.random.default_rng(seed)

    def reset(self):
        pass

    def play(self, board):
        return int(self.rng.choice(np.flatnonzero(self.game.getValidMoves(board, 1))))


class GreedyPlayer:
    """The move that leaves the most discs of its colour; ties broken at random."""

    def __init__(self, game, seed: int = 0):
        self.game, self.rng = game, np.random.default_rng(seed)

    def reset(self):
        pass

    def play(self, board):
        rules = self.game.rules
        mine, theirs = self.game.to_bitboards(board, 1)
        actions = np.flatnonzero(rules.action_mask(mine, theirs))
        discs = [popcount(rules.next_position(mine, theirs, int(a))[1]) for a in actions]
        return int(self.rng.choice(actions[np.flatnonzero(discs == np.max(discs))]))


class AlphaBetaPlayer:
    """Negamax with alpha-beta pruning to a fixed depth (in plies; a pass is a ply).

    The evaluation is the classic hand-made one, from the side to move's point of view:
    a disc-square table (corners good; X squares, diagonal to a corner, and C squares, beside a
    corner, bad while that corner is empty; edges mildly good) plus mobility (the difference in
    the number of legal moves). Finished games score the exact disc difference, far above any
    evaluation. Ties between equally good moves at the root are broken at random (seeded).
    """

    CORNER, X_SQUARE, C_SQUARE, EDGE, INNER, MOBILITY = 100, -50, -20, 10, 1, 20
    WIN = 10_000

    def __init__(self, game, depth: int = 4, seed: int = 0):
        if depth < 1:
            raise ValueError(f"alpha-beta depth must be at least 1, got {depth}")
        self.game, self.depth, self.rng = game, depth, np.random.default_rng(seed)
        self.rules = game.rules
        n = game.n
        bit = lambda r, c: 1 << (n * r + c)  # noqa: E731
        corners = [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)]
        # (weight, squares) for each corner's X and C squares: they only hurt while it is empty.
        self.corner_groups = []
        for r, c in corners:
            dr, dc = (1 if r == 0 else -1), (1 if c == 0 else -1)
            self.corner_groups.append((bit(r, c), bit(r + dr, c + dc), bit(r + dr, c) | bit(r, c + dc)))
        self.corner_mask = sum(bit(r, c) for r, c in corners)
        edges = sum(bit(r, c) for r in range(n) for c in range(n) if r in (0, n - 1) or c in (0, n - 1))
        near_corner = sum(x | cs for _, x, cs in self.corner_groups)
        self.edge_mask = edges & ~self.corner_mask & ~near_corner
        self.inner_mask = self.rules.full & ~edges & ~near_corner
        # Search good-looking squares first so that alpha-beta prunes more.
        order_weight = {i: self._square_weight(i) for i in range(n * n)}
        self.move_order = sorted(range(n * n), key=lambda i: -order_weight[i])

    def _square_weight(self, square):
        b = 1 << square
        if b & self.corner_mask:
            return self.CORNER
        if b & self.edge_mask:
            return self.EDGE
        if any(b & x for _, x, _ in self.corner_groups):
            return self.X_SQUARE
        if any(b & cs for _, _, cs in self.corner_groups):
            return self.C_SQUARE
        return self.INNER

    def reset(self):
        pass

    def evaluate(self, mine, theirs, my_moves, their_moves):
        def diff(mask):
            return popcount(mine & mask) - popcount(theirs & mask)

        score = self.CORNER * diff(self.corner_mask) + self.EDGE * diff(self.edge_mask)
        score += self.INNER * diff(self.inner_mask)
        for corner, x, cs in self.corner_groups:
            if not (mine | theirs) & corner:
                score += self.X_SQUARE * diff(x) + self.C_SQUARE * diff(cs)
        return score + self.MOBILITY * (popcount(my_moves) - popcount(their_moves))

    def negamax(self, mine, theirs, depth, alpha, beta):
        moves = self.rules.legal_moves(mine, theirs)
        their_moves = self.rules.legal_moves(theirs, mine)
        if not moves and not their_moves:
            diff = popcount(mine) - popcount(theirs)
            return (self.WIN if diff > 0 else -self.WIN if diff < 0 else 0) + diff
        if depth == 0:
            return self.evaluate(mine, theirs, moves, their_moves)
        if not moves:
            return -self.negamax(theirs, mine, depth - 1, -beta, -alpha)
        best = -float("inf")
        for square in self.move_order:
            if moves >> square & 1:
                child = self.rules.next_position(mine, theirs, square)
                best = max(best, -self.negamax(*child, depth - 1, -beta, -alpha))
                alpha = max(alpha, best)
                if alpha >= beta:
                    break
        return best

    def play(self, board):
        mine, theirs = self.game.to_bitboards(board, 1)
        actions = np.flatnonzero(self.rules.action_mask(mine, theirs))
        if len(actions) == 1:
            return int(actions[0])
        best, best_actions = -float("inf"), []
        for action in sorted(actions, key=lambda a: self.move_order.index(a)):
            # Evaluations are integers, so a window opening at best - 0.5 scores every move
            # that ties the best exactly and only bounds the worse ones.
            value = -self.negamax(*self.rules.next_position(mine, theirs, int(action)), self.depth - 1,
                                  -float("inf"), -(best - 0.5))
            if value > best:
                best, best_actions = value, [int(action)]
            elif value == best:
                best_actions.append(int(action))
        return int(self.rng.choice(best_actions))


class PerfectPlayer:
    """Perfect play by the exact solver (othello/solver.py, 6x6 only): a move that keeps the
    best final disc margin, chosen at random (seeded) among the moves that keep it. The first
    move of a game is the slowest solve (about 90 s from the start position, one core); later
    ones reuse the solver's table and take seconds or less. After each move, `last_value` holds
    the exact margin for the player."""

    def __init__(self, game, seed: int = 0):
        if game.n != 6:
            raise ValueError(f"the perfect player solves 6x6 only, not {game.n}x{game.n}")
        from othello import solver  # a C library compiled on first use: only for this player

        self.game, self.solver, self.rng = game, solver, np.random.default_rng(seed)
        self.last_value = None

    def reset(self):
        self.last_value = None

    def play(self, board):
        mine, theirs = self.game.to_bitboards(board, 1)
        # the opponent's reply kept or lowered our last value: a close first guess
        guess = 0 if self.last_value is None else self.last_value
        value, actions = self.solver.best_moves(mine, theirs, guess)
        if not actions:
            raise ValueError("the game is over: there is no move to play")
        self.last_value = value
        return int(self.rng.choice(actions))


class HumanPlayer:
    """Asks for a move at the terminal: a square name (`c4`, `C4`), `row col` counted from 0
    (`3 2`), or `pass` when passing is the only legal move. Bad input is explained and asked
    again; end of input, Ctrl-C or `quit` raise GameAborted."""

    def __init__(self, game, input_fn=input, output_fn=print):
        self.game, self.input_fn, self.output_fn = game, input_fn, output_fn

    def reset(self):
        pass

    def play(self, board):
        n = self.game.n
        valid = self.game.getValidMoves(board, 1)
        legal = [int(a) for a in np.flatnonzero(valid)]
        legal_names = ", ".join(square_name(a, n) for a in legal)
        must_pass = legal == [n * n]
        prompt = "You have no legal move: type pass (or press Enter) > " if must_pass else "Your move > "
        while True:
            try:
                text = self.input_fn(prompt)
            except EOFError:
                raise GameAborted("end of input") from None
            except KeyboardInterrupt:
                raise GameAborted("interrupted") from None
            if text.strip().lower() in ("quit", "exit", "q"):
                raise GameAborted("you quit")
            if must_pass and not text.strip():
                return n * n
            try:
                action = parse_square(text, n)
            except ValueError as error:
                self.output_fn(f"{error}. Legal moves: {legal_names}")
                continue
            if valid[action]:
                return action
            if action == n * n:
                self.output_fn(f"You cannot pass while you have a move. Legal moves: {legal_names}")
            else:
                self.output_fn(f"{square_name(action, n)} is not a legal move. Legal moves: {legal_names}")


class AlphaZeroPlayer:
    """The trained network searching with MCTS: the most visited move after a fresh,
    noise-free search of `num_simulations` simulations (deterministic), with the c_puct and
    terminal scoring the network was trained with. After each move, `last_value` holds the
    search's estimate of the result for the player, in [-1, 1]."""

    def __init__(self, game, checkpoint=SHIPPED_MODEL, num_simulations: int = DEFAULT_SIMULATIONS, device=None):
        # Imported here so that the rules and the classic players never need torch.
        from mcts import search_actions
        from NetworkWrapper import NetworkWrapper

        self.game, self.rules = game, game.rules
        self.network = NetworkWrapper.load_checkpoint(checkpoint, device)
        if self.network.model_config.board_size != game.n:
            raise ValueError(f"{checkpoint} plays {self.network.model_config.board_size}x"
                             f"{self.network.model_config.board_size}, not {game.n}x{game.n}")
        self.mcts_config = trained_mcts_config(self.network, num_simulations)
        self.search_actions = search_actions
        self.last_value = None

    def reset(self):
        self.last_value = None

    def play(self, board):
        mine, theirs = self.game.to_bitboards(board, 1)
        actions, _, values = self.search_actions(self.rules, self.network.predict_batch, self.mcts_config,
                                            np.array([mine], np.uint64), np.array([theirs], np.uint64))
        self.last_value = float(values[0])
        return int(actions[0])


def trained_mcts_config(network, num_simulations):
    """A noise-free search config with the c_puct, terminal scoring and first-play urgency that
    `network` (a loaded NetworkWrapper) was trained with, read from its checkpoint's metadata."""
    from mcts import MCTSConfig

    trained = network.metadata.get("config", {})
    return MCTSConfig(num_simulations=num_simulations, c_puct=trained.get("c_puct", 1.5),
                      margin_weight=trained.get("margin_weight", 0.0),
                      fpu_parent_value=trained.get("fpu_parent_value", False))


def search_best_moves(network, rules, mine, theirs, num_simulations, chunk=2048):
    """The move a trained agent plays in each position (B,) of bitboards: a fresh, noise-free
    search of `num_simulations` (see AlphaZeroPlayer); -1 where the game is over."""
    from mcts import search_actions

    config = trained_mcts_config(network, num_simulations)
    mine, theirs = np.asarray(mine, np.uint64), np.asarray(theirs, np.uint64)
    moves = np.full(len(mine), -1, np.int64)
    live = np.flatnonzero(~rules.is_over(mine, theirs))
    for start in range(0, len(live), chunk):
        rows = live[start:start + chunk]
        moves[rows] = search_actions(rules, network.predict_batch, config, mine[rows], theirs[rows])[0]
    return moves


def make_player(spec: str, game, seed: int = 0, num_simulations: int = DEFAULT_SIMULATIONS):
    """Player from a spec: random, greedy, alphabeta[:depth] (default depth 4), perfect (the exact
    solver), alphazero (the shipped model) or the path of a checkpoint; the last two search
    `num_simulations` per move."""
    if spec == "alphazero" or spec.endswith(".pth.tar") or Path(spec).is_file():
        return AlphaZeroPlayer(game, SHIPPED_MODEL if spec == "alphazero" else spec, num_simulations)
    name, _, arg = spec.partition(":")
    if name == "alphabeta":
        if arg and not arg.isdigit():
            raise ValueError(f"alphabeta depth must be a whole number, as in alphabeta:4; got '{spec}'")
        return AlphaBetaPlayer(game, depth=int(arg or 4), seed=seed)
    if arg:
        raise ValueError(f"'{name}' takes no ':' argument; got '{spec}'")
    players = {"random": RandomPlayer, "greedy": GreedyPlayer, "perfect": PerfectPlayer}
    if name in players:
        return players[name](game, seed=seed)
    raise ValueError(f"unknown player '{spec}': use random, greedy, alphabeta[:depth], perfect, alphazero "
                     "or a checkpoint path")
