"""Do train and serve see the same face? FER validation faces placed in larger frames, through hs-run's face mode.

    python bench/face_eval.py --model edge_runtime/models/happysad_int8.tflite [--n 0] [--seed 0]

Each face is scaled (96-200 px) and pasted at a random place on a project-made background (the synthetic
generator's), then found with the runtime's detector, cut with the margin from the model's metadata and
classified by the runtime's classifier, exactly as ``hs-run`` does. Printed beside it: the same model on the
crops themselves (the whole 48x48 image, as in training). Misses (no detection on the face) are counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from edge_runtime.build import RunConfig

VAL = ROOT.parent / "shared" / "data" / "fer2013" / "val"


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "edge_runtime" / "models" / "happysad_int8.tflite")
    ap.add_argument("--n", type=int, default=0, help="faces per class (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame", default="640x360")
    ap.add_argument("--detect-width", type=int, default=RunConfig.detect_width, help="as hs-run's --detect-width")
    ap.add_argument("--margin", type=float, default=None, help="override the model's crop margin")
    args = ap.parse_args()

    from edge_runtime.decision import label_index
    from edge_runtime.detect import FaceDetector
    from edge_runtime.imageio import read_image
    from edge_runtime.model import ModelOptions, load_classifier
    from edge_runtime.preprocess import region_pixels
    from train.synthetic import background

    clf = load_classifier(args.model, ModelOptions(margin=args.margin))
    labels = list(clf.info.labels)
    det = FaceDetector(width=args.detect_width)
    fw, fh = (int(v) for v in args.frame.split("x"))
    rng = np.random.default_rng(args.seed)
    y, crop_pred, pipe_pred, found = [], [], [], []
    for label, name in enumerate(labels):
        files = sorted((VAL / name).iterdir())
        files = files[: args.n] if args.n else files
        for f in files:
            rgb, _ = read_image(f)
            if rgb is None:
                continue
            p_crop = clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0]
            s = int(rng.integers(96, 201))
            frame = np.clip(background(rng, (fw, fh)), 0, 255).astype(np.uint8)
            x0, y0 = int(rng.integers(0, fw - s)), int(rng.integers(0, fh - s))
            frame[y0 : y0 + s, x0 : x0 + s] = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR)
            hits = [
                b for b in det.full(frame, "RGB") if x0 <= b[0] + b[2] / 2 <= x0 + s and y0 <= b[1] + b[3] / 2 <= y0 + s
            ]
            y.append(label)
            crop_pred.append(label_index(p_crop, clf.info.threshold))
            if hits:
                box = max(hits, key=lambda b: b[2] * b[3])
                p = clf.classify(region_pixels(frame, box, clf.spec, "RGB")[None])[0]
                pipe_pred.append(label_index(p, clf.info.threshold))
                found.append(True)
            else:
                pipe_pred.append(-1)
                found.append(False)
    y, crop_pred, pipe_pred, found = map(np.asarray, (y, crop_pred, pipe_pred, found))
    print(
        f"model {args.model.name}: margin {clf.spec.face_crop.margin}, input {clf.spec.height}x{clf.spec.width}"
        f"x{clf.spec.channels}; {len(y)} FER val faces "
        f"({', '.join(f'{n} {int((y == i).sum())}' for i, n in enumerate(labels))})"
    )
    print(f"{'evaluation':<52}{'faces':>7}{'bal.acc':>9}")
    print(f"{'crops themselves (all faces)':<52}{len(y):>7}{balanced_accuracy(y, crop_pred):>9.4f}")
    print(
        f"{'crops themselves (faces the detector found)':<52}{found.sum():>7}"
        f"{balanced_accuracy(y[found], crop_pred[found]):>9.4f}"
    )
    print(
        f"{'detect + crop + classify (faces found)':<52}{found.sum():>7}"
        f"{balanced_accuracy(y[found], pipe_pred[found]):>9.4f}"
    )
    gap = 100 * (balanced_accuracy(y[found], crop_pred[found]) - balanced_accuracy(y[found], pipe_pred[found]))
    print(
        f"gap on the same faces: {gap:+.2f} points (target within 2); detector missed {int((~found).sum())} of "
        f"{len(y)} faces ({100 * (~found).mean():.1f}%); agreement crop vs pipeline "
        f"{np.mean(crop_pred[found] == pipe_pred[found]):.3f}"
    )


if __name__ == "__main__":
    main()
