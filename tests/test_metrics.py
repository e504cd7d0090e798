import numpy as np

from train.metrics import classification_metrics, roc_auc, to_probabilities


def test_roc_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(bool)
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y], s[~y]
    expected = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert abs(roc_auc(y, s) - expected) < 1e-12
    assert roc_auc(np.ones(3, bool), np.zeros(3)) is None


def test_binary_metrics_by_hand():
    y = np.array([0, 0, 0, 1])
    p = to_probabilities(np.array([0.1, 0.2, 0.7, 0.9]), 2)
    m = classification_metrics(y, p, ["happy", "sad"])
    assert m["confusion_matrix"] == [[2, 1], [0, 1]]
    assert m["accuracy"] == 0.75
    assert abs(m["balanced_accuracy"] - (2 / 3 + 1) / 2) < 1e-12
    assert m["per_class"]["sad"]["precision"] == 0.5
    assert m["roc_auc"] == 1.0
