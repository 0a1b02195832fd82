"""How well SAE features recover board concepts, after Karvonen et al. 2024 ("Measuring
progress in dictionary learning for language model interpretability with board game models").

A feature "predicts" a concept at threshold t when its activation exceeds t * (its maximum):
t in THRESHOLDS = 0, 0.1, ..., 0.9 (at 1.0 nothing would exceed the maximum). Everything is
counted with matrix products over the whole batch: features (N, F) against concepts (N, C).

    precision, recall, F1  per threshold, feature and concept
    AUROC                  per feature and concept, from the raw activations (ties averaged)
    coverage               for each concept its best feature's F1 (best threshold), averaged
    board reconstruction   at each threshold t, label each feature with the concepts it predicts
                           at t with precision >= 0.95 on >= 10 positions (training set); on
                           held-out positions predict the concepts as the union of the labels of
                           the features above t; F1 over every (position, square) of a group
                           (e.g. the 36 "mine" squares), at the t that is best on the training set,
                           and its precision and recall
    explained features     stricter labels, the ones people read (`informative_labels`): the
                           precision must also beat the concept's base rate, and the feature
                           cover >= 10% of the concept's positions; none: "unexplained"
    linear probes          a logistic regression per concept on the raw stream (the ceiling of
                           linear decodability), and each probe's closest SAE feature by cosine
"""
import numpy as np
import torch

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(10))


def _as_tensor(x):
    return torch.as_tensor(np.asarray(x, np.float32))


def _firing_entries(features):
    """(rows, columns, values) of the positive entries of features (N, F) >= 0, the only ones
    the metrics below need to visit: an SAE's features are sparse."""
    if features.numel() and features.min() < 0:
        raise ValueError("concept metrics take non-negative features (activations of ReLU-like units)")
    rows, columns = torch.nonzero(features > 0, as_tuple=True)
    return rows, columns, features[rows, columns]


def threshold_scores(features, concepts, thresholds=THRESHOLDS):
    """{precision, recall, f1, true_positives}: (T, F, C) arrays, for features (N, F) >= 0 and
    concepts (N, C) bool. A feature that never fires has precision 0. Thresholds ascending.

    Counted over the firing entries only: each is filed under the highest threshold it exceeds
    (one sparse product with the concepts), and a threshold's counts are the sum of those at
    it and above."""
    features, concepts = _as_tensor(features), _as_tensor(concepts)
    n_features, n_thresholds = features.shape[1], len(thresholds)
    maximum = features.max(dim=0).values
    rows, columns, values = _firing_entries(features)
    cuts = torch.tensor(thresholds, dtype=torch.float32) * maximum[columns].unsqueeze(1)  # (E, T), as t * max
    level = (values.unsqueeze(1) > cuts).sum(dim=1) - 1  # the highest threshold exceeded (every entry exceeds 0)
    bins = columns * n_thresholds + level
    filed = torch.sparse_coo_tensor(torch.stack([bins, rows]), torch.ones(len(rows)),
                                    (n_features * n_thresholds, len(features)), check_invariants=False)
    at_least = lambda counts: counts.flip(1).cumsum(1).flip(1).transpose(0, 1)  # (F, T, ...) -> (T, F, ...)
    tp = at_least(torch.sparse.mm(filed, concepts).reshape(n_features, n_thresholds, -1))  # (T, F, C)
    predicted = at_least(torch.bincount(bins, minlength=n_features * n_thresholds).float()
                         .reshape(n_features, n_thresholds)).unsqueeze(2)  # (T, F, 1)
    positives = concepts.sum(dim=0)  # (C,)
    return {"precision": (tp / predicted.clamp_min(1)).numpy(), "recall": (tp / positives.clamp_min(1)).numpy(),
            "f1": (2 * tp / (predicted + positives).clamp_min(1)).numpy(), "true_positives": tp.numpy()}


def auroc(features, concepts):
    """(F, C) area under the ROC curve of each feature's activation (N, F) >= 0 as a score for
    each concept (Mann-Whitney U, ties counted as half); 0.5 where a concept is always or never
    true.

    The rank sum of a concept is that of the zeros (tied at their mean rank) plus each firing
    entry's rank above that mean: a sparse product over the firing entries."""
    features = _as_tensor(features)
    concepts = torch.as_tensor(np.asarray(concepts, np.float64))
    n, n_features = features.shape
    rows, columns, values = (t.numpy() for t in _firing_entries(features))
    order = np.lexsort((values, columns))  # by feature, then activation
    rows, columns, values = rows[order], columns[order], values[order]
    zeros = n - np.bincount(columns, minlength=n_features)  # (F,)
    zero_rank = (zeros + 1) / 2
    # each entry's rank: past its feature's zeros, then its place among the firing ones, a run of
    # ties sharing its mean place
    place = np.arange(len(rows)) - np.searchsorted(columns, columns) + 1
    new_run = np.ones(len(columns), bool)
    new_run[1:] = (columns[1:] != columns[:-1]) | (values[1:] != values[:-1])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(columns))[:len(starts)]  # (none when nothing fires)
    rank = zeros[columns] + np.repeat((place[starts] + place[ends - 1]) / 2, ends - starts)
    offsets = torch.sparse_coo_tensor(torch.as_tensor(np.stack([columns, rows])), torch.as_tensor(rank - zero_rank[columns]),
                                      (n_features, n), check_invariants=False)
    positives = concepts.sum(dim=0)  # (C,)
    rank_sums = torch.as_tensor(zero_rank).unsqueeze(1) * positives + torch.sparse.mm(offsets, concepts)  # (F, C)
    u = (rank_sums - positives * (positives + 1) / 2).numpy()
    positives, negatives = positives.numpy(), n - positives.numpy()
    defined = (positives > 0) & (negatives > 0)
    return np.where(defined, u / np.maximum(positives * negatives, 1), 0.5)


