"""PUCT Monte Carlo tree search as in AlphaZero, batched over many games, and a plain
sequential reference (one game, one network call per leaf) that it must match exactly.

The batched tree lives in preallocated arrays, in the style of DeepMind's mctx: shape [B, N]
per node and [B, N, A] per edge, node 0 is the root, and a child index of -1 means the edge
was never taken. Every simulation step selects one leaf in every game, evaluates all new
leaves with one network call, and backs the values up. After a move, the subtree below it is
kept (`advance`).

Values: `child_value_sum[b, s, a]` sums results from the point of view of the side to move at
node s, so Q(s, a) = value_sum / visits directly; the two-player sign flip happens in one
place, `_backup`. Selection maximises, with ties going to the lowest action index,

    Q(s, a) + c_puct * P(s, a) * sqrt(N(s)) / (1 + N(s, a)),

where N(s) counts the visits of node s itself (1 for its own evaluation plus one per
simulation through it). An unvisited edge has Q = 0 (AlphaZero), or with `fpu_parent_value`
the mean value of its node so far, V(s) (the first-play urgency of Leela Zero and mctx): with
Q = 0 a node that is winning (V near 1) barely looks past the prior's favourite, and one that
is losing tries every move. `predict(boards)` maps canonical boards (B, n*n) float32 to policy
probabilities (B, A) and values (B,) for the side to move.
"""
import math
from dataclasses import dataclass

import numpy as np

from othello.bitboard import popcount

ROOT, UNVISITED = 0, -1

# The tree's arrays: name -> (one entry per edge rather than per node, dtype, empty value).
TREE_ARRAYS = {
    "mine": (False, np.uint64, 0), "theirs": (False, np.uint64, 0),  # the position at each node
    "expanded": (False, bool, False), "is_terminal": (False, bool, False),
    "terminal_value": (False, np.float64, 0.0), "node_visits": (False, np.int64, 0),
    "node_value_sum": (False, np.float64, 0.0),  # its own evaluation plus every value backed up through it
    "parent": (False, np.int64, UNVISITED), "legal": (True, bool, False), "prior": (True, np.float64, 0.0),
    "children": (True, np.int64, UNVISITED), "child_visits": (True, np.int64, 0),
    "child_value_sum": (True, np.float64, 0.0),
}


@dataclass
class MCTSConfig:
    num_simulations: int = 32
    """simulations per move"""
    c_puct: float = 1.5
    """exploration constant of the PUCT rule"""
    dirichlet_alpha: float = 1.0
    """Dirichlet noise concentration at the root in self-play; AlphaZero scales it inversely to
    the number of legal moves (0.3 for chess's ~35): 6x6 Othello has ~5"""
    dirichlet_fraction: float = 0.25
    """weight of the noise in the root priors (AlphaZero: 0.25)"""
    margin_weight: float = 0.0
    """share of a finished game's value given to the disc margin (see final_result)"""
    fpu_parent_value: bool = False
    """unvisited edges take their node's mean value as Q instead of 0"""


def masked_priors(pi, legal):
    """Policy (B, A) restricted to the legal actions (B, A) and renormalised (float64);
    uniform over the legal actions where the network gives them no mass."""
    p = np.where(legal, pi.astype(np.float64), 0.0)
    total = p.sum(axis=1, keepdims=True)
    uniform = legal / np.maximum(legal.sum(axis=1, keepdims=True), 1)
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)


def final_result(mine, theirs, num_squares, margin_weight=0.0):
    """Exact value of a finished game for the side to move, from its disc difference d (empty
    squares count for nobody): see disc_value. Python ints or uint64 arrays."""
    diff = np.asarray(popcount(mine), np.float64) - popcount(theirs)
    return disc_value(diff, num_squares, margin_weight)


def disc_value(diff, num_squares, margin_weight=0.0):
    """(1 - w) * sign(d) + w * d / num_squares for a final disc difference d, w = margin_weight.
    With w = 0 it is the plain 1 / 0 / -1; with 0 < w < 1 every win still beats every draw and
    every loss, and among wins a larger margin is worth more: the disc difference is what
    perfect play (and the solved-position yardstick) maximises."""
    diff = np.asarray(diff, np.float64)
    return (1 - margin_weight) * np.sign(diff) + margin_weight * diff / num_squares


