"""Concept-recovery metrics on cases small enough to count by hand."""
import numpy as np
import pytest

from sae.concepts import (THRESHOLDS, auroc, best_auroc, board_reconstruction, closest_features,
                          coverage, feature_labels, fit_probes, informative_labels, probe_summary, threshold_scores)


def test_a_feature_equal_to_a_concept_scores_one():
    rng = np.random.default_rng(0)
    concept = rng.random(200) < 0.3
    features = np.stack([concept * rng.uniform(0.5, 1.0, 200), (~concept) * 1.0, rng.random(200)], axis=1)
    scores = threshold_scores(features, concept[:, None])
    assert scores["f1"][0, 0, 0] == pytest.approx(1.0)  # threshold 0: fires exactly on the concept
    areas = auroc(features, concept[:, None])
    assert areas[0, 0] == pytest.approx(1.0) and areas[1, 0] == pytest.approx(0.0)
    assert 0.4 < areas[2, 0] < 0.6  # unrelated
    assert coverage(scores["f1"]) == pytest.approx(1.0)


def test_precision_recall_f1_by_hand():
    # 6 positions; the concept holds on the first 3. The feature fires (> 0) on positions 2..5
    # with activations 1, 2, 3, 4: at threshold 0 it predicts 4 positions, 2 of them right.
    concept = np.array([1, 1, 1, 0, 0, 0], bool)[:, None]
    feature = np.array([0, 1, 2, 3, 4, 0], float)[:, None]
    scores = threshold_scores(feature, concept)
    assert scores["precision"][0, 0, 0] == pytest.approx(2 / 4)
    assert scores["recall"][0, 0, 0] == pytest.approx(2 / 3)
    assert scores["f1"][0, 0, 0] == pytest.approx(2 * 2 / (4 + 3))
    # threshold 0.5 x max = 2: only activations 3 and 4 (positions 3, 4) count, neither is right.
    half = THRESHOLDS.index(0.5)
    assert scores["true_positives"][half, 0, 0] == 0 and scores["precision"][half, 0, 0] == 0


def test_auroc_counts_ties_as_half():
    # Scores 0, 0 | 0, 1 for negatives | positives: pairs (pos, neg): (0,0) twice = 0.5 each,
    # (1,0) twice = 1 each -> (1 + 2) / 4.
    features = np.array([[0.0], [0.0], [0.0], [1.0]])
    concept = np.array([[0], [0], [1], [1]], bool)
    assert auroc(features, concept)[0, 0] == pytest.approx(0.75)
    tied = np.array([[3.0], [1.0], [3.0], [2.0]])  # ties among firing values too: (1 + 0.5) / 2 + ...
    assert auroc(tied, np.array([[1], [0], [0], [1]], bool))[0, 0] == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert auroc(features, np.ones((4, 1), bool))[0, 0] == 0.5  # undefined: no negatives
    assert auroc(np.zeros((4, 2)), concept).tolist() == [[0.5], [0.5]]  # nothing fires: every score tied


def sparse_features(rng, n, f):
    """Features like an SAE's: mostly zero, some columns dead or always on, ties among values."""
    features = np.where(rng.random((n, f)) < 0.2, rng.integers(1, 6, (n, f)) / 4, 0.0)
    features[:, 0] = 0  # dead
    features[:, 1] = rng.random(n) + 0.1  # fires everywhere
    return features


def test_threshold_scores_match_a_dense_count():
    rng = np.random.default_rng(4)
    features, concepts = sparse_features(rng, 300, 7), rng.random((300, 5)) < 0.3
    scores = threshold_scores(features, concepts)
    for i, t in enumerate(THRESHOLDS):
        active = features > t * features.max(axis=0)  # (N, F)
        tp = active.T.astype(float) @ concepts
        predicted = active.sum(axis=0)[:, None]
        np.testing.assert_array_equal(scores["true_positives"][i], tp)
        np.testing.assert_allclose(scores["precision"][i], tp / np.maximum(predicted, 1), rtol=1e-6)
        np.testing.assert_allclose(scores["recall"][i], tp / np.maximum(concepts.sum(axis=0), 1), rtol=1e-6)
        np.testing.assert_allclose(scores["f1"][i], 2 * tp / np.maximum(predicted + concepts.sum(axis=0), 1), rtol=1e-6)


def test_auroc_matches_counting_every_pair():
    rng = np.random.default_rng(5)
    features, concepts = sparse_features(rng, 80, 6), rng.random((80, 4)) < 0.4
    concepts[:, 3] = True  # undefined: 0.5
    expected = np.full((6, 4), 0.5)
    for f in range(6):
        for c in range(3):
            pos, neg = features[concepts[:, c], f], features[~concepts[:, c], f]
            pairs = pos[:, None] - neg[None, :]
            expected[f, c] = ((pairs > 0) + 0.5 * (pairs == 0)).mean()
    np.testing.assert_allclose(auroc(features, concepts), expected, atol=1e-9)


