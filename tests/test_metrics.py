import numpy as np

from train.metrics import classification_metrics, roc_auc, to_probabilities


def test_roc_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(bool)
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    expected = wins / (len(pos) * len(neg))
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


def test_metrics_use_the_one_decision_rule_at_the_given_threshold():
    import train.metrics as metrics_module

    assert not hasattr(metrics_module, "predict_labels"), "no second copy of edge_runtime.model.decision"
    y = np.array([0, 1, 0])
    p = to_probabilities(np.array([0.6, 0.8, 0.65]), 2)
    assert classification_metrics(y, p, ["happy", "sad"], threshold=0.7)["accuracy"] == 1.0
    assert classification_metrics(y, p, ["happy", "sad"], threshold=0.5)["accuracy"] == 1 / 3


def test_distributed_accuracy_uses_the_configured_threshold_not_0_5():
    import tensorflow as tf

    from train.dist_loop import correct_count

    y = tf.constant([0, 1, 0])
    p = tf.constant([[0.6], [0.8], [0.65]])  # one sigmoid unit: P(sad)
    assert float(correct_count(y, p, 2, 0.7)) == 3.0
    assert float(correct_count(y, p, 2, 0.5)) == 1.0
    three = tf.constant([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert float(correct_count(tf.constant([1, 0]), three, 3, 0.9)) == 2.0  # softmax: the most probable label