def add_dirichlet_noise(priors, legal, alpha, fraction, rng):
    """(1 - fraction) * P + fraction * Dir(alpha) over the legal actions of each row."""
    noise = np.where(legal, rng.gamma(alpha, 1.0, priors.shape), 0.0)
    noise /= np.maximum(noise.sum(axis=1, keepdims=True), 1e-12)
    return (1 - fraction) * priors + fraction * noise


class BatchedMCTS:
    """Search trees for B games at once. `reset(mine, theirs)` sets the root positions;
    `search(rng)` runs the simulations and returns the root visit counts (B, A); `advance(actions)`
    moves every root to its chosen child, keeping that subtree; `keep(rows)` drops games."""

    def __init__(self, rules, predict, config: MCTSConfig, capacity=None):
        self.rules, self.predict, self.config = rules, predict, config
        self.num_actions = rules.num_squares + 1
        # A kept subtree plus one search must fit; a larger subtree is dropped for a fresh root.
        self.capacity = capacity or 3 * config.num_simulations + 1

    def reset(self, mine, theirs):
        B, N, A = len(mine), self.capacity, self.num_actions
        for name, (per_edge, dtype, empty) in TREE_ARRAYS.items():
            setattr(self, name, np.full((B, N, A) if per_edge else (B, N), empty, dtype))
        self.mine[:, ROOT], self.theirs[:, ROOT] = mine, theirs
        self.num_nodes = np.ones(B, np.int64)

    @property
    def batch_size(self):
        return len(self.mine)

    # --- search ---
    def search(self, rng=None, add_noise=False):
        """Run `num_simulations` simulations in every game; returns root visit counts (B, A).

        With `add_noise`, Dirichlet noise is mixed into the root priors (self-play)."""
        if self.rules.is_over(self.mine[:, ROOT], self.theirs[:, ROOT]).any():
            raise ValueError("cannot search a finished game: drop it with keep() first")
        rows = np.flatnonzero(~self.expanded[:, ROOT])
        if len(rows):
            self._evaluate(rows, np.zeros(len(rows), np.int64))
        if add_noise:
            config = self.config
            self.prior[:, ROOT] = add_dirichlet_noise(self.prior[:, ROOT], self.legal[:, ROOT],
                                                      config.dirichlet_alpha, config.dirichlet_fraction, rng)
        for _ in range(self.config.num_simulations):
            self._simulate()
        return self.child_visits[:, ROOT].copy()

    def root_value(self):
        """Search value of each root for its side to move: mean over the simulations."""
        visits = self.child_visits[:, ROOT].sum(axis=1)
        return self.child_value_sum[:, ROOT].sum(axis=1) / np.maximum(visits, 1)

    def _evaluate(self, rows, nodes, legal=None):
        """Network priors and values for non-terminal nodes (rows[i], nodes[i]) with legal
        actions `legal` (computed when not given); marks them expanded with one visit.
        Returns the values."""
        mine, theirs = self.mine[rows, nodes], self.theirs[rows, nodes]
        if legal is None:
            legal = self.rules.action_mask(mine, theirs).astype(bool)
        boards = self.rules.to_boards(mine, theirs).reshape(len(rows), -1).astype(np.float32)
        pi, value = self.predict(boards)
        value = np.asarray(value, np.float64)
        self.legal[rows, nodes] = legal
        self.prior[rows, nodes] = masked_priors(pi, legal)
        self.expanded[rows, nodes] = True
        self.node_visits[rows, nodes] = 1
        self.node_value_sum[rows, nodes] = value
        return value

    def _edges(self, name, flat_nodes):
        """Per-edge array `name` at nodes given as flat indices b * N + s: (k, A)."""
        array = getattr(self, name)
        return array.reshape(-1, array.shape[2]).take(flat_nodes, axis=0)

    def _puct(self, flat_nodes):
        visits = self._edges("child_visits", flat_nodes)  # (k, A)
        parent_visits = self.node_visits.reshape(-1).take(flat_nodes)
        unvisited_q = 0.0
        if self.config.fpu_parent_value:
            unvisited_q = (self.node_value_sum.reshape(-1).take(flat_nodes) / parent_visits)[:, None]
        q = np.where(visits > 0, self._edges("child_value_sum", flat_nodes) / np.maximum(visits, 1), unvisited_q)
        u = self.config.c_puct * self._edges("prior", flat_nodes) * np.sqrt(parent_visits)[:, None]
        u = u / (1 + visits)
        return np.where(self._edges("legal", flat_nodes), q + u, -np.inf)

    def _simulate(self):
        B = self.batch_size
        node = np.zeros(B, np.int64)
        path_nodes, path_actions = [], []  # per depth: (B,) node and action, -1 once a game stopped
        active = np.ones(B, bool)
        leaf_parent, leaf_action, leaf_child = np.zeros(B, np.int64), np.zeros(B, np.int64), np.zeros(B, np.int64)
        while active.any():
            rows = np.flatnonzero(active)
            flat_nodes = rows * self.capacity + node[rows]
            action = np.argmax(self._puct(flat_nodes), axis=1)
            step_nodes, step_actions = np.full(B, UNVISITED), np.full(B, UNVISITED)
            step_nodes[rows], step_actions[rows] = node[rows], action
            path_nodes.append(step_nodes)
            path_actions.append(step_actions)
            child = self.children.reshape(-1).take(flat_nodes * self.num_actions + action)
            stop = (child == UNVISITED) | self.is_terminal[rows, np.maximum(child, 0)]
            stopped = rows[stop]
            leaf_parent[stopped], leaf_action[stopped], leaf_child[stopped] = node[stopped], action[stop], child[stop]
            node[rows[~stop]] = child[~stop]
            active[stopped] = False

        value = np.zeros(B)
        old = np.flatnonzero(leaf_child != UNVISITED)  # a terminal node reached again
        value[old] = self.terminal_value[old, leaf_child[old]]
        self.node_visits[old, leaf_child[old]] += 1
        new = np.flatnonzero(leaf_child == UNVISITED)
        if len(new):
            value[new] = self._expand(new, leaf_parent[new], leaf_action[new])
        self._backup(path_nodes, path_actions, value)

    def _expand(self, rows, parents, actions):
        """Create the child (parent, action) in each game of `rows`; returns its value."""
        nodes = self.num_nodes[rows]
        if np.any(nodes >= self.capacity):
            raise RuntimeError("search tree full: raise the capacity")
        self.num_nodes[rows] += 1
        self.children[rows, parents, actions] = nodes
        self.parent[rows, nodes] = parents
        mine, theirs = self.rules.next_position(self.mine[rows, parents], self.theirs[rows, parents], actions)
        self.mine[rows, nodes], self.theirs[rows, nodes] = mine, theirs
        legal = self.rules.action_mask(mine, theirs).astype(bool)
        over = ~legal.any(axis=1)  # no action at all, not even a pass: the game is over
        value = np.zeros(len(rows))
        if over.any():
            value[over] = final_result(mine[over], theirs[over], self.rules.num_squares, self.config.margin_weight)
            self.is_terminal[rows[over], nodes[over]] = True
            self.terminal_value[rows[over], nodes[over]] = value[over]
            self.node_visits[rows[over], nodes[over]] = 1
        if (~over).any():
            value[~over] = self._evaluate(rows[~over], nodes[~over], legal[~over])
        return value

    def _backup(self, path_nodes, path_actions, leaf_value):
        """Add the leaf value to every edge on the path, for the side to move at each edge's
        node: players alternate at every ply (a pass too), so the sign flips per edge."""
        depth = sum(actions >= 0 for actions in path_actions)  # (B,) edges on each path
        for k, (nodes, actions) in enumerate(zip(path_nodes, path_actions)):
            rows = np.flatnonzero(actions >= 0)
            distance = depth[rows] - k  # edges between this node and the leaf (>= 1)
            value = np.where(distance % 2 == 0, 1.0, -1.0) * leaf_value[rows]
            self.child_visits[rows, nodes[rows], actions[rows]] += 1
            self.child_value_sum[rows, nodes[rows], actions[rows]] += value
            self.node_visits[rows, nodes[rows]] += 1
            self.node_value_sum[rows, nodes[rows]] += value

    # --- moving on ---
    def advance(self, actions):
        """Play `actions` (B,) at the roots: each child becomes the root with its subtree and
        statistics; games whose child was never visited, or whose subtree would not leave room
        for a full search, start from a fresh root."""
        B, rows = self.batch_size, np.arange(self.batch_size)
        child = self.children[rows, ROOT, actions]
        in_subtree = np.zeros((B, self.capacity), bool)
        in_subtree[rows, np.maximum(child, 0)] = child != UNVISITED
        for j in range(1, int(self.num_nodes.max())):  # parents precede children
            in_subtree[:, j] |= in_subtree[rows, np.maximum(self.parent[:, j], 0)] & (self.parent[:, j] >= 0)
        size = in_subtree.sum(axis=1)
        reuse = (child != UNVISITED) & (size + self.config.num_simulations + 1 <= self.capacity)
        next_mine, next_theirs = self.rules.next_position(self.mine[:, ROOT], self.theirs[:, ROOT], actions)

        # Kept nodes move to the front, in their old order (parents still precede children).
        width = max(int(size[reuse].max()) if reuse.any() else 0, 1)
        order = np.argsort(~in_subtree, axis=1, kind="stable")[:, :width]  # (B, width) old indices
        new_index = np.where(in_subtree, np.cumsum(in_subtree, axis=1) - 1, UNVISITED)
        live = (np.arange(width)[None, :] < np.where(reuse, size, 0)[:, None])  # (B, width)
        for name, (_, _, empty) in TREE_ARRAYS.items():
            array = getattr(self, name)
            moved = array[rows[:, None], order]  # (B, width, ...)
            if name in ("children", "parent"):
                moved = np.where(moved >= 0, new_index[rows.reshape((B,) + (1,) * (moved.ndim - 1)),
                                                       np.maximum(moved, 0)], UNVISITED)
            array.fill(empty)
            array[:, :width] = np.where(live.reshape(live.shape + (1,) * (array.ndim - 2)), moved, empty)
        self.mine[:, ROOT] = np.where(reuse, self.mine[:, ROOT], next_mine)
        self.theirs[:, ROOT] = np.where(reuse, self.theirs[:, ROOT], next_theirs)
        self.parent[:, ROOT] = UNVISITED
        self.num_nodes = np.where(reuse, size, 1)

    def keep(self, rows):
        """Keep only the games `rows` (e.g. drop finished ones), in that order."""
        for name in TREE_ARRAYS:
            setattr(self, name, getattr(self, name)[rows])
        self.num_nodes = self.num_nodes[rows]


