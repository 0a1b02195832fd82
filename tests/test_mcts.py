"""The batched search: equal to the sequential reference visit for visit, its invariants,
exact terminal values, noise, subtree reuse and the tree-capacity fallback."""
import numpy as np
import pytest
import torch

from coach import sample_actions
from mcts import (BatchedMCTS, MCTSConfig, SequentialMCTS, add_dirichlet_noise, final_result, masked_priors,
                  search_actions)
from model import ModelConfig
from NetworkWrapper import NetworkWrapper
from othello.arena import random_openings
from othello.bitboard import bitboard_rules
from othello.solved import load_solved_positions

RULES = bitboard_rules(6)


@pytest.fixture(scope="module")
def predict():
    """A fixed random policy/value function computed row by row. A real network's float32
    outputs move by ~1e-7 with the batch size (matmul blocking), which could flip a near-tie
    between a batch of 12 and a batch of 1; this one is batch-invariant, so the searches
    must agree exactly."""
    rng = np.random.default_rng(0)
    policy_weights, value_weights = rng.normal(size=(36, 37)), rng.normal(size=36)

    def predict(boards):
        b = boards.astype(np.float64)
        logits = (b[:, :, None] * policy_weights[None]).sum(axis=1)  # (B, A), row-wise
        pi = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (pi / pi.sum(axis=1, keepdims=True)).astype(np.float32), np.tanh((b * value_weights).sum(axis=1) / 6)

    return predict


def test_searches_agree_with_the_real_network():
    torch.manual_seed(0)
    predict = NetworkWrapper(ModelConfig(width=32, depth=2), device="cpu").predict_batch
    mine, theirs = random_roots(8, 6, seed=9)
    config = MCTSConfig(num_simulations=30)
    _, visits, _ = search_actions(RULES, predict, config, mine, theirs)
    for i in range(len(mine)):
        reference = SequentialMCTS(RULES, predict, config)
        reference.reset(mine[i], theirs[i])
        np.testing.assert_array_equal(reference.search(), visits[i])


def test_search_in_memory_bounded_chunks_gives_the_same_moves(predict):
    mine, theirs = random_roots(10, 6, seed=4)
    config = MCTSConfig(num_simulations=24)
    whole = search_actions(RULES, predict, config, mine, theirs)
    batch_sizes = []

    def counting_predict(boards):
        batch_sizes.append(len(boards))
        return predict(boards)

    chunked = search_actions(RULES, counting_predict, config, mine, theirs, max_nodes=3 * 25)  # 3 trees at a time
    assert max(batch_sizes) == 3 and len(mine) > 3
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)
    assert (whole[1].sum(axis=1) == 24).all()


def random_roots(count, plies, seed):
    """Positions after `plies` random moves (games that ended early are dropped)."""
    mine, theirs, _ = random_openings(RULES, count, plies, np.random.default_rng(seed))
    live = ~RULES.is_over(mine, theirs)
    return mine[live], theirs[live]


@pytest.mark.parametrize("plies, c_puct, fpu", [(0, 1.5, False), (8, 1.0, False), (20, 1.5, False), (26, 3.0, False),
                                               (4, 1.5, True), (16, 1.0, True)])
def test_batched_search_equals_sequential_reference_through_whole_games(predict, plies, c_puct, fpu):
    config = MCTSConfig(num_simulations=40, c_puct=c_puct, fpu_parent_value=fpu)
    mine, theirs = random_roots(12, plies, seed=plies)
    capacity = 1000  # large enough that every subtree is kept, in both searches
    batched = BatchedMCTS(RULES, predict, config, capacity=capacity)
    batched.reset(mine, theirs)
    references = [SequentialMCTS(RULES, predict, config) for _ in mine]
    for reference, m, t in zip(references, mine, theirs):
        reference.reset(m, t)
    moves = 0
    while batched.batch_size:
        visits = batched.search()
        np.testing.assert_array_equal(visits, np.stack([r.search() for r in references]))
        np.testing.assert_allclose(batched.root_value(), [r.root.child_value_sum.sum() / r.root.child_visits.sum()
                                                          for r in references], rtol=1e-12)
        actions = np.argmax(visits, axis=1)
        next_mine, next_theirs = RULES.next_position(batched.mine[:, 0], batched.theirs[:, 0], actions)
        batched.advance(actions)
        for reference, action in zip(references, actions):
            reference.advance(int(action), capacity)
        live = np.flatnonzero(~RULES.is_over(next_mine, next_theirs))
        batched.keep(live)
        references = [references[i] for i in live]
        moves += 1
    assert moves >= 5  # the games were played to their ends, terminal positions included


