"""A loaded ``train.wild.Split`` saved as one ``.npz``, so a run can move to a machine without the data set's
files (an accelerator) and train on the very pixels this machine's preprocessing made.

Pixels are stored as lossless WebP, image by image (0.71 of the raw size on FER+ faces, where the npz's
deflate gives 0.95): the whole FER+ training set then fits in what such a machine is sent."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.io.atomic import atomic_path

from .sources import Source
from .wild import Split


def _encode(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    blobs = []
    for px in pixels:
        ok, buf = cv2.imencode(".webp", px, [cv2.IMWRITE_WEBP_QUALITY, 101])  # above 100: lossless
        if not ok:
            raise ValueError("OpenCV cannot encode WebP")
        blobs.append(buf.ravel())
    off = np.cumsum([0, *(len(b) for b in blobs)]).astype(np.int64)
    return np.concatenate(blobs), off


def _decode(data: np.ndarray, off: np.ndarray, channels: int) -> np.ndarray:
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    out = []
    for a, b in itertools.pairwise(off):
        img = cv2.imdecode(data[a:b], flag)
        if img is None:
            raise ValueError("a source cache image does not decode: the file is damaged; delete it to rebuild")
        out.append(np.asarray(img, np.uint8))
    return np.stack(out).reshape(len(out), *out[0].shape[:2], channels)


def save_split(split: Split, path: Path, made_from: dict[str, Any]) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for part, sources in (("train", split.train), ("val", split.val)):
        for i, s in enumerate(sources):
            key = f"{part}{i}"
            arrays[f"{key}_webp"], arrays[f"{key}_off"] = _encode(s.pixels)
            arrays[f"{key}_y"] = s.targets
            meta.append(
                {
                    "key": key,
                    "part": part,
                    "name": s.name,
                    "files": s.files,
                    "skipped": s.skipped,
                    "channels": int(s.pixels.shape[3]),
                }
            )
    arrays["meta"] = np.frombuffer(
        json.dumps({"sources": meta, "shares": split.shares, "made_from": made_from}).encode(), np.uint8
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]


def load_split_cache(path: Path) -> tuple[Split, dict[str, Any]]:
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        parts: dict[str, list[Source]] = {"train": [], "val": []}
        for m in meta["sources"]:
            px = _decode(z[f"{m['key']}_webp"], z[f"{m['key']}_off"], m["channels"])
            src = Source(m["name"], px, z[f"{m['key']}_y"], m["files"], m["skipped"])
            parts[m["part"]].append(src)
    return Split(parts["train"], parts["val"], meta["shares"]), meta.get("made_from", {})


def resized(split: Split, spec_size: int) -> Split:
    """The split at the model's input size (a source stored at its native, smaller size is resized here by
    the device's own rule, the same pixels reading its files would give)."""
    import cv2

    from edge_runtime.model.preprocess import to_model_pixels
    from edge_runtime.model.spec import PreprocessSpec

    def one(s: Source) -> Source:
        n, h, w, c = s.pixels.shape
        if (h, w) == (spec_size, spec_size):
            return s
        spec = PreprocessSpec.for_size(spec_size, c)
        px = np.stack([to_model_pixels(p if c == 3 else cv2.cvtColor(p, cv2.COLOR_GRAY2RGB), spec) for p in s.pixels])
        return Source(s.name, px.reshape(n, spec_size, spec_size, c), s.targets, s.files, s.skipped)

    return Split([one(s) for s in split.train], [one(s) for s in split.val], split.shares)
