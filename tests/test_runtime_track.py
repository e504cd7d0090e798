"""Labels hold steady: IoU tracking keeps ids, EMA smooths, hysteresis stops flicker at the threshold."""

from __future__ import annotations

import numpy as np

from edge_runtime.track import Tracker, decide, iou


def p(sad: float) -> np.ndarray:
    return np.array([1 - sad, sad], np.float32)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_label_does_not_flicker_around_threshold():
    tr = Tracker(("happy", "sad"), threshold=0.5, alpha=0.5, band=0.1)
    box = (10, 10, 50, 50)
    labels = [tr.update([box], [p(0.3)])[0].label]
    for s in [0.58, 0.45, 0.57, 0.44, 0.59, 0.46] * 3:  # noisy scores around the threshold
        labels.append(tr.update([box], [p(s)])[0].label)
    assert set(labels) == {"happy"}
    for _ in range(6):  # a clear change wins
        r = tr.update([box], [p(0.95)])[0]
    assert r.label == "sad" and r.score > 0.9
    for s in [0.45, 0.55, 0.44, 0.56] * 3:  # and holds just as steadily
        r = tr.update([box], [p(s)])[0]
        assert r.label == "sad"


def test_ids_follow_faces_and_survive_a_missed_frame():
    tr = Tracker(("happy", "sad"), max_misses=2)
    a, b = (0, 0, 40, 40), (200, 0, 40, 40)
    first = tr.update([a, b], [p(0.1), p(0.9)])
    ids = {r.box: r.track for r in first}
    moved = tr.update([(204, 2, 40, 40), (3, 1, 40, 40)], [p(0.9), p(0.1)])
    assert [r.track for r in moved] == [ids[b], ids[a]]
    assert all(isinstance(r.track, int) for r in moved)
    tr.update([], [])  # both missed once: remembered
    back = tr.update([(5, 2, 40, 40)], [p(0.1)])
    assert back[0].track == ids[a]
    for _ in range(3):
        tr.update([], [])
    new = tr.update([(5, 2, 40, 40)], [p(0.1)])
    assert new[0].track not in ids.values()  # forgotten after max_misses: a new id, never reused


def test_softmax_decision_needs_a_margin():
    s = np.array([0.4, 0.35, 0.25])
    assert decide(s, None, 0.5, 0.1) == 0
    assert decide(np.array([0.36, 0.44, 0.2]), 0, 0.5, 0.1) == 0
    assert decide(np.array([0.2, 0.6, 0.2]), 0, 0.5, 0.1) == 1


def test_result_dict_schema():
    r = Tracker(("happy", "sad")).update([(1, 2, 3, 4)], [p(0.25)])[0].to_dict()
    assert set(r) == {"box", "label", "score", "scores", "track"}
    assert r["box"] == [1, 2, 3, 4] and r["label"] == "happy" and r["score"] == 0.75
    assert r["scores"] == {"happy": 0.75, "sad": 0.25}


def test_uncertain_band_reports_neither_label_near_the_threshold():
    import numpy as np

    from edge_runtime.track import Tracker

    tr = Tracker(("happy", "sad"), threshold=0.5, alpha=1.0, uncertain=0.15)
    box = (0, 0, 10, 10)
    labels = [tr.update([box], [np.array([1 - p, p])])[0].label for p in (0.1, 0.45, 0.6, 0.9)]
    assert labels == ["happy", "uncertain", "uncertain", "sad"]
    plain = Tracker(("happy", "sad"), threshold=0.5, alpha=1.0)
    assert plain.update([box], [np.array([0.55, 0.45])])[0].label == "happy"
