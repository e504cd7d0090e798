"""Converter pieces that need no TensorFlow: metrics, calibration sampling, the op-version table, the table."""

from __future__ import annotations

import numpy as np
import pytest

from convert import calibration, compat, evaluate
from convert.errors import ConvertError
from edge_runtime.model.tflite_meta import FlatModel, OpCode


def test_binary_metrics_and_rank_auc_with_ties():
    y = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([[0.1], [0.6], [0.6], [0.9], [0.4], [0.2]])  # one tie across classes
    m = evaluate.classification_metrics(y, scores, ["happy", "sad"], 0.5)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    # pairs (pos, neg): 9; pos 0.6 vs neg 0.6 is a tie (0.5), pos 0.4 beats only 0.1 and 0.2
    assert m["roc_auc"] == pytest.approx((3 + 2.5 + 2) / 9)
    assert m["f1"] == {"happy": pytest.approx(2 / 3), "sad": pytest.approx(2 / 3)}
    assert m["roc_auc_per_class"]["sad"] == pytest.approx(m["roc_auc"])


def test_softmax_metrics_one_vs_rest():
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    m = evaluate.classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert set(m["roc_auc_per_class"]) == {"a", "b", "c"}
    assert m["roc_auc_per_class"]["b"] == pytest.approx(1.0)
    assert m["roc_auc"] == pytest.approx(np.mean(list(m["roc_auc_per_class"].values())))
    cmp = evaluate.compare(probs, probs[:, [0, 1, 2]] * 0.9 + 0.1 / 3, 3)
    assert cmp["agreement"] == 1.0 and cmp["max_abs_prob_diff"] == pytest.approx(0.8 - (0.72 + 0.1 / 3))


def test_agreement_and_near_constant_alarm():
    ref = np.array([[0.1], [0.9], [0.7], [0.3]])
    cmp = evaluate.compare(ref, np.array([[0.2], [0.9], [0.4], [0.3]]), 2)
    assert cmp["agreement"] == 0.75 and cmp["max_abs_prob_diff"] == pytest.approx(0.3)
    assert evaluate.near_constant(ref) is None
    assert "near-constant" in evaluate.near_constant(np.full((5, 1), 0.5))
    assert "near-constant" in evaluate.near_constant(0.5 + 1e-5 * np.arange(5)[:, None])
    assert evaluate.near_constant(np.array([[0.0], [0.996], [0.0]])) is None  # a confident int8 model is fine


def test_stratified_indices_keep_class_shares():
    labels = [0] * 90 + [1] * 10
    idx = calibration.stratified_indices(labels, 20, seed=1)
    assert len(idx) == 20 and len(set(idx)) == 20
    assert sum(labels[i] for i in idx) == 2
    assert list(idx) == list(calibration.stratified_indices(labels, 20, seed=1))  # seeded
    assert len(calibration.stratified_indices(labels, 500)) == 100
    tiny = calibration.stratified_indices([0] * 50 + [1] * 1 + [2] * 1, 3)
    assert sorted(np.asarray([0] * 50 + [1, 2])[tiny]) == [0, 1, 2]  # every class at least once


def _flat(ops, conv_min=None):
    meta = {"min_runtime_version": conv_min.encode()} if conv_min else {}
    return FlatModel(metadata=meta, op_codes=tuple(OpCode(n, v) for n, v in ops), inputs=(), outputs=(), version=3)


def test_min_runtime_from_op_versions_and_converter_entry():
    c = compat.analyse(_flat([("CONV_2D", 3), ("FULLY_CONNECTED", 4), ("LOGISTIC", 2)], "1.14.0"))
    assert c.min_runtime_version == "1.14.0" and not c.unknown
    assert compat.target_problem(c, "tflite-runtime") is None
    c = compat.analyse(_flat([("CONV_2D", 5), ("FULLY_CONNECTED", 9)]))
    assert c.min_runtime_version == "2.4.0"
    assert compat.analyse(_flat([("RESHAPE", 1)], "2.9.0")).min_runtime_version == "2.9.0"
    assert compat.version_key("2.17.0") > compat.version_key("2.4.0")


def test_tflite_runtime_target_refuses_newer_or_unknown_ops():
    fc12 = compat.analyse(_flat([("CONV_2D", 5), ("FULLY_CONNECTED", 12)], "2.17.0"))
    assert fc12.min_runtime_version == "2.17.0"
    reason = compat.target_problem(fc12, "tflite-runtime")
    assert "FULLY_CONNECTED v12" in reason and "2.14" in reason
    assert compat.target_problem(fc12, "litert") is None
    unknown = compat.analyse(_flat([("CONV_2D", 99)]))
    assert unknown.unknown == ("CONV_2D v99",)
    assert "not in the op-version table" in compat.target_problem(unknown, "tflite-runtime")


def test_quantize_kinds_are_validated():
    from convert.core import output_kinds

    assert output_kinds(["int8", "dynamic", "int8"]) == ["float32", "dynamic", "int8"]
    assert output_kinds([]) == ["float32"]
    with pytest.raises(ConvertError, match="unknown --quantize int4"):
        output_kinds(["int4"])


def test_labels_follow_the_device_decision_rule():
    """predicted_labels is edge_runtime.model.decision.label_indices (P(labels[1]) >= threshold, inclusive)."""
    from edge_runtime.model.decision import label_indices

    sigmoid = np.array([[0.3], [0.7], [0.69999], [1.0]])
    assert list(evaluate.predicted_labels(sigmoid, 2, threshold=0.7)) == [0, 1, 0, 1]
    softmax = np.random.default_rng(0).dirichlet(np.ones(3), size=50)
    assert (evaluate.predicted_labels(softmax, 3) == label_indices(softmax, 0.5)).all()


def test_no_second_interpreter_or_decision_rule_in_convert():
    """The parity check runs the device's code: convert/ builds no interpreter and holds no copy of the rule."""
    from pathlib import Path

    source = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[1] / "convert").glob("*.py"))
    for copy in ("Interpreter(", "set_tensor(", "get_tensor(", ">= threshold", "argmax(axis=1)", "predict_labels"):
        assert copy not in source, copy


def test_output_folder_checks(tmp_path):
    from convert.outputs import check_writable

    check_writable(tmp_path)  # exists, writable
    check_writable(tmp_path / "new" / "deeper")  # created later, from a writable parent
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == []  # the probe leaves nothing
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConvertError, match="exists and is not a folder"):
        check_writable(tmp_path / "file")
    with pytest.raises(ConvertError, match="is not a folder"):
        check_writable(tmp_path / "file" / "out")


def test_corrupt_metrics_are_named_not_swallowed(tmp_path):
    from convert.inputs import read_metrics

    assert read_metrics(tmp_path / "metrics.json") == (None, None)  # absent: nothing to say
    (tmp_path / "metrics.json").write_text('{"splits": {}}')
    assert read_metrics(tmp_path / "metrics.json") == ({"splits": {}}, None)
    (tmp_path / "metrics.json").write_text('{"splits": ')
    metrics, problem = read_metrics(tmp_path / "metrics.json")
    assert metrics is None and problem.startswith(f"ignoring {tmp_path / 'metrics.json'}: ")
