"""What every face detector returns, and the one method it must have. Detectors hold no per-stream state:
tracking (ids, smoothing) belongs to the pipeline and the tracker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_runtime.model.preprocess import Box

# BlazeFace keypoint rows (the person's right eye is on the image's left in a frontal face).
RIGHT_EYE, LEFT_EYE, NOSE, MOUTH = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Face:
    """A face in frame pixels: its box (x, y, w, h), a score, and keypoints ([6, 2] x, y) when the
    detector gives them (BlazeFace does, Haar does not)."""

    box: Box
    score: float = 1.0
    keypoints: np.ndarray | None = None
    found_by: str = ""  # the detector model that found it (its crop rule cuts it); "": the run's detector


@dataclass(frozen=True)
class DetectorTraits:
    """What a detector can do, so the frame loop asks its capabilities, never its type.

    ``keypoints``: its faces carry eye keypoints (the crop can be levelled). ``twins``: ``twin()`` gives a copy
    on an interpreter of its own, so whole frames can be analysed side by side. ``local_search``: ``near()``
    finds a tracked face again in its neighbourhood for less than a full search, so the loop searches the
    whole frame only now and then (and therefore analyses frames in turn, since the search follows the
    tracker). ``far_every``: its search for far (small) faces costs several near searches, so the loop asks
    for it on every ``far_every``-th frame only (``detect(..., far=False)`` between) and the tracker carries the
    faces it found over the frames between; 0: every search is whole."""

    keypoints: bool
    twins: bool
    local_search: bool
    far_every: int = 0


class Detector(Protocol):
    """``detect`` finds every face in one frame (``order``: RGB or BGR, or a grey image); ``far`` False lets a
    detector whose ``traits.far_every`` is set skip its far search (the others ignore it)."""

    name: str
    traits: DetectorTraits

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]: ...

    def twin(self, threads: int = 1) -> Detector:
        """A copy on an interpreter of its own (only when ``traits.twins``)."""
        ...

    def near(self, image: np.ndarray, order: str, box: Box) -> Box | None:
        """The face near a tracked ``box`` (only when ``traits.local_search``)."""
        ...
