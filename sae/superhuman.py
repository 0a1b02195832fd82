"""Where the network beats classical play, and which SAE features carry its moves there.

6x6 Othello is solved, so every legal move of a position has a perfect-play outcome (win, draw
or loss for the side to move; the sign of its exact value). On a position:

    keeps the outcome   the move's outcome is the best move's (a win stays a win, a draw a draw)
    superhuman          the network's move keeps the outcome and every classical player's move
                        (greedy, alpha-beta at each depth) changes it
    control             the network and every classical player all keep it; matched to the
                        superhuman positions by phase (the number of empty squares)

A feature's *attribution* on a position is how much the log-probability of the network's move
falls when the feature is removed from the layer-2 stream: its activation times its decoder
direction subtracted, the SAE's reconstruction error kept (the ablation of
sae/interventions.py), the rest of the network run again. The *causal check* removes a set of
features at once and asks whether the network's new move still keeps the outcome, and whether
it became the classical player's move.
"""
from math import comb

import numpy as np
import torch

from sae.interventions import legal_log_policy


def move_values_table(values_by_position, num_actions):
    """[{action: value}] -> (N, A) float array, NaN where illegal. The values are exact disc
    differences or outcomes (+1, 0, -1): what follows reads only their signs."""
    table = np.full((len(values_by_position), num_actions), np.nan)
    for row, values in enumerate(values_by_position):
        for action, value in values.items():
            table[row, action] = value
    return table


def keeps_outcome(values, moves):
    """(N,) bool: the move (N,) has the perfect-play outcome of the position's best move."""
    chosen = values[np.arange(len(values)), moves]
    return np.sign(chosen) == np.sign(np.nanmax(values, axis=1))


def classify(values, network_moves, classical_moves):
    """(superhuman, ordinary) (N,) bool masks; classical_moves: {player: (N,) moves}. Ordinary
    positions are the control's candidates: every player keeps the outcome."""
    network = keeps_outcome(values, network_moves)
    classical = np.stack([keeps_outcome(values, moves) for moves in classical_moves.values()])
    return network & ~classical.any(axis=0), network & classical.all(axis=0)


def matched_control(empties, superhuman, ordinary, rng):
    """Indices of control positions: for each number of empties, as many ordinary positions as
    there are superhuman ones (all of them where there are fewer), drawn at random."""
    chosen = []
    for count in np.unique(empties[superhuman]):
        wanted = int((superhuman & (empties == count)).sum())
        pool = np.flatnonzero(ordinary & (empties == count))
        chosen.append(rng.choice(pool, size=min(wanted, len(pool)), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def _move_log_prob(net, streams, legal, layer, moves):
    log_pi, _ = net.forward_from(streams, layer)
    return legal_log_policy(log_pi, legal).gather(1, moves[:, None]).squeeze(1)


@torch.no_grad()
def attribution(net, sae, x, legal, layer, moves, chunk=4096):
    """(N, F) tensor: for each position and feature, the fall in the log-probability of `moves`
    (N,) when the feature is removed from the stream x (N, d) (zero where it does not fire)."""
    features = sae.encode(x)
    rows, ids = torch.nonzero(features > 0, as_tuple=True)
    before = _move_log_prob(net, x, legal, layer, moves)
    directions = sae.W_dec / sae.input_scale  # raw-space decoder rows (F, d)
    result = torch.zeros_like(features)
    for start in range(0, len(rows), chunk):
        r, f = rows[start:start + chunk], ids[start:start + chunk]
        removed = x[r] - features[r, f, None] * directions[f]
        result[r, f] = before[r] - _move_log_prob(net, removed, legal[r], layer, moves[r])
    return result


def feature_ranking(attr_superhuman, attr_control):
    """Per feature (each (F,) numpy): contribution, the mean attribution over the superhuman
    positions; control, the same over the control positions; enrichment, their difference;
    and fires, the share of superhuman positions it fires on."""
    contribution = attr_superhuman.mean(dim=0)
    control = attr_control.mean(dim=0) if len(attr_control) else torch.zeros_like(contribution)
    return {"contribution": contribution.numpy(), "control": control.numpy(),
            "enrichment": (contribution - control).numpy(), "fires": (attr_superhuman != 0).float().mean(dim=0).numpy()}


@torch.no_grad()
def moves_without(net, sae, x, legal, layer, features):
    """(N,) the network's top legal move once every feature in `features` is removed from each
    stream where it fires."""
    active = sae.encode(x)[:, features]  # (N, k), zero where a feature does not fire
    directions = (sae.W_dec / sae.input_scale)[features]  # (k, d)
    log_pi, _ = net.forward_from(x - active @ directions, layer)
    return legal_log_policy(log_pi, legal).argmax(dim=1)


def causal_effect(net, sae, x, legal, layer, values, features, classical_move):
    """What removing `features` together does to the network's move on positions x where the
    move kept the outcome: the share of the positions where one of them fires whose move changes,
    whose new move loses the outcome, and whose move became `classical_move`'s (N,) (of those
    where the move changed)."""
    fires = (sae.encode(x)[:, features] > 0).any(dim=1).numpy()
    before = legal_log_policy(net.forward_from(x, layer)[0], legal).argmax(dim=1).numpy()
    after = moves_without(net, sae, x, legal, layer, features).numpy()
    changed = fires & (after != before)

    def share(mask, of):
        return float(mask[of].mean()) if of.any() else float("nan")

    return {"positions": int(fires.sum()), "changed": share(changed, fires),
            "outcome_lost": share(~keeps_outcome(values, after), fires),
            "became_classical": share(after == classical_move, changed)}


def frequency_matched(frequencies, features, rng):
    """For each feature, a different random live feature of nearly the same firing frequency:
    one of the 5 closest in frequency, none in `features`."""
    taken = set(map(int, features))
    pool = np.array([f for f in np.flatnonzero(frequencies > 0) if f not in taken])
    matched = []
    for feature in features:
        closest = pool[np.argsort(np.abs(frequencies[pool] - frequencies[feature]), kind="stable")[:5]]
        pick = int(rng.choice(closest))
        matched.append(pick)
        pool = pool[pool != pick]
    return matched


def excess_p_value(hits, n, baseline_hits, baseline_n):
    """One-sided Fisher exact test: the chance, were both rates equal, of `hits` of `n` or more
    with `baseline_hits` of `baseline_n` beside them (the margins held fixed)."""
    total, drawn = n + baseline_n, hits + baseline_hits
    return sum(comb(n, h) * comb(baseline_n, drawn - h) for h in range(hits, min(n, drawn) + 1)) / comb(total, drawn)
