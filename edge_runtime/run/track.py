"""Keep each face's label steady: match faces across frames by box overlap, smooth their scores with an
exponential moving average whose time constant is in seconds (a 10 FPS Pi and a 100 FPS laptop behave the
same), and change a label, or enter and leave 'uncertain', only once the score is clearly past the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import count

import numpy as np

from edge_runtime.model.decision import label_index, uncertain_distance
from edge_runtime.model.preprocess import Box
from edge_runtime.model.spec import ModelInfo
from edge_runtime.results import FaceResult

UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Steadiness:
    """How labels hold still. ``tau_s``: the EMA's time constant (0: no smoothing); ``band``: the margin past
    the threshold a score needs to change the label; ``uncertain``: |P - threshold| below this is reported
    as 'uncertain' (0: never), entered below ``uncertain - margin/2`` and left from ``uncertain + margin/2``;
    ``hold_s``: a new label is reported once the scores have said it for this long (a blink is not a change);
    ``uncertain_hold_s``: the same for 'uncertain', longer, because a face passing through the band on its
    way from one label to the other is not uncertain, and real faces hover at its edges (on ``face_clip.mp4``
    most label changes were moves into and out of it: ``bench/stability.py``)."""

    tau_s: float = 0.1
    band: float = 0.1
    uncertain: float = 0.0
    uncertain_margin: float = 0.1
    hold_s: float = 0.15
    uncertain_hold_s: float = 0.6

    def hold_for(self, label: str) -> float:
        """Seconds ``label`` must be said before it is reported."""
        return self.uncertain_hold_s if label == UNCERTAIN else self.hold_s


@dataclass
class Track:
    id: int
    box: Box
    scores: np.ndarray  # smoothed probability per label
    label: int
    clock: float  # when the scores were last updated, seconds
    uncertain: bool = False
    misses: int = 0
    shown: str = ""  # the label reported
    pending: str = ""  # a different label the scores say, not yet held for hold_s
    pending_since: float = 0.0


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def decide(scores: np.ndarray, current: int | None, threshold: float, band: float) -> int:
    """The label index by the one rule (``decision.label_index``), with hysteresis: leaving the current
    label needs a margin of ``band``. Two labels: P(labels[1]) must pass threshold +- band; more: the best
    label must beat the current one by ``band``."""
    best = label_index(scores, threshold)
    if current is None or best == current:
        return best
    if len(scores) == 2:
        p = float(scores[1])
        return best if (p >= threshold + band if best == 1 else p < threshold - band) else current
    return best if scores[best] - scores[current] > band else current


def is_uncertain(scores: np.ndarray, threshold: float, current: bool | None, s: Steadiness) -> bool:
    """Whether the scores are 'uncertain' (``decision.uncertain_distance`` below the band), with hysteresis
    at both edges of the band."""
    if s.uncertain <= 0.0:
        return False
    distance = float(uncertain_distance(np.asarray(scores, np.float64)[None], threshold)[0])
    if current is None:
        return distance < s.uncertain
    if current:
        return distance < s.uncertain + s.uncertain_margin / 2
    return distance < s.uncertain - s.uncertain_margin / 2


def ema_weight(dt: float, tau_s: float) -> float:
    """The weight of a new score after ``dt`` seconds: 1 - exp(-dt / tau), so smoothing is in seconds."""
    if tau_s <= 0.0:
        return 1.0
    return 1.0 - math.exp(-max(dt, 0.0) / tau_s)


def tracker_for(info: ModelInfo) -> Tracker:
    """The tracker that decides labels as a model's metadata says: labels, threshold, uncertain band."""
    return Tracker(info.labels, info.threshold, Steadiness(uncertain=info.uncertain_band))


def same_decision(info: ModelInfo, tracker: Tracker) -> bool:
    """Whether ``tracker`` decides as ``info`` says, so a swapped-in model keeps the faces' tracks."""
    return (info.labels, info.threshold, info.uncertain_band) == (
        tracker.labels,
        tracker.threshold,
        tracker.steadiness.uncertain,
    )


