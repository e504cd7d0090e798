"""Import the public FER-2013 CSV (emotion, pixels, Usage) as class folders, using Usage as the split.

So anyone can rebuild the shipped model from the original download: Training -> train/,
PublicTest -> val/, PrivateTest -> test/.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from edge_runtime.io.atomic import write_bytes

from .facecrop import encode_png

EMOTIONS = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
USAGE_SPLIT = {"training": "train", "publictest": "val", "privatetest": "test"}


def import_csv(
    csv_path: str | Path, out_dir: str | Path, classes: tuple[str, ...] = ("happy", "sad")
) -> dict[str, Counter]:
    """Write 48x48 grey PNGs to ``out_dir/<split>/<class>/``; returns counts per split and class.

    Rows with a malformed pixel string are skipped and counted under ``bad_rows``.
    """
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    if not csv_path.is_file():
        raise ValueError(f"FER-2013 CSV not found: {csv_path}")
    unknown = set(classes) - set(EMOTIONS.values())
    if unknown:
        raise ValueError(f"FER-2013 has no class {', '.join(sorted(unknown))}")
    counts: dict[str, Counter] = {}
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path} lacks column(s) {', '.join(sorted(missing))} (not the FER-2013 CSV?)")
        for i, row in enumerate(reader):
            try:
                label = EMOTIONS[int(row["emotion"])]
                split = USAGE_SPLIT[row["Usage"].strip().lower()]
                px = np.array(row["pixels"].split(), dtype=np.uint8)
                if px.size != 48 * 48:
                    raise ValueError
            except (KeyError, ValueError):
                counts.setdefault("bad_rows", Counter())["rows"] += 1
                continue
            if label not in classes:
                continue
            png = encode_png(px.reshape(48, 48))
            if png is None:  # a 48x48 grey PNG always encodes; failing means OpenCV lacks PNG support
                raise ValueError(f"OpenCV could not encode row {i + 1} of {csv_path} as PNG")
            write_bytes(out_dir / split / label / f"fer{i:05d}.png", png)
            counts.setdefault(split, Counter())[label] += 1
    if not counts.get("train"):
        raise ValueError(f"{csv_path} has no Training rows of classes {', '.join(classes)}")
    return counts