def test_negative_features_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        threshold_scores(np.array([[-1.0], [1.0]]), np.array([[True], [False]]))


def reconstruct(features, concepts, groups, heldout=None):
    heldout_features, heldout_concepts = heldout or (features, concepts)
    return board_reconstruction(features, threshold_scores(features, concepts), concepts,
                                heldout_features, heldout_concepts, groups)


def test_labels_and_board_reconstruction():
    rng = np.random.default_rng(1)
    concepts = rng.random((500, 4)) < 0.4
    features = concepts.astype(float) * rng.uniform(0.5, 1, (500, 4))  # feature i = concept i
    features = np.concatenate([features, rng.random((500, 1))], axis=1)  # plus noise
    labels = feature_labels(threshold_scores(features, concepts))
    assert labels[:4, :4].tolist() == np.eye(4, dtype=bool).tolist() and not labels[4].any()
    result = reconstruct(features, concepts, {"all": [0, 1, 2, 3], "first two": [0, 1]})
    assert {name: f1 for name, (f1, _, _, _) in result.items()} == {"all": pytest.approx(1.0), "first two": pytest.approx(1.0)}
    # Only the noise feature: nothing is labelled, nothing predicted, F1 0.
    assert reconstruct(features[:, 4:], concepts, {"all": [0, 1, 2, 3]})["all"][0] == 0
    # Half the feature columns: every claim right, half the board found.
    f1, _, precision, recall = reconstruct(features[:, [0, 1, 4]], concepts, {"all": [0, 1, 2, 3]})["all"]
    half = concepts[:, :2].sum() / concepts.sum()
    assert precision == 1 and recall == pytest.approx(half) and f1 == pytest.approx(2 * half / (1 + half))


def test_board_reconstruction_reads_a_feature_only_above_the_threshold_it_was_labelled_at():
    # A feature that fires weakly everywhere and strongly exactly where the concept holds: it
    # predicts the concept only above half its maximum, and the board is read back at that cut.
    rng = np.random.default_rng(4)
    concepts = rng.random((2000, 1)) < 0.3
    features = np.where(concepts, rng.uniform(0.8, 1, concepts.shape), rng.uniform(0.01, 0.3, concepts.shape))
    train, heldout = slice(0, 1000), slice(1000, None)
    (f1, threshold, _, _), = reconstruct(features[train], concepts[train], {"c": [0]},
                                  (features[heldout], concepts[heldout])).values()
    assert f1 == pytest.approx(1.0) and 0.3 <= threshold < 0.8


def test_a_feature_that_fires_everywhere_labels_only_rare_concepts_informatively():
    rng = np.random.default_rng(2)
    common = rng.random(1000) < 0.97  # true almost everywhere: precision 0.97 from firing always
    rare = rng.random(1000) < 0.2
    concepts = np.stack([common, rare], axis=1)
    always = np.ones((1000, 1))
    exact_rare = rare[:, None] * 1.0
    sliver = (rare & (np.cumsum(rare) <= 12))[:, None] * 1.0  # the first 12 rare positions: 6% of them
    features = np.concatenate([always, exact_rare, sliver], axis=1)
    scores = threshold_scores(features, concepts)
    assert feature_labels(scores)[0, 0]  # the plain precision rule is fooled by the base rate
    informative = informative_labels(scores, concepts.mean(axis=0))
    assert not informative[0, 0] and informative[1, 1]
    assert feature_labels(scores)[2, 1] and not informative[2, 1]  # precise, but covers too little
    np.testing.assert_allclose(best_auroc(features[:, :2], concepts), [0.5, 1.0])


def test_probes_find_linear_concepts_and_their_closest_feature():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 8)).astype(np.float32)
    concepts = np.stack([x[:, 0] > 0.5, x[:, 1] - x[:, 2] > 0], axis=1)
    probes = fit_probes(x[:1000], concepts[:1000])
    summary = probe_summary(probes, x[1000:], concepts[1000:], ["a", "b"])
    assert summary["auroc"] > 0.98 and summary["coverage"] > 0.9
    decoder = np.stack([np.eye(8)[3], np.eye(8)[0], (np.eye(8)[1] - np.eye(8)[2]) / np.sqrt(2)])
    index, cosine = closest_features(probes[0], decoder)
    assert index.tolist() == [1, 2] and (cosine > 0.95).all()
