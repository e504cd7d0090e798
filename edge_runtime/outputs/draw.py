"""Boxes, labels, scores and FPS drawn on a BGR frame: for the window and the saved video only."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_runtime.results import FaceResult

_COLOURS = [(60, 200, 60), (60, 60, 230), (230, 160, 40), (200, 60, 200)]  # BGR, one per label index


def annotate(
    image: np.ndarray, results: Sequence[FaceResult], labels: tuple[str, ...], fps: float | None
) -> np.ndarray:
    """Draw in place on ``image`` (a frame that is not used again) and return it."""
    thick = max(1, image.shape[1] // 400)
    for r in results:
        x, y, w, h = r.box
        colour = _COLOURS[labels.index(r.label) % len(_COLOURS)] if r.label in labels else _COLOURS[0]
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, thick + 1)
        text = f"#{r.track} {r.label} {r.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, thick)
        ty = y - 4 if y - th - 6 > 0 else y + h + th + 4
        cv2.rectangle(image, (x, ty - th - 3), (x + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(image, text, (x + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), thick, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(image, f"{fps:.1f} FPS", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), thick, cv2.LINE_AA)
    return image