def test_first_play_urgency_widens_the_search_of_a_winning_node():
    # The root is winning (+0.9) and so is every move (each child is -0.9 for its own side to
    # move). With Q = 0 for unvisited moves the root only plays the prior's favourite (Q 0.9);
    # valued at the root's mean (0.9), the other moves get visits in line with their priors.
    mine, theirs = random_roots(1, 4, seed=1)
    legal = np.flatnonzero(RULES.action_mask(mine, theirs)[0])
    favourite, root_empties = legal[-1], int((RULES.to_boards(mine, theirs) == 0).sum())
    assert len(legal) >= 4

    def predict(boards):
        pi = np.where(np.arange(37) == favourite, 0.5, 0.5 / (len(legal) - 1)) * np.isin(np.arange(37), legal)
        winning = (boards == 0).sum(axis=1) % 2 == root_empties % 2  # no pass this close to the root
        return np.tile(pi, (len(boards), 1)).astype(np.float32), np.where(winning, 0.9, -0.9).astype(np.float32)

    def root_visits(fpu):
        return search_actions(RULES, predict, MCTSConfig(num_simulations=16, fpu_parent_value=fpu), mine, theirs)[1][0]

    plain, urgent = root_visits(False), root_visits(True)
    assert plain[favourite] == 16
    assert (urgent > 0).sum() == len(legal) and urgent[favourite] == urgent.max() < 16


def test_visits_sum_to_the_simulations_and_skip_illegal_moves(predict):
    mine, theirs = random_roots(30, 10, seed=1)
    config = MCTSConfig(num_simulations=25)
    mcts = BatchedMCTS(RULES, predict, config)
    mcts.reset(mine, theirs)
    visits = mcts.search()
    assert (visits.sum(axis=1) == 25).all()
    assert (visits[RULES.action_mask(mine, theirs) == 0] == 0).all()
    # after a move the kept subtree adds its visits to the next search's
    actions = np.argmax(visits, axis=1)
    kept = visits[np.arange(len(actions)), actions] - 1  # the child's own visits minus its creation
    next_mine, next_theirs = RULES.next_position(mine, theirs, actions)
    mcts.advance(actions)
    live = np.flatnonzero(~RULES.is_over(next_mine, next_theirs))
    mcts.keep(live)
    assert (mcts.search().sum(axis=1) == 25 + kept[live]).all()


def test_forced_pass_is_searched_as_a_move(predict):
    a1, b1, f6 = 1 << 0, 1 << 1, 1 << 35
    # The side to move (b1) cannot bracket a1 but the opponent (a1) can play c1: pass only.
    mine, theirs = np.array([b1 | f6], np.uint64), np.array([a1], np.uint64)
    assert RULES.action_mask(mine, theirs)[0, 36] == 1
    actions, visits, _ = search_actions(RULES, predict, MCTSConfig(num_simulations=10), mine, theirs)
    assert actions[0] == 36 and visits[0, 36] == 10


def test_terminal_positions_are_scored_exactly(predict):
    # One empty square (a1); the side to move takes it and wins 35-1... or check both views.
    board = np.ones(36, np.int64)  # all mine
    board[0], board[1] = 0, -1  # a1 empty, b1 theirs: playing a1 flips b1 via c1 (mine)
    mine, theirs = RULES.pack((board == 1)[None]), RULES.pack((board == -1)[None])
    mcts = BatchedMCTS(RULES, predict, MCTSConfig(num_simulations=7))
    mcts.reset(mine, theirs)
    visits = mcts.search()
    assert visits[0, 0] == 7
    assert mcts.root_value()[0] == 1.0  # every simulation ends in the exact win
    assert mcts.child_value_sum[0, 0, 0] == 7.0


def test_losing_terminal_value_for_the_mover(predict):
    # Mover has a single disc and one move that ends the game lost 2-34.
    board = -np.ones(36, np.int64)
    board[0], board[1], board[2] = 0, -1, 1  # a1 empty, b1 theirs, c1 mine
    mcts = BatchedMCTS(RULES, predict, MCTSConfig(num_simulations=5))
    mcts.reset(RULES.pack((board == 1)[None]), RULES.pack((board == -1)[None]))
    mcts.search()
    assert mcts.root_value()[0] == -1.0


def test_finished_games_cannot_be_searched(predict):
    mcts = BatchedMCTS(RULES, predict, MCTSConfig(num_simulations=2))
    mcts.reset(np.array([1], np.uint64), np.array([1 << 35], np.uint64))
    with pytest.raises(ValueError, match="finished game"):
        mcts.search()


