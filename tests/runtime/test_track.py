"""Labels hold steady: IoU tracking keeps ids, smoothing in seconds, hysteresis on the decision and on the
uncertain band. All deterministic, on synthetic score sequences."""

from __future__ import annotations

import itertools

import numpy as np

from edge_runtime.run.track import Steadiness, Tracker, decide, ema_weight, iou

BOX = (10, 10, 50, 50)
# The uncertain band alone: no smoothing, nothing held back; with and without hysteresis at its edges.
BAND_ONLY = Steadiness(tau_s=0.0, uncertain=0.15, uncertain_margin=0.06, hold_s=0.0, uncertain_hold_s=0.0)
NO_MARGIN = Steadiness(tau_s=0.0, uncertain=0.15, uncertain_margin=0.0, hold_s=0.0, uncertain_hold_s=0.0)


def p(sad: float) -> np.ndarray:
    return np.array([1 - sad, sad], np.float32)


def run(tr: Tracker, scores: list[float], fps: float) -> list[str]:
    """Feed one face's P(sad) sequence at ``fps``; the reported labels."""
    return [tr.update([BOX], [p(s)], i / fps)[0].label for i, s in enumerate(scores)]


def changes(labels: list[str]) -> int:
    return sum(a != b for a, b in itertools.pairwise(labels))


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_label_does_not_flicker_around_threshold():
    tr = Tracker(("happy", "sad"), threshold=0.5, steadiness=Steadiness(tau_s=0.1, band=0.1, hold_s=0.0))
    labels = run(tr, [0.3] + [0.58, 0.45, 0.57, 0.44, 0.59, 0.46] * 3, fps=10)
    assert set(labels) == {"happy"}
    r = None
    for i in range(6):  # a clear change wins
        r = tr.update([BOX], [p(0.95)], 2.0 + i / 10)[0]
    assert r is not None and r.label == "sad" and r.score > 0.9
    for i, s in enumerate([0.45, 0.55, 0.44, 0.56] * 3):  # and holds just as steadily
        assert tr.update([BOX], [p(s)], 3.0 + i / 10)[0].label == "sad"


def test_uncertain_band_has_hysteresis_at_its_edges():
    """A score wandering around the band's edge used to toggle 'uncertain' on every crossing."""
    wander = [0.5 + 0.15 + 0.02 * (-1) ** i for i in range(40)]  # 0.63 / 0.67 around the 0.65 edge
    steady = Tracker(
        ("happy", "sad"),
        steadiness=BAND_ONLY,
    )
    plain = Tracker(
        ("happy", "sad"),
        steadiness=NO_MARGIN,
    )
    assert changes(run(plain, wander, fps=10)) >= 30
    assert changes(run(steady, wander, fps=10)) == 0
    # and still follows a real move into and out of the band
    labels = run(
        Tracker(
            ("happy", "sad"),
            steadiness=BAND_ONLY,
        ),
        [0.9, 0.52, 0.1],
        10,
    )
    assert labels == ["sad", "uncertain", "happy"]


def test_smoothing_is_in_seconds_not_frames():
    """The same step from happy to sad takes the same time to follow at 10 FPS and at 100 FPS."""

    def delay(fps: float) -> float:
        tr = Tracker(("happy", "sad"), steadiness=Steadiness(tau_s=0.25, hold_s=0.0))
        scores = [0.1] * int(2 * fps) + [0.9] * int(2 * fps)
        labels = run(tr, scores, fps)
        return labels.index("sad") / fps - 2.0

    slow, fast = delay(10), delay(100)
    assert 0.05 < fast < 0.5 and abs(slow - fast) <= 0.1 + 1e-9


def test_a_new_label_is_reported_once_held():
    """A blink is not a change; a change that lasts is reported ``hold_s`` after the scores say it."""
    tr = Tracker(("happy", "sad"), steadiness=Steadiness(tau_s=0.0, hold_s=0.25))
    assert run(tr, [0.1] * 10 + [0.9] + [0.1] * 10, fps=10) == ["happy"] * 21
    labels = run(Tracker(("happy", "sad"), steadiness=Steadiness(tau_s=0.0, hold_s=0.25)), [0.1] * 10 + [0.9] * 10, 10)
    assert labels.index("sad") == 13  # said from frame 10, held 0.25 s: reported at 1.3 s
    held = Tracker(("happy", "sad"), steadiness=Steadiness(tau_s=0.0, hold_s=0.25))
    results = [held.update([BOX], [p(s)], i / 10)[0] for i, s in enumerate([0.1] * 3 + [0.9] * 2)]
    assert results[-1].label == "happy" and abs(results[-1].score - 0.1) < 1e-6  # the score of what is shown


def test_uncertain_is_reported_only_once_it_lasts_and_a_switch_passes_through_the_band():
    """'uncertain' needs ``uncertain_hold_s`` (0.6 s by default), a label ``hold_s``: a face hovering at the
    band for a moment keeps its label, one that stays there is called uncertain, and a real switch from happy
    to sad crosses the band without showing 'uncertain' on the way."""
    s = Steadiness(tau_s=0.0, uncertain=0.15, uncertain_margin=0.0, hold_s=0.15)
    assert s.uncertain_hold_s == 0.6 and s.hold_for("uncertain") == 0.6 and s.hold_for("sad") == 0.15
    brief = run(Tracker(("happy", "sad"), steadiness=s), [0.1] * 10 + [0.55] * 5 + [0.1] * 10, fps=10)
    assert set(brief) == {"happy"}  # 0.5 s in the band: not reported
    lasting = run(Tracker(("happy", "sad"), steadiness=s), [0.1] * 10 + [0.55] * 10, fps=10)
    assert lasting.index("uncertain") == 16  # in the band from 1.0 s, reported 0.6 s later
    switch = run(Tracker(("happy", "sad"), steadiness=s), [0.1] * 10 + [0.3, 0.5, 0.7] + [0.9] * 10, fps=10)
    assert "uncertain" not in switch and switch.index("sad") == 14  # sad from 1.2 s, held 0.15 s


