"""Cut training faces out of whole pictures with the device's own detector and crop rule.

A face-mode model then learns from exactly the crops ``hs-run`` will hand it: the Haar cascade's square box
grown by the margin (what the model's metadata will say), cut by the runtime's own ``align.face_region``,
which also maps that rule onto BlazeFace at run time (``spec.crop_rule``). Pictures with no face (or a crop
OpenCV cannot encode) are skipped and counted; with several faces, the largest is kept.

    python -m train.facecrop --src photos/ --out faces/ --margin 0.15
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.faces.align import face_region
from edge_runtime.faces.face import Face
from edge_runtime.faces.haar import HaarDetector
from edge_runtime.io.atomic import write_bytes
from edge_runtime.io.imageio import is_image_name, read_image
from edge_runtime.model.spec import FaceCrop, crop_rule


def encode_png(image: np.ndarray) -> bytes | None:
    """PNG bytes of a BGR or grey image, or None where OpenCV refuses it (it returns a flag, not an error)."""
    if image.size == 0:
        return None
    ok, buf = cv2.imencode(".png", image)
    return buf.tobytes() if ok else None


def crop_folder(src: str | Path, dst: str | Path, margin: float = 0.15, detect_width: int = 640) -> Counter:
    """Mirror ``src/<class>/<file>`` as ``dst/<class>/<file>.png`` face crops; returns counts by outcome."""
    src, dst = Path(src), Path(dst)
    detector = HaarDetector(width=detect_width, min_face=20)
    rule = crop_rule(FaceCrop(margin=margin), "haar")
    counts: Counter = Counter()
    for path in sorted(p for p in src.rglob("*") if p.is_file() and is_image_name(p)):
        rgb, reason = read_image(path)
        if rgb is None:
            counts[f"skipped_{reason}"] += 1
            continue
        boxes = detector.full(rgb, "RGB")
        if not boxes:
            counts["no_face"] += 1
            continue
        face = face_region(rgb, Face(max(boxes, key=lambda b: b[2] * b[3])), rule)
        png = encode_png(cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
        if png is None:  # e.g. an empty crop: skipped and counted like an unreadable picture
            counts["skipped_encode_failed"] += 1
            continue
        write_bytes(dst / path.relative_to(src).with_suffix(".png"), png)
        counts["cropped"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.facecrop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--margin", type=float, default=0.15)
    args = ap.parse_args(argv)
    if not args.src.is_dir():
        ap.exit(2, f"facecrop: error: {args.src} is not a folder\n")
    counts = crop_folder(args.src, args.out, args.margin)
    print(f"facecrop: {dict(counts)} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
