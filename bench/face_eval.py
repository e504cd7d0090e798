"""Do train and serve see the same face? FER validation faces placed in larger frames, through hs-run's face
mode, for each detector; and (``--fit``) the crop rule that reproduces the training crops, measured.

    python bench/face_eval.py [--detectors haar,blazeface,blazeface-full] [--n 0] [--seed 0] [--fit]

Each face is scaled (96-200 px) and pasted at a random place on a project-made background (the synthetic
generator's), then found with the runtime's detector, cut with the model's crop rule for that detector
(``spec.crop_rule``: Haar box grown by the metadata's margin, or BlazeFace keypoints, eyes levelled or not)
and classified by the runtime's classifier, as ``hs-run`` does. Beside it: the same model on the crops
themselves (the whole 48x48 image, as in training). Misses (no detection on the face) are counted.

``--fit`` prints, per detector, the median square (side, centre offset) that reproduces the placed crops,
in that detector's reference units: the numbers ``spec.CANONICAL`` holds.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FER2013_VAL, HAPPYSAD_INT8, print_table
from edge_runtime.config import FaceSettings


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)])) if len(y) else float("nan")


@dataclass
class Placed:
    """One FER face pasted into a frame at (x0, y0) with side s."""

    label: int
    frame: np.ndarray
    x0: int
    y0: int
    s: int
    crop_pred: int


@dataclass
class Tally:
    found: list[bool] = field(default_factory=list)
    pred: dict[bool, list[int]] = field(default_factory=lambda: {True: [], False: []})  # align -> predictions
    fit: list[tuple[float, float, float, float, float]] = field(default_factory=list)  # k, dx, dy, cv bits


def placed_faces(clf, labels, n: int, seed: int, size: tuple[int, int]) -> list[Placed]:
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.decision import label_index
    from edge_runtime.model.preprocess import region_pixels
    from train.synthetic import background

    fw, fh = size
    rng = np.random.default_rng(seed)
    out = []
    for label, name in enumerate(labels):
        files = sorted((FER2013_VAL / name).iterdir())
        for f in files[:n] if n else files:
            rgb, _ = read_image(f)
            if rgb is None:
                continue
            p_crop = clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0]
            s = int(rng.integers(96, 201))
            frame = np.clip(background(rng, (fw, fh)), 0, 255).astype(np.uint8)
            x0, y0 = int(rng.integers(0, fw - s)), int(rng.integers(0, fh - s))
            frame[y0 : y0 + s, x0 : x0 + s] = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR)
            out.append(Placed(label, frame, x0, y0, s, label_index(p_crop, clf.info.threshold)))
    return out


def measure(p: Placed, face) -> tuple[float, float, float]:
    """(side, dx, dy) of the placed crop in the face's reference units, offsets in its levelled frame."""
    from edge_runtime.faces.align import reference

    x, y, length, angle = reference(face, align=True)
    ex, ey = p.x0 + p.s / 2.0 - x, p.y0 + p.s / 2.0 - y
    c, s = math.cos(angle), math.sin(angle)
    return p.s / length, (c * ex + s * ey) / length, (-s * ex + c * ey) / length


def evaluate(name: str, faces: list[Placed], clf, args) -> Tally:
    from edge_runtime.faces.align import face_region
    from edge_runtime.faces.detect import open_detector
    from edge_runtime.model.decision import label_index
    from edge_runtime.model.preprocess import to_model_pixels
    from edge_runtime.model.spec import crop_rule

    det = open_detector(name, threads=args.threads, haar_width=args.detect_width)
    rule = crop_rule(clf.spec.face_crop, det.name)
    t = Tally()
    for p in faces:
        hits = [
            f
            for f in det.detect(p.frame, "RGB")
            if p.x0 <= f.box[0] + f.box[2] / 2 <= p.x0 + p.s and p.y0 <= f.box[1] + f.box[3] / 2 <= p.y0 + p.s
        ]
        t.found.append(bool(hits))
        if not hits:
            continue
        face = max(hits, key=lambda f: f.box[2] * f.box[3])
        t.fit.append(measure(p, face))
        for align in (True, False):
            px = to_model_pixels(face_region(p.frame, face, rule, align), clf.spec, "RGB")
            t.pred[align].append(label_index(clf.classify(px[None])[0], clf.info.threshold))
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=HAPPYSAD_INT8)
    ap.add_argument("--detectors", default="haar,blazeface,blazeface-full")
    ap.add_argument("--n", type=int, default=0, help="faces per class (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame", default="640x360")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--detect-width", type=int, default=FaceSettings.detect_width, help="as hs-run's --detect-width")
    ap.add_argument("--margin", type=float, default=None, help="override the model's crop margin")
    ap.add_argument("--fit", action="store_true", help="print the measured crop rule per detector")
    args = ap.parse_args()

    from edge_runtime.model.classifier import ModelOptions, load_classifier

    clf = load_classifier(args.model, ModelOptions(margin=args.margin))
    labels = list(clf.info.labels)
    faces = placed_faces(clf, labels, args.n, args.seed, tuple(int(v) for v in args.frame.split("x")))
    y = np.array([p.label for p in faces])
    crop_pred = np.array([p.crop_pred for p in faces])
    crop = clf.spec.face_crop
    print(
        f"model {args.model.name}: margin {crop.margin} ({crop.detector}), input {clf.spec.height}x{clf.spec.width}"
        f"x{clf.spec.channels}; {len(y)} FER val faces "
        f"({', '.join(f'{n} {int((y == i).sum())}' for i, n in enumerate(labels))}); "
        f"crops themselves: bal.acc {balanced_accuracy(y, crop_pred):.4f}"
    )
    rows = []
    fits = {}
    for name in args.detectors.split(","):
        t = evaluate(name, faces, clf, args)
        found = np.array(t.found)
        yf, cf = y[found], crop_pred[found]
        base = balanced_accuracy(yf, cf)
        row: list[object] = [name, f"{int(found.sum())} ({100 * found.mean():.1f}%)", base]
        for align in (True, False):
            acc = balanced_accuracy(yf, np.array(t.pred[align]))
            row += [acc, 100 * (acc - base)]
        rows.append(row)
        fits[name] = np.array(t.fit)
    header = ["detector", "found", "crops (found)", "face mode, aligned", "gap, aligned", "face mode, upright", "gap, upright"]
    print_table(header, rows, ["", "", ".4f", ".4f", "+.2f", ".4f", "+.2f"])
    print("gap: face-mode balanced accuracy minus the crops' own, on the faces found (points; target within 1)")
    if args.fit:
        print("\nmeasured crop rule (median over faces found; spread = (p75 - p25) / median of the side):")
        fit_rows = []
        for name, f in fits.items():
            if not len(f):
                fit_rows.append([name, "no face found", None])
                continue
            k, dx, dy = np.median(f, axis=0)
            q25, q75 = np.percentile(f[:, 0], (25, 75))
            fit_rows.append([name, f"CropRule(scale={k:.3f}, dx={dx:+.3f}, dy={dy:+.3f})", (q75 - q25) / k])
        print_table(["detector", "crop rule", "spread"], fit_rows, ["", "", ".3f"])


if __name__ == "__main__":
    main()