def test_ema_weight():
    assert ema_weight(0.1, 0.0) == 1.0
    assert abs(ema_weight(0.25, 0.25) - (1 - np.exp(-1))) < 1e-12
    assert ema_weight(-1.0, 0.25) == 0.0  # a clock that steps back never overshoots


def test_ids_follow_faces_and_survive_a_missed_frame():
    tr = Tracker(("happy", "sad"), max_misses=2)
    a, b = (0, 0, 40, 40), (200, 0, 40, 40)
    first = tr.update([a, b], [p(0.1), p(0.9)], 0.0)
    ids = {r.box: r.track for r in first}
    moved = tr.update([(204, 2, 40, 40), (3, 1, 40, 40)], [p(0.9), p(0.1)], 0.1)
    assert [r.track for r in moved] == [ids[b], ids[a]]
    assert all(isinstance(r.track, int) for r in moved)
    tr.update([], [], 0.2)  # both missed once: remembered
    back = tr.update([(5, 2, 40, 40)], [p(0.1)], 0.3)
    assert back[0].track == ids[a]
    for i in range(3):
        tr.update([], [], 0.4 + i / 10)
    new = tr.update([(5, 2, 40, 40)], [p(0.1)], 0.8)
    assert new[0].track not in ids.values()  # forgotten after max_misses: a new id, never reused


def test_softmax_decision_needs_a_margin():
    s = np.array([0.4, 0.35, 0.25])
    assert decide(s, None, 0.5, 0.1) == 0
    assert decide(np.array([0.36, 0.44, 0.2]), 0, 0.5, 0.1) == 0
    assert decide(np.array([0.2, 0.6, 0.2]), 0, 0.5, 0.1) == 1


def test_result_dict_schema():
    r = Tracker(("happy", "sad")).update([(1, 2, 3, 4)], [p(0.25)], 0.0)[0].to_dict()
    assert set(r) == {"box", "label", "score", "scores", "track"}
    assert r["box"] == [1, 2, 3, 4] and r["label"] == "happy" and r["score"] == 0.75
    assert r["scores"] == {"happy": 0.75, "sad": 0.25}


def test_uncertain_band_reports_neither_label_near_the_threshold():
    tr = Tracker(
        ("happy", "sad"),
        steadiness=BAND_ONLY,
    )
    assert run(tr, [0.1, 0.45, 0.6, 0.9], fps=10) == ["happy", "uncertain", "uncertain", "sad"]
    plain = Tracker(("happy", "sad"), steadiness=Steadiness(tau_s=0.0, hold_s=0.0))
    assert plain.update([BOX], [p(0.45)], 0.0)[0].label == "happy"


def test_three_labels_are_uncertain_when_the_two_best_are_close():
    """The one 'uncertain' rule for any number of labels: the two best scores closer than twice the band."""
    tracker = Tracker(("happy", "neutral", "sad"), 0.5, Steadiness(uncertain=0.1, tau_s=0.0, hold_s=0.0))
    box = (10, 10, 40, 40)
    said = []
    for i in range(30):  # 1 s at 30 FPS: long past the 0.6 s 'uncertain' hold
        said.append(tracker.update([box], [np.array([0.45, 0.42, 0.13])], clock=i / 30)[0].label)
    assert said[0] == "uncertain" and said[-1] == "uncertain"
    clear = [tracker.update([box], [np.array([0.8, 0.1, 0.1])], clock=1 + i / 30)[0].label for i in range(30)]
    assert clear[-1] == "happy"


def test_a_far_face_is_carried_over_the_frames_between_wide_searches_and_then_dropped():
    tr = Tracker(("happy", "sad"))
    near, far = (300, 100, 120, 120), (20, 20, 40, 40)
    p = [np.array([0.9, 0.1]), np.array([0.2, 0.8])]
    first = tr.update([near, far], p, 0.0, carry=2)  # a wide-search frame: both found
    assert [r.box for r in first] == [near, far]
    for k in (1, 2):  # frames between: only the near face is found; the far one is carried, unchanged
        out = tr.update([near], p[:1], k / 30, carry=2)
        assert [r.box for r in out] == [near, far] and out[1].track == first[1].track
        assert out[1].scores == first[1].scores and out[1].carried and not out[0].carried
        assert out[1].to_dict()["carried"] is True and "carried" not in out[0].to_dict()
    assert [r.box for r in tr.update([near], p[:1], 3 / 30, carry=2)] == [near], "missed past the carry: dropped"
    assert [r.box for r in Tracker(("happy", "sad")).update([near], p[:1], 0.0)] == [near]
    plain = Tracker(("happy", "sad"))
    plain.update([near, far], p, 0.0)
    assert [r.box for r in plain.update([near], p[:1], 1 / 30)] == [near], "no carry unless asked"


def test_a_face_is_carried_past_the_usual_misses_when_the_wide_search_is_rarer():
    tr = Tracker(("happy", "sad"), max_misses=2)
    far = (20, 20, 40, 40)
    first = tr.update([far], [np.array([0.9, 0.1])], 0.0, carry=9)
    for k in range(1, 10):  # nine frames between two wide searches: carried on every one
        out = tr.update([], [], k / 30, carry=9)
        assert [r.track for r in out] == [first[0].track] and out[0].carried, k
    assert tr.update([], [], 10 / 30, carry=9) == []
