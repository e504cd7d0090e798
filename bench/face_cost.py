"""Per-face cost of model files, side by side: every invoke a face costs (two with flip averaging), at one
thread, in alternating rounds so a noisy shared machine slows every model alike.

    python bench/face_cost.py [MODEL ...] [--rounds 7] [--faces 300]

With no MODEL: the packaged default beside the happy/sad model. Prints the median microseconds per face of
each model and its ratio to the first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import interleaved, print_table, time_each


def per_face_us(clf, faces: np.ndarray) -> float:
    """Mean microseconds of ``classify`` (preprocessed pixels in, probabilities out) over ``faces``."""
    return float(np.mean(time_each(lambda px: clf.classify(px[None]), faces))) * 1e6


def main() -> None:
    from edge_runtime.model.classifier import MODELS_DIR, PACKAGED, load_classifier

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--faces", type=int, default=300)
    args = ap.parse_args()
    models = args.models or [MODELS_DIR / PACKAGED["happysad-binary"], MODELS_DIR / PACKAGED["happysad"]]
    for m in models:
        if not m.is_file():
            sys.exit(f"face_cost: model not found: {m}")
    clfs = [load_classifier(m, threads=1) for m in models]
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (args.faces, c.spec.height, c.spec.width, c.spec.channels), np.uint8) for c in clfs]
    for c, f in zip(clfs, faces, strict=True):
        per_face_us(c, f[:20])  # warm-up
    work = {str(i): (lambda i=i: per_face_us(clfs[i], faces[i])) for i in range(len(clfs))}
    times = list(interleaved(work, args.rounds, alternate=True).values())
    base = float(np.median(times[0]))
    rows = []
    for m, c, t in zip(models, clfs, times, strict=True):
        med = float(np.median(t))
        inv = 2 if c.info.flip_average else 1
        size = f"{c.spec.height}x{c.spec.width}x{c.spec.channels}"
        rows.append([m.name, size, inv, med, med / base])
    print(f"median of {args.rounds} alternating rounds of {args.faces} faces, one thread")
    print_table(["model", "input", "invokes/face", "us/face (median)", "ratio"], rows, ["", "", "d", ".1f", ".2f"])


if __name__ == "__main__":
    main()