def test_small_capacity_falls_back_to_fresh_roots(predict):
    config = MCTSConfig(num_simulations=20)
    mine, theirs = random_roots(8, 4, seed=3)
    mcts = BatchedMCTS(RULES, predict, config, capacity=config.num_simulations + 2)
    mcts.reset(mine, theirs)
    for _ in range(4):
        visits = mcts.search()
        assert (visits.sum(axis=1) == 20).all()  # the subtree never fits: always fresh
        actions = np.argmax(visits, axis=1)
        next_mine, next_theirs = RULES.next_position(mcts.mine[:, 0], mcts.theirs[:, 0], actions)
        mcts.advance(actions)
        assert (mcts.num_nodes == 1).all()
        np.testing.assert_array_equal(mcts.mine[:, 0], next_mine)
        live = np.flatnonzero(~RULES.is_over(next_mine, next_theirs))
        mcts.keep(live)


def test_priors_are_masked_and_noise_keeps_them_a_distribution():
    rng = np.random.default_rng(0)
    pi = rng.random((50, 37)).astype(np.float32)
    legal = rng.random((50, 37)) < 0.2
    legal[:, 5] = True
    priors = masked_priors(pi, legal)
    np.testing.assert_allclose(priors.sum(axis=1), 1)
    assert (priors[~legal] == 0).all()
    noisy = add_dirichlet_noise(priors, legal, 1.0, 0.25, rng)
    np.testing.assert_allclose(noisy.sum(axis=1), 1)
    assert (noisy[~legal] == 0).all() and not np.allclose(noisy, priors)
    no_mass = masked_priors(np.zeros((1, 37), np.float32), legal[:1])
    np.testing.assert_allclose(no_mass[0][legal[0]], 1 / legal[0].sum())


def test_temperature_sampling():
    rng = np.random.default_rng(0)
    visits = np.tile(np.array([[0, 30, 10, 0, 60]]), (20_000, 1))
    greedy = sample_actions(visits, np.zeros(20_000, bool), rng)
    assert (greedy == 4).all()
    sampled = sample_actions(visits, np.ones(20_000, bool), rng)
    np.testing.assert_allclose(np.bincount(sampled, minlength=5) / 20_000, [0, 0.3, 0.1, 0, 0.6], atol=0.015)


def test_search_plays_well_on_solved_positions_with_an_oracle():
    """With a perfect policy (the solved move values) the search picks optimal moves."""
    positions = [p for p in load_solved_positions() if p.critical][:40]
    mine, theirs = RULES.from_boards(np.stack([p.board for p in positions]))
    boards = RULES.to_boards(mine, theirs).reshape(len(positions), -1)

    def oracle(query):
        pi = np.full((len(query), 37), 1e-3, np.float32)
        for i, board in enumerate(query):
            match = np.flatnonzero((boards == board).all(axis=1))
            if len(match):
                values = positions[match[0]].values
                pi[i, max(values, key=values.get)] = 1.0
        return pi / pi.sum(axis=1, keepdims=True), np.zeros(len(query), np.float32)

    actions, _, _ = search_actions(RULES, oracle, MCTSConfig(num_simulations=16), mine, theirs)
    for position, action in zip(positions, actions):
        assert position.values[int(action)] == max(position.values.values())


def discs(count, offset=0):
    return sum(1 << (offset + i) for i in range(count))


def test_final_result_plain_and_with_margin():
    big_win, small_win, draw, loss = (discs(30), discs(6, 30)), (discs(19), discs(17, 19)), (discs(18), discs(18, 18)), \
        (discs(10), discs(26, 10))
    assert [final_result(*p, 36) for p in (big_win, small_win, draw, loss)] == [1, 1, 0, -1]
    values = [final_result(*p, 36, margin_weight=0.25) for p in (big_win, small_win, draw, loss)]
    assert values == pytest.approx([0.75 + 0.25 * 24 / 36, 0.75 + 0.25 * 2 / 36, 0, -0.75 - 0.25 * 16 / 36])
    assert values[0] > values[1] > values[2] > values[3]
    batch = final_result(np.array([big_win[0], loss[0]], np.uint64), np.array([big_win[1], loss[1]], np.uint64), 36, 0.25)
    np.testing.assert_allclose(batch, [values[0], values[3]])


def test_margin_weight_reaches_terminal_nodes(predict):
    board = np.ones(36, np.int64)
    board[0], board[1] = 0, -1  # a1 takes b1: a 36-0 win
    mcts = BatchedMCTS(RULES, predict, MCTSConfig(num_simulations=3, margin_weight=0.25))
    mcts.reset(RULES.pack((board == 1)[None]), RULES.pack((board == -1)[None]))
    mcts.search()
    assert mcts.root_value()[0] == 1.0  # (1 - 0.25) * 1 + 0.25 * 36 / 36