def fresh_tree_size(config):
    """Nodes a search from a bare root needs: the root and at most one more per simulation."""
    return config.num_simulations + 1


def search_actions(rules, predict, config, mine, theirs, max_nodes=1 << 20):
    """Best action (most visits, ties to the lowest index) for each position after a fresh,
    noise-free search: how a trained agent plays. Returns (actions, visits (B, A), values
    (B,) the search's estimate for the side to move). The positions are searched in chunks of
    at most `max_nodes` tree nodes in all (a node takes about 1.3 KB), so that many positions
    at many simulations do not run out of memory."""
    tree_size = fresh_tree_size(config)
    chunk = max(1, max_nodes // tree_size)
    visits, values = [], []
    for start in range(0, max(len(mine), 1), chunk):
        mcts = BatchedMCTS(rules, predict, config, capacity=tree_size)
        mcts.reset(mine[start:start + chunk], theirs[start:start + chunk])
        visits.append(mcts.search())
        values.append(mcts.root_value())
    visits = np.concatenate(visits)
    return np.argmax(visits, axis=1), visits, np.concatenate(values)


class SearchActor:
    """Batch actor (see othello.arena.play_match) that plays like a trained agent: a fresh,
    noise-free search per position, the most visited action. After each `act`, `last_search`
    is the BatchedMCTS that chose, its trees intact (the positions it evaluated)."""

    def __init__(self, rules, predict, config: MCTSConfig):
        self.rules, self.predict, self.config = rules, predict, config
        self.last_search = None

    def act(self, mine, theirs):
        self.last_search = BatchedMCTS(self.rules, self.predict, self.config, fresh_tree_size(self.config))
        self.last_search.reset(mine, theirs)
        return np.argmax(self.last_search.search(), axis=1)


class SequentialNode:
    def __init__(self, mine, theirs):
        self.mine, self.theirs = mine, theirs
        self.expanded, self.is_terminal, self.terminal_value = False, False, 0.0
        self.node_visits, self.node_value_sum = 0, 0.0
        self.children = {}
        self.legal = self.prior = self.child_visits = self.child_value_sum = None


class SequentialMCTS:
    """The reference: one game, a tree of node objects, recursion, one network call per leaf.
    Same rule, same tie-break (lowest action index) and same subtree reuse as BatchedMCTS."""

    def __init__(self, rules, predict, config: MCTSConfig):
        self.rules, self.predict, self.config = rules, predict, config

    def reset(self, mine, theirs):
        self.root = SequentialNode(int(mine), int(theirs))

    def search(self):
        if not self.root.expanded:
            self._evaluate(self.root)
        for _ in range(self.config.num_simulations):
            self._simulate(self.root)
        return self.root.child_visits.copy()

    def _evaluate(self, node):
        node.legal = self.rules.action_mask(node.mine, node.theirs).astype(bool)
        boards = self.rules.to_boards(np.array([node.mine], np.uint64), np.array([node.theirs], np.uint64))
        pi, value = self.predict(boards.reshape(1, -1).astype(np.float32))
        node.prior = masked_priors(pi, node.legal[None])[0]
        node.child_visits = np.zeros(len(node.legal), np.int64)
        node.child_value_sum = np.zeros(len(node.legal))
        node.expanded, node.node_visits, node.node_value_sum = True, 1, float(value[0])
        return float(value[0])

    def _select(self, node):
        best, best_score = None, -math.inf
        unvisited_q = node.node_value_sum / node.node_visits if self.config.fpu_parent_value else 0.0
        for action in np.flatnonzero(node.legal):
            visits = int(node.child_visits[action])
            q = node.child_value_sum[action] / visits if visits > 0 else unvisited_q
            u = self.config.c_puct * node.prior[action] * math.sqrt(node.node_visits) / (1 + visits)
            if q + u > best_score:  # strict: ties keep the lower action
                best, best_score = int(action), q + u
        return best

    def _simulate(self, node):
        """One simulation below `node`; returns the leaf value for `node`'s side to move."""
        action = self._select(node)
        child = node.children.get(action)
        if child is None:
            child = SequentialNode(*self.rules.next_position(node.mine, node.theirs, action))
            node.children[action] = child
            if self.rules.is_over(child.mine, child.theirs):
                child.is_terminal, child.node_visits = True, 1
                child.terminal_value = float(final_result(child.mine, child.theirs, self.rules.num_squares,
                                                          self.config.margin_weight))
                child_value = child.terminal_value
            else:
                child_value = self._evaluate(child)
        elif child.is_terminal:
            child.node_visits += 1
            child_value = child.terminal_value
        else:
            child_value = self._simulate(child)
        value = -child_value  # the child's side to move is our opponent
        node.child_visits[action] += 1
        node.child_value_sum[action] += value
        node.node_visits += 1
        node.node_value_sum += value
        return value

    def advance(self, action, capacity):
        """Move the root to its child, keeping the subtree when it fits as in BatchedMCTS."""
        child = self.root.children.get(action)

        def size(node):
            return 1 + sum(size(c) for c in node.children.values())

        if child is not None and size(child) + self.config.num_simulations + 1 <= capacity:
            self.root = child
        else:
            self.root = SequentialNode(*self.rules.next_position(self.root.mine, self.root.theirs, action))