def coverage(f1):
    """Mean over concepts of the best F1 over features and thresholds; f1 is (T, F, C)."""
    return float(f1.max(axis=(0, 1)).mean())


def labels_by_threshold(scores, min_precision=0.95, min_count=10):
    """(T, F, C) bool: the concepts each feature predicts at each threshold with precision >=
    min_precision on >= min_count positions (scores from `threshold_scores`)."""
    return (scores["precision"] >= min_precision) & (scores["true_positives"] >= min_count)


def feature_labels(scores, min_precision=0.95, min_count=10):
    """(F, C) bool: the concepts each feature predicts at some threshold (`labels_by_threshold`)."""
    return labels_by_threshold(scores, min_precision, min_count).any(axis=0)


def best_auroc(features, concepts):
    """(C,) each concept's best AUROC over the features (features that never fire score 0.5)."""
    features = np.asarray(features)
    alive = np.flatnonzero(features.max(axis=0) > 0)
    if len(alive) == 0:
        return np.full(np.asarray(concepts).shape[1], 0.5)
    return auroc(features[:, alive], concepts).max(axis=0)


def informative_labels(scores, base_rate, min_precision=0.95, min_count=10, min_gain=0.9, min_recall=0.1):
    """(F, C) bool: `feature_labels`, where besides the precision must close at least `min_gain`
    of the gap between the concept's base rate (C,) and 1 (a concept true in 90% of positions
    needs precision >= 0.99, so a feature that fires everywhere does not get it), and the
    feature must cover at least `min_recall` of the concept's positions (a feature that fires
    only in the opening implies that every corner is empty, but is no corner detector)."""
    needed = np.maximum(min_precision, np.asarray(base_rate) + min_gain * (1 - np.asarray(base_rate)))
    good = ((scores["precision"] >= needed) & (scores["true_positives"] >= min_count)
            & (scores["recall"] >= min_recall))
    return good.any(axis=0)


def board_reconstruction(train_features, train_scores, train_concepts, heldout_features, heldout_concepts, groups,
                         min_precision=0.95, min_count=10):
    """{group: (F1, t, precision, recall)} of the board read back from the features, as Karvonen
    et al. measure it. At
    each threshold t, a feature predicts the concepts it predicts at t on the training positions
    (`train_scores` from `threshold_scores`: precision >= min_precision on >= min_count
    positions) wherever it exceeds t times its training maximum; a position's predicted concepts
    are the union over its features. F1 over every (position, concept) of a group (`groups` maps
    a name to concept columns, e.g. the 36 'mine' squares), on held-out positions, at the
    threshold that scores best on the training positions. Its pooled precision and recall there
    say which of the two holds the F1 back."""
    labelled = torch.as_tensor(labels_by_threshold(train_scores, min_precision, min_count), dtype=torch.float32)
    maximum = _as_tensor(train_features).max(dim=0).values

    def counts_by_threshold(features, concepts):  # (T, groups, 3): true positives, predicted, actual
        actual = torch.as_tensor(np.asarray(concepts, bool))
        rows, columns, values = _firing_entries(_as_tensor(features))
        counts = np.zeros((len(THRESHOLDS), len(groups), 3))
        for t, threshold in enumerate(THRESHOLDS):
            above = values > threshold * maximum[columns]
            firing = torch.sparse_coo_tensor(torch.stack([rows[above], columns[above]]), torch.ones(int(above.sum())),
                                             (len(actual), len(maximum)), check_invariants=False)
            predicted = torch.sparse.mm(firing, labelled[t]) > 0  # (N, C)
            for g, columns_of_group in enumerate(groups.values()):
                p, a = predicted[:, columns_of_group], actual[:, columns_of_group]
                counts[t, g] = (p & a).sum().item(), p.sum().item(), a.sum().item()
        return counts

    def f1(counts):  # a group with nothing to find or claim: 1
        true_positives, predicted, actual = np.moveaxis(counts, -1, 0)
        return np.where(predicted + actual > 0, 2 * true_positives / np.maximum(predicted + actual, 1), 1.0)

    best = f1(counts_by_threshold(train_features, train_concepts)).argmax(axis=0)
    heldout = counts_by_threshold(heldout_features, heldout_concepts)
    result = {}
    for g, name in enumerate(groups):
        true_positives, predicted, actual = heldout[best[g], g]
        result[name] = (float(f1(heldout[best[g], g])), THRESHOLDS[best[g]],
                        float(true_positives / predicted) if predicted else 1.0, float(true_positives / actual) if actual else 1.0)
    return result


