"""What does a happy/sad model say about neutral faces, and does an 'uncertain' band help?

    python bench/neutral_eval.py --model edge_runtime/models/happysad_int8.tflite [--data ../shared/data/fer2013/val]

Runs the runtime's classifier on fer2013/val crops (happy, sad, and the neutral faces it never trained on)
and prints, for several band widths around the threshold: how many happy/sad faces become 'uncertain',
the balanced accuracy on the rest, and how neutral faces split into happy / sad / uncertain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FER2013_VAL, HAPPYSAD_INT8, print_table


def scores(clf, folder: Path) -> np.ndarray:
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.preprocess import region_pixels

    out = []
    for f in sorted(folder.iterdir()):
        rgb, _ = read_image(f)
        if rgb is not None:
            out.append(clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0][1])
    return np.asarray(out)


def _split(p: np.ndarray, t: float, band: float) -> tuple[np.ndarray, np.ndarray]:
    """(uncertain, called sad) masks for P(sad) values ``p`` at threshold ``t`` and uncertain ``band``."""
    return np.abs(p - t) < band, p >= t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=HAPPYSAD_INT8)
    ap.add_argument("--bands", default="0,0.1,0.15,0.2,0.25,0.3")
    ap.add_argument("--data", type=Path, default=FER2013_VAL, help="folder with happy/, sad/ and neutral/")
    args = ap.parse_args()
    missing = [c for c in ("happy", "sad", "neutral") if not (args.data / c).is_dir()]
    if missing:
        sys.exit(f"neutral_eval: no {missing[0]}/ folder in {args.data}; pass --data")
    from edge_runtime.model.classifier import load_classifier

    clf = load_classifier(args.model)
    t = clf.info.threshold
    happy, sad, neutral = (scores(clf, args.data / c) for c in ("happy", "sad", "neutral"))
    print(f"{args.model.name}: P(sad) on {args.data}; happy {len(happy)}, sad {len(sad)}, neutral {len(neutral)}")
    print(f"neutral P(sad) quartiles: {np.percentile(neutral, [25, 50, 75]).round(3).tolist()}")
    rows = []
    for band in (float(b) for b in args.bands.split(",")):
        uh, sh = _split(happy, t, band)
        us, ss = _split(sad, t, band)
        un, sn = _split(neutral, t, band)
        covered_recall_h = np.mean(~sh[~uh]) if (~uh).any() else float("nan")
        covered_recall_s = np.mean(ss[~us]) if (~us).any() else float("nan")
        balanced = (covered_recall_h + covered_recall_s) / 2
        rows.append([band, np.mean(np.r_[uh, us]), balanced, np.mean(~sn & ~un), np.mean(sn & ~un), np.mean(un)])
    header = ["band", "happy/sad uncertain", "bal.acc on the rest", "neutral: happy", "sad", "uncertain"]
    print_table(header, rows, [".2f", ".3f", ".4f", ".3f", ".3f", ".3f"])


if __name__ == "__main__":
    main()
