"""Faces near and far at little more than the cost of near ones: BlazeFace short range on every frame at its
own 128 px input (faces at arm's length), and the same model on a wide input (``WIDE_INPUT``, the frame at
about 0.8x on a 640 px camera) on every ``every``-th frame, where faces of 32-64 px have the size it was
trained to find. The loop asks for the wide search by frame number (``traits.far_every``) and the tracker
carries the faces it found over the frames between, so frames still go side by side and a far face is
labelled ``every`` times less often than a near one. A wide-search face short range did not also find
near, and that scores under ``Confirm.sure``, is kept only when short range confirms it on the square around
it (``faces/confirm.py``): at the wide input's scale hands and patterns fire too. Measured against the
other choices by ``bench/face_eval.py`` (docs/PERFORMANCE.md "Detectors")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge_runtime.faces.blazeface import MODELS, BlazeFace
from edge_runtime.faces.confirm import Confirm, confirmed
from edge_runtime.faces.face import DetectorTraits, Face
from edge_runtime.faces.pair import merged, overlapping
from edge_runtime.model.preprocess import Box

WIDE_INPUT = (512, 288)  # (width, height): 16:9, multiples of 16; a 4:3 frame is padded at the sides
EVERY = 5  # the wide search's default cadence (at 30 FPS, 6 times a second): hs-run --detect-every
# At that scale short range also fires on dim, blurred shapes and drawn faces: its score must be 0.6, not 0.5
# (bench/face_eval.py: FER+ faces of 32-64 px found 85.8% against 91.8%, false faces 0.69 against 1.14 a
# faceless frame; on face_clip.mp4, dark background shapes called faces went, docs/PERFORMANCE.md).
WIDE = replace(MODELS["blazeface"], name="blazeface-wide", min_score=0.6)


class BlazeFaceWide:
    def __init__(
        self, name: str, near: BlazeFace, wide: BlazeFace, every: int, confirm: Confirm | None = Confirm()
    ) -> None:
        """``confirm`` None: every wide-search face is kept (what ``tests/test_false_faces.py`` compares against)."""
        if every < 1:
            raise ValueError(f"the wide search runs every N frames, N >= 1, not {every}")
        self.name, self.near_range, self.wide, self.every, self.confirm = name, near, wide, every, confirm
        self.traits = DetectorTraits(keypoints=True, twins=True, local_search=False, far_every=every)

    def twin(self, threads: int = 1) -> BlazeFaceWide:
        near, wide = self.near_range.twin(threads), self.wide.twin(threads)
        return BlazeFaceWide(self.name, near, wide, self.every, self.confirm)

    def near(self, image: np.ndarray, order: str, box: Box) -> Box | None:
        raise NotImplementedError("BlazeFace searches the whole frame; it has no local search")

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]:
        """Near faces; with ``far``, the wide search's too (a face both find is kept once, the better score)."""
        found = self.near_range.detect(image, order)
        if not far:
            return found
        return merged([f for f in self.wide.detect(image, order) if self._kept(f, found, image, order)], found)

    def _kept(self, face: Face, near: list[Face], image: np.ndarray, order: str) -> bool:
        rule = self.confirm
        if rule is None or face.score >= rule.sure or overlapping(face, near):
            return True
        return confirmed(self.near_range, image, order, face, rule)
