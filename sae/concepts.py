"""How well SAE features recover board concepts, after Karvonen et al. 2024 ("Measuring
progress in dictionary learning for language model interpretability with board game models").

A feature "predicts" a concept at threshold t when its activation exceeds t * (its maximum):
t in THRESHOLDS = 0, 0.1, ..., 0.9 (at 1.0 nothing would exceed the maximum). Everything is
counted with matrix products over the whole batch: features (N, F) against concepts (N, C).

    precision, recall, F1  per threshold, feature and concept
    AUROC                  per feature and concept, from the raw activations (ties averaged)
    coverage               for each concept its best feature's F1 (best threshold), averaged
    board reconstruction   label each feature with the concepts it predicts at precision >= 0.95
                           on >= 10 positions (training set); on held-out positions predict the
                           concepts as the union of the labels of the firing features; the mean
                           F1 per position over a group of concepts (e.g. the 36 "mine" squares)
"""
import numpy as np
import torch

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(10))


def _as_tensor(x):
    return torch.as_tensor(np.asarray(x, np.float32))


def threshold_scores(features, concepts, thresholds=THRESHOLDS):
    """{precision, recall, f1, true_positives}: (T, F, C) arrays, for features (N, F) >= 0 and
    concepts (N, C) bool. A feature that never fires has precision 0."""
    features, concepts = _as_tensor(features), _as_tensor(concepts)
    maximum = features.max(dim=0).values
    positives = concepts.sum(dim=0)  # (C,)
    out = {"precision": [], "recall": [], "f1": [], "true_positives": []}
    for t in thresholds:
        active = (features > t * maximum).float()  # (N, F); never fires where the maximum is 0
        tp = active.T @ concepts  # (F, C)
        predicted = active.sum(dim=0).unsqueeze(1)  # (F, 1)
        precision = tp / predicted.clamp_min(1)
        recall = tp / positives.clamp_min(1)
        f1 = 2 * tp / (predicted + positives).clamp_min(1)
        for name, value in (("precision", precision), ("recall", recall), ("f1", f1), ("true_positives", tp)):
            out[name].append(value)
    return {name: torch.stack(values).numpy() for name, values in out.items()}


def average_ranks(values):
    """Ranks 1..N of each column of (N, F), ties sharing their average rank."""
    values = np.asarray(values)
    order = np.argsort(values, axis=0, kind="stable")
    ranks = np.empty(values.shape, np.float64)
    n = len(values)
    for column in range(values.shape[1]):
        sorted_values = values[order[:, column], column]
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        ends = np.r_[starts[1:], n]
        average = (starts + ends + 1) / 2  # mean of the 1-based ranks start+1 .. end
        ranks[order[:, column], column] = np.repeat(average, ends - starts)
    return ranks


def auroc(features, concepts):
    """(F, C) area under the ROC curve of each feature's activation as a score for each concept
    (Mann-Whitney U); 0.5 where a concept is always or never true."""
    ranks = average_ranks(features)  # (N, F)
    concepts = np.asarray(concepts, np.float64)
    positives = concepts.sum(axis=0)  # (C,)
    negatives = len(concepts) - positives
    rank_sums = ranks.T @ concepts  # (F, C)
    u = rank_sums - positives * (positives + 1) / 2
    defined = (positives > 0) & (negatives > 0)
    return np.where(defined, u / np.maximum(positives * negatives, 1), 0.5)


def coverage(f1):
    """Mean over concepts of the best F1 over features and thresholds; f1 is (T, F, C)."""
    return float(f1.max(axis=(0, 1)).mean())


def feature_labels(scores, min_precision=0.95, min_count=10):
    """(F, C) bool: the concepts each feature predicts at some threshold with precision >=
    min_precision on >= min_count positions (scores from `threshold_scores`)."""
    good = (scores["precision"] >= min_precision) & (scores["true_positives"] >= min_count)
    return good.any(axis=0)


def board_reconstruction(features, labels, concepts, groups):
    """{group: mean F1 per position} when the concepts of each held-out position are predicted
    as the union of the labels of its firing features. `groups` maps a name to the concept
    columns it covers (e.g. the 36 'mine' squares)."""
    firing = _as_tensor(np.asarray(features) > 0)
    predicted = (firing @ _as_tensor(labels)) > 0  # (N, C)
    actual = torch.as_tensor(np.asarray(concepts, bool))
    result = {}
    for name, columns in groups.items():
        p, a = predicted[:, columns], actual[:, columns]
        tp = (p & a).sum(dim=1).float()
        denominator = (p.sum(dim=1) + a.sum(dim=1)).float()
        f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.ones_like(tp))  # both empty: 1
        result[name] = f1.mean().item()
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
    """The per-SAE concept metrics: coverage on held-out positions (all concepts, and per
    square-concept group), board reconstruction of RECONSTRUCTED on held-out positions with
    labels from the training positions, and how many features got a label."""
    labels = feature_labels(threshold_scores(train_features, train_concepts))
    groups = concept_groups(names)
    best = threshold_scores(heldout_features, heldout_concepts)["f1"].max(axis=(0, 1))  # (C,)
    reconstruction = board_reconstruction(heldout_features, labels, heldout_concepts,
                                          {g: groups[g] for g in RECONSTRUCTED})
    return {"coverage": float(best.mean()),
            **{f"coverage_{g}": float(best[columns].mean()) for g, columns in groups.items()},
            **{f"reconstruction_{g}": value for g, value in reconstruction.items()},
            "labelled_features": int(labels.any(axis=1).sum())}
