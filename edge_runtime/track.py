"""Keep each face's label steady: match faces across frames by box overlap, smooth their scores with an
exponential moving average, and only change a label once the score is clearly past the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np

from .decision import label_index
from .preprocess import Box

UNCERTAIN = "uncertain"


@dataclass
class Track:
    id: int
    box: Box
    scores: np.ndarray  # smoothed probability per label
    label: int
    misses: int = 0


@dataclass(frozen=True)
class Result:
    box: Box
    label: str
    score: float
    scores: dict[str, float]
    track: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "label": self.label,
            "score": round(self.score, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "track": self.track,
        }


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


class Tracker:
    """Greedy IoU matching; unmatched tracks survive ``max_misses`` frames so a missed detection does not
    reset a face's history. Ids are increasing ints, never reused within a run."""

    def __init__(
        self,
        labels: tuple[str, ...],
        threshold: float = 0.5,
        alpha: float = 0.4,
        band: float = 0.1,
        min_iou: float = 0.3,
        max_misses: int = 5,
        uncertain: float = 0.0,
    ) -> None:
        self.labels, self.threshold = labels, threshold
        self.binary = len(labels) == 2
        self.uncertain = uncertain
        self.alpha, self.band, self.min_iou, self.max_misses = alpha, band, min_iou, max_misses
        self.tracks: list[Track] = []
        self._ids = count(1)

    def boxes(self) -> list[Box]:
        return [t.box for t in self.tracks]

    def reset(self) -> None:
        """Forget all faces (between unrelated images); ids keep increasing."""
        self.tracks = []

    def update(self, boxes: list[Box], probs: list[np.ndarray]) -> list[Result]:
        """Results for this frame's boxes, in the order given."""
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
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        results = []
        for bi, (box, p) in enumerate(zip(boxes, probs)):
            matched = owner.get(bi)
            if matched is None:
                t = Track(id=next(self._ids), box=box, scores=np.asarray(p, np.float32).copy(), label=-1)
                t.label = decide(t.scores, None, self.threshold, self.band)
                self.tracks.append(t)
            else:
                t = matched
                t.box, t.misses = box, 0
                t.scores = (1.0 - self.alpha) * t.scores + self.alpha * np.asarray(p, np.float32)
                t.label = decide(t.scores, t.label, self.threshold, self.band)
            results.append(self._result(t))
        return results

    def _result(self, t: Track) -> Result:
        scores = {name: float(s) for name, s in zip(self.labels, t.scores)}
        if self.binary and abs(float(t.scores[1]) - self.threshold) < self.uncertain:
            # People are seldom only happy or sad: a score near the threshold says neither, honestly.
            return Result(box=t.box, label=UNCERTAIN, score=float(t.scores[t.label]), scores=scores, track=t.id)
        return Result(box=t.box, label=self.labels[t.label], score=float(t.scores[t.label]), scores=scores, track=t.id)
