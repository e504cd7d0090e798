"""Compare two hs-run JSON Lines files of the same video: the faces both found (boxes matched by IoU in each
frame) and how often their labels agree. Runs on the host, beside the project (the runtime's own IoU).

    python pi/compare.py HOST.jsonl DEVICE.jsonl [--min-agreement 0.95] [--min-iou 0.5] [--exact]

Prints one line; exit 0 when the labels agree on at least --min-agreement of the faces both found (and both
found some, and with --exact every matched score is identical), 1 otherwise, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_runtime.run.track import iou


def read_rows(path: Path) -> dict[int, list[dict[str, Any]]]:
    """frame -> the faces found in that frame; rows that are not frame records (a summary, a cut last line)
    are left out, and so are carried faces (``"carried": true``: the tracker's copy of a face found a few
    frames before, by a search that runs every few frames), which would count one comparison several times."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "frame" in rec and isinstance(rec.get("results"), list):
            rows[int(rec["frame"])] = [r for r in rec["results"] if not (isinstance(r, dict) and r.get("carried"))]
    return rows


@dataclass
class Agreement:
    frames: int = 0  # frames in both files
    faces_a: int = 0
    faces_b: int = 0
    matched: int = 0  # faces both found
    same_label: int = 0
    max_score_diff: float = 0.0  # largest |score_a - score_b| over matched faces and labels

    @property
    def fraction(self) -> float:
        return self.same_label / self.matched if self.matched else 0.0

    def line(self) -> str:
        return (
            f"labels agree on {self.same_label}/{self.matched} faces both found ({100 * self.fraction:.1f}%); "
            f"{self.frames} frames, faces found {self.faces_a} (host) / {self.faces_b} (device), "
            f"max score difference {self.max_score_diff:.4f}"
        )


def compare(a: dict[int, list[dict[str, Any]]], b: dict[int, list[dict[str, Any]]], min_iou: float) -> Agreement:
    ag = Agreement()
    for frame in sorted(a.keys() & b.keys()):
        ra, rb = a[frame], b[frame]
        ag.frames += 1
        ag.faces_a += len(ra)
        ag.faces_b += len(rb)
        pairs = sorted(
            ((iou(tuple(x["box"]), tuple(y["box"])), i, j) for i, x in enumerate(ra) for j, y in enumerate(rb)),
            reverse=True,
        )
        used_a: set[int] = set()
        used_b: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < min_iou:
                break
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            ag.matched += 1
            ag.same_label += ra[i]["label"] == rb[j]["label"]
            sa, sb = ra[i].get("scores") or {}, rb[j].get("scores") or {}
            for k in sa.keys() & sb.keys():
                ag.max_score_diff = max(ag.max_score_diff, abs(float(sa[k]) - float(sb[k])))
    return ag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host", type=Path)
    ap.add_argument("device", type=Path)
    ap.add_argument("--min-agreement", type=float, default=0.95)
    ap.add_argument("--min-iou", type=float, default=0.5)
    ap.add_argument("--exact", action="store_true", help="also require identical scores (max difference 0)")
    args = ap.parse_args(argv)
    try:
        ag = compare(read_rows(args.host), read_rows(args.device), args.min_iou)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        print(f"cannot compare: {exc}")
        return 2
    ok = ag.matched > 0 and ag.fraction >= args.min_agreement and not (args.exact and ag.max_score_diff > 0)
    print(f"{'PASS' if ok else 'FAIL'}: {ag.line()} (needed {100 * args.min_agreement:.0f}%)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
