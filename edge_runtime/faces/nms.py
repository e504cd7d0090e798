"""Weighted non-maximum suppression, as MediaPipe's face graphs use it: overlapping detections of one face are
averaged (weighted by score) rather than dropped, which steadies the box and keypoints from frame to frame."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of ``boxes``."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    out: np.ndarray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, threshold: float = 0.3
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """Clusters of detections overlapping the best remaining one by more than ``threshold`` IoU.

    ``boxes`` [n, 4] corners, ``extra`` [n, k] (keypoints) averaged with the boxes. Each cluster yields
    (score-weighted box, the best score, score-weighted extra), best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores, extra = boxes[order], scores[order], extra[order]
    left = np.ones(len(scores), dtype=bool)
    out = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        members = left & (iou(boxes[i], boxes) > threshold)
        members[i] = True
        w = scores[members][:, None]
        total = float(w.sum())
        out.append(
            (
                (boxes[members] * w).sum(axis=0) / total,
                float(scores[i]),
                (extra[members] * w).sum(axis=0) / total,
            )
        )
        left &= ~members
    return out