class Tracker:
    """Greedy IoU matching; unmatched tracks survive ``max_misses`` frames so a missed detection does not
    reset a face's history. Ids are increasing ints, never reused within a run."""

    def __init__(
        self,
        labels: tuple[str, ...],
        threshold: float = 0.5,
        steadiness: Steadiness = Steadiness(),
        min_iou: float = 0.3,
        max_misses: int = 5,
    ) -> None:
        self.labels, self.threshold, self.steadiness = labels, threshold, steadiness
        self.binary = len(labels) == 2
        self.min_iou, self.max_misses = min_iou, max_misses
        self.tracks: list[Track] = []
        self._ids = count(1)

    def boxes(self) -> list[Box]:
        return [t.box for t in self.tracks]

    def reset(self) -> None:
        """Forget all faces (between unrelated images); ids keep increasing."""
        self.tracks = []

    def _match(self, boxes: list[Box], keep: int) -> dict[int, Track]:
        """Box index -> the track it continues, greedily by overlap; unmatched tracks count a miss and are
        forgotten after ``keep`` misses."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)), reverse=True
        )
        owner: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti not in used and bi not in owner:
                used.add(ti)
                owner[bi] = self.tracks[ti]
        for ti, t in enumerate(self.tracks):
            if ti not in used:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= keep]
        return owner

    def update(self, boxes: list[Box], probs: list[np.ndarray], clock: float, carry: int = 0) -> list[FaceResult]:
        """Results for this frame's boxes, in the order given; ``clock`` is the frame's time in seconds.
        ``carry``: a face not found in this frame but in one of the last ``carry`` frames is reported too, at
        its last box with its last scores (a detector that looks for far faces only every few frames)."""
        owner = self._match(boxes, max(self.max_misses, carry))  # a carried face outlives the usual misses
        s = self.steadiness
        results = []
        for bi, (box, p) in enumerate(zip(boxes, probs)):
            matched = owner.get(bi)
            if matched is None:
                scores = np.asarray(p, np.float32).copy()
                t = Track(id=next(self._ids), box=box, scores=scores, label=-1, clock=clock)
                t.label = decide(t.scores, None, self.threshold, s.band)
                t.uncertain = is_uncertain(scores, self.threshold, None, s)
                t.shown = self._said(t)
                self.tracks.append(t)
            else:
                t = matched
                w = ema_weight(clock - t.clock, s.tau_s)
                t.box, t.misses, t.clock = box, 0, clock
                t.scores = (1.0 - w) * t.scores + w * np.asarray(p, np.float32)
                t.label = decide(t.scores, t.label, self.threshold, s.band)
                t.uncertain = is_uncertain(t.scores, self.threshold, t.uncertain, s)
                said = self._said(t)
                hold(t, said, clock, s.hold_for(said))
            results.append(self._result(t))
        if carry > 0:
            seen = {id(t) for t in owner.values()}
            results += [self._result(t, True) for t in self.tracks if 0 < t.misses <= carry and id(t) not in seen]
        return results

    def _said(self, t: Track) -> str:
        """What the smoothed scores say now. People are seldom only happy or sad: a score near the
        threshold says neither, honestly."""
        return UNCERTAIN if t.uncertain else self.labels[t.label]

    def _result(self, t: Track, carried: bool = False) -> FaceResult:
        scores = {name: float(s) for name, s in zip(self.labels, t.scores)}
        # The score goes with the label reported (while a new one is held back, that is the old label's).
        shown = self.labels.index(t.shown) if t.shown in self.labels else t.label
        return FaceResult(t.box, t.shown, float(t.scores[shown]), scores, t.id, carried)


def hold(t: Track, said: str, clock: float, hold_s: float) -> None:
    """Report ``said`` once it has been said continuously for ``hold_s`` seconds."""
    if said == t.shown:
        t.pending = ""
        return
    if said != t.pending:
        t.pending, t.pending_since = said, clock
    if clock - t.pending_since >= hold_s:
        t.shown, t.pending = said, ""
