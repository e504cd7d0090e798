"""What a run produces, typed: one ``FaceResult`` per face (or per whole frame in frame mode) and one
``FrameResult`` per picture. The Python API yields them, every output receives them, and ``to_dict`` is the
JSON Lines row, the one serialised form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_runtime.model.preprocess import Box


@dataclass(frozen=True)
class FaceResult:
    """A face's steady label: ``box`` (x, y, w, h) in frame pixels, the reported ``label`` (a model label or
    ``uncertain``), its ``score``, every label's smoothed probability, and the ``track`` id that follows the
    face across frames. ``carried``: not found in this picture but a few before, by a search that runs only
    every few frames (``blazeface-wide``'s wide one); its box and scores are from then."""

    box: Box
    label: str
    score: float
    scores: dict[str, float]
    track: int
    carried: bool = False

    def to_dict(self) -> dict[str, Any]:
        row = {
            "box": list(self.box),
            "label": self.label,
            "score": round(self.score, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "track": self.track,
        }
        if self.carried:  # written only when set, so rows of faces found in the picture keep their form
            row["carried"] = True
        return row


@dataclass(frozen=True)
class FrameResult:
    """One picture's results. ``time``: wall clock (seconds since the epoch, to the millisecond); ``clock``:
    the picture's own time, which smoothing runs on (a video's media time, a live frame's arrival, or the
    timestamp the caller gave). ``image`` is the picture as the source gave it (``order`` BGR or RGB)."""

    index: int
    time: float
    source: str
    faces: tuple[FaceResult, ...]
    clock: float = 0.0
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    order: str = "BGR"
    seconds: dict[str, float] = field(default_factory=dict, repr=False, compare=False)  # per stage: detect, infer...
    model: str = ""  # the model that made the results: file name and content hash (name#1a2b3c4d)

    @property
    def labels(self) -> list[str]:
        return [f.label for f in self.faces]

    def to_dict(self) -> dict[str, Any]:
        """The JSON Lines row."""
        return {
            "frame": self.index,
            "time": self.time,
            "source": self.source,
            "results": [f.to_dict() for f in self.faces],
            "model": self.model,
        }
