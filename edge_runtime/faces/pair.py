"""Faces near and far with BlazeFace's two models: full range (a room, faces from about 20 px) first, and
short range (faces at arm's length, which full range can miss when they fill the frame) either where full
range found nothing (``fallback``: about the cost of full range alone on a room) or on every frame, both
results merged (``merge``). Each face keeps the name of the model that found it, so it is cut by that
model's own measured crop rule. Stateless like its parts, so frames can go side by side."""

from __future__ import annotations

import numpy as np

from edge_runtime.faces.blazeface import BlazeFace
from edge_runtime.faces.face import DetectorTraits, Face
from edge_runtime.faces.nms import iou
from edge_runtime.model.preprocess import Box

DUPLICATE_IOU = 0.3  # the two models' boxes of one face overlap far more than two neighbours' do


class BlazeFacePair:
    traits = DetectorTraits(keypoints=True, twins=True, local_search=False)

    def __init__(self, name: str, far_range: BlazeFace, short_range: BlazeFace, merge: bool) -> None:
        self.name, self.far_range, self.short_range, self.merge = name, far_range, short_range, merge

    def twin(self, threads: int = 1) -> BlazeFacePair:
        return BlazeFacePair(self.name, self.far_range.twin(threads), self.short_range.twin(threads), self.merge)

    def near(self, image: np.ndarray, order: str, box: Box) -> Box | None:
        raise NotImplementedError("BlazeFace searches the whole frame; it has no local search")

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]:
        found = self.far_range.detect(image, order)
        if found and not self.merge:
            return found
        return merged(found, self.short_range.detect(image, order))


def merged(first: list[Face], second: list[Face]) -> list[Face]:
    """``first`` and the faces of ``second`` that are not already in it (by box overlap), best score first
    where two overlap."""
    out = list(first)
    for face in second:
        j = _same(face, out)
        if j is None:
            out.append(face)
        elif face.score > out[j].score:
            out[j] = face
    return out


def overlapping(face: Face, faces: list[Face]) -> bool:
    """Whether one of ``faces`` is ``face`` found again (``merged``'s rule)."""
    return _same(face, faces) is not None


def _same(face: Face, faces: list[Face]) -> int | None:
    if not faces:
        return None
    boxes = np.array([_corners(f.box) for f in faces], dtype=np.float64)
    overlap = iou(np.array(_corners(face.box), dtype=np.float64), boxes)
    j = int(np.argmax(overlap))
    return j if overlap[j] > DUPLICATE_IOU else None


def _corners(box: Box) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return x, y, x + w, y + h