# The concept groups reported per SAE: coverage over every concept, and board reconstruction
# for the three groups Karvonen et al. report (whose squares, and where the side to move may play).
RECONSTRUCTED = ("mine", "theirs", "legal")


def concept_groups(names):
    """{group: column indices} by the part of each concept name before ':' (square concepts)."""
    groups = {}
    for i, name in enumerate(names):
        if ":" in name:
            groups.setdefault(name.split(":")[0], []).append(i)
    return groups


def concept_summary(train_features, train_concepts, heldout_features, heldout_concepts, names):
    """The per-SAE concept metrics: coverage and mean best AUROC on held-out positions (all
    concepts, and coverage per square-concept group), board reconstruction of RECONSTRUCTED on
    held-out positions with labels from the training positions, and how many features got a
    label and an informative label."""
    train_scores = threshold_scores(train_features, train_concepts)
    labels = feature_labels(train_scores)
    explained = informative_labels(train_scores, np.asarray(train_concepts).mean(axis=0))
    groups = concept_groups(names)
    best = threshold_scores(heldout_features, heldout_concepts)["f1"].max(axis=(0, 1))  # (C,)
    reconstruction = board_reconstruction(train_features, train_scores, train_concepts, heldout_features,
                                          heldout_concepts, {g: groups[g] for g in RECONSTRUCTED})
    return {"coverage": float(best.mean()), "auroc": float(best_auroc(heldout_features, heldout_concepts).mean()),
            **{f"coverage_{g}": float(best[columns].mean()) for g, columns in groups.items()},
            **{f"reconstruction_{g}": f1 for g, (f1, _, _, _) in reconstruction.items()},
            **{f"reconstruction_threshold_{g}": t for g, (_, t, _, _) in reconstruction.items()},
            **{f"reconstruction_precision_{g}": precision for g, (_, _, precision, _) in reconstruction.items()},
            **{f"reconstruction_recall_{g}": recall for g, (_, _, _, recall) in reconstruction.items()},
            "labelled_features": int(labels.any(axis=1).sum()),
            "explained_features": int(explained.any(axis=1).sum())}


def fit_probes(x, concepts, steps=300, lr=0.05, weight_decay=1e-4):
    """A logistic regression per concept on activations x (N, d), trained together (full batch,
    Adam, on standardised inputs). Returns (weights (C, d), bias (C,)) in raw activation space."""
    x = torch.as_tensor(x, dtype=torch.float32)
    y = _as_tensor(concepts)
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / std
    weight = torch.zeros(y.shape[1], x.shape[1], requires_grad=True)
    prior = y.mean(dim=0).clamp(1e-4, 1 - 1e-4)
    bias = torch.log(prior / (1 - prior)).clone().requires_grad_(True)  # start at the base rate
    optimiser = torch.optim.Adam([weight, bias], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        logits = z @ weight.T + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + weight_decay * weight.square().sum()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        raw_weight = weight / std
        return raw_weight, bias - raw_weight @ mean


def probe_summary(probes, x, concepts, names):
    """Held-out scores of `fit_probes`' probes, as concept_summary reports an SAE: each probe's
    logit is a feature for its own concept (best threshold over the probability's deciles)."""
    weight, bias = probes
    with torch.no_grad():
        probability = torch.sigmoid(torch.as_tensor(x, dtype=torch.float32) @ weight.T + bias).numpy()
    concepts = np.asarray(concepts, bool)
    f1 = np.stack([2 * (p & concepts).sum(axis=0) / np.maximum(p.sum(axis=0) + concepts.sum(axis=0), 1)
                   for p in (probability > t for t in np.arange(0.1, 1.0, 0.1))]).max(axis=0)  # (C,)
    areas = np.array([auroc(probability[:, [c]], concepts[:, [c]])[0, 0] for c in range(concepts.shape[1])])
    groups = concept_groups(names)
    return {"coverage": float(f1.mean()), "auroc": float(areas.mean()),
            **{f"coverage_{g}": float(f1[columns].mean()) for g, columns in groups.items()}}


def closest_features(probe_weight, decoder):
    """For each probe (C, d), the SAE feature whose decoder direction (F, d) points closest
    to it: (feature index (C,), cosine (C,))."""
    probe = torch.nn.functional.normalize(torch.as_tensor(probe_weight, dtype=torch.float32), dim=1)
    directions = torch.nn.functional.normalize(torch.as_tensor(decoder, dtype=torch.float32), dim=1)
    cosine, index = (probe @ directions.T).max(dim=1)
    return index.numpy(), cosine.numpy()
