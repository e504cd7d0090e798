"""How still do labels hold, and how fast do they follow a real change? Side by side for several
steadiness settings, in one run:

- on ``face_clip.mp4`` (real faces, no ground truth): label changes per second within one track, and how
  many of them are moves into or out of 'uncertain' (target: at most 0.3 changes per second);
- on a synthetic clip whose ground truth switches faces between happy and sad every 1-3 s: the delay from
  each switch until the reported label follows (target: at most 0.5 s), and the fraction of frames whose
  label is right (frames where the drawn expression is unambiguous).

    python bench/stability.py [--model happysad] [--video face_clip.mp4] [--synthetic-model runs/demo/model_int8.tflite]

The shipped model was trained on real faces; for the synthetic clip pass a model trained on the
generator's faces (``make demo`` writes one) or read that part with that in mind.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, print_table
from edge_runtime.config import RunConfig
from edge_runtime.io.sources import VideoFileSource
from edge_runtime.model.classifier import ModelOptions
from edge_runtime.results import FrameResult
from edge_runtime.run.build import build_classifier, build_pipeline
from edge_runtime.run.track import UNCERTAIN, Steadiness, Tracker, iou


class Collect:
    """A sink that keeps every record as its JSON Lines row (the bench reads them after the run)."""

    needs_image = False

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        self.records.append(result.to_dict())
        return None

    def close(self, ok: bool) -> None:
        pass


def settings(uncertain: float) -> dict[str, Steadiness]:
    per_frame_04 = -(1 / 25) / math.log(0.6)  # the old per-frame EMA (0.4) at 25 FPS, in seconds
    return {
        "before: EMA 0.4/frame, no band hysteresis": Steadiness(per_frame_04, 0.1, uncertain, 0.0, 0.0, 0.0),
        "tau 0.1 s, band margin 0.1": Steadiness(0.1, 0.1, uncertain, 0.1, 0.0, 0.0),
        "before: tau 0.1 s, band margin 0.1, hold 0.15 s": Steadiness(0.1, 0.1, uncertain, 0.1, 0.15, 0.15),
        "tau 0.2 s, band margin 0.1, hold 0.25 s": Steadiness(0.2, 0.1, uncertain, 0.1, 0.25, 0.25),
        "now: tau 0.1 s, hold 0.15 s, uncertain 0.6 s": Steadiness(0.1, 0.1, uncertain, 0.1, 0.15, 0.6),
        "tau 0.15 s, hold 0.25 s, uncertain hold 0.6 s": Steadiness(0.15, 0.1, uncertain, 0.1, 0.25, 0.6),
        "tau 0.15 s, hold 0.25 s, uncertain hold 1.0 s": Steadiness(0.15, 0.1, uncertain, 0.1, 0.25, 1.0),
        "tau 0.2 s, band 0.15, hold 0.3 s, unc. hold 1.0 s": Steadiness(0.2, 0.15, uncertain, 0.1, 0.3, 1.0),
    }


def records(model: str, video: Path, steadiness: Steadiness) -> tuple[list[dict[str, Any]], float]:
    """Every record of a face-mode run over ``video``, and the video's seconds per frame."""
    cfg = RunConfig.from_flat(model=model, source=str(video), threads=2, model_options=ModelOptions(roi="face"))
    clf = build_classifier(cfg)
    sink = Collect()
    pipe = build_pipeline(cfg, clf, [sink])
    pipe.tracker = Tracker(clf.info.labels, clf.info.threshold, replace(steadiness))
    source = VideoFileSource(str(video))
    try:
        pipe.run(source)
    finally:
        source.close()
    return sink.records, source.frame_s


def changes_per_second(recs: list[dict[str, Any]], frame_s: float) -> tuple[float, float, int]:
    """(label changes per second of tracked face, the share of them involving 'uncertain', changes)."""
    last: dict[int, tuple[int, str]] = {}
    first: dict[int, int] = {}
    n = n_unc = 0
    for r in recs:
        for res in r["results"]:
            tid, label = res["track"], res["label"]
            first.setdefault(tid, r["frame"])
            if tid in last and last[tid][1] != label:
                n += 1
                n_unc += UNCERTAIN in (label, last[tid][1])
            last[tid] = (r["frame"], label)
    seconds = sum((last[t][0] - first[t]) * frame_s for t in last)
    return (n / seconds if seconds else 0.0), (n_unc / n if n else 0.0), n


def follow(recs: list[dict[str, Any]], truth: list[dict[str, Any]], frame_s: float) -> tuple[list[float], float]:
    """Delays (s) from each ground-truth switch until the matched face's label follows, and the share of
    unambiguous frames labelled right."""
    right = total = 0
    delays: list[float] = []
    pending: dict[int, tuple[int, str]] = {}  # truth face -> (switch frame, new label)
    prev: dict[int, str] = {}
    for rec, t in zip(recs, truth):
        for j, face in enumerate(t["faces"]):
            if j in prev and prev[j] != face["label"]:
                pending[j] = (t["frame"], face["label"])
            prev[j] = face["label"]
            match = max(rec["results"], key=lambda r: iou(tuple(r["box"]), tuple(face["box"])), default=None)
            if match is None or iou(tuple(match["box"]), tuple(face["box"])) < 0.3:
                continue
            if abs(face["smile"]) >= 0.3:
                total += 1
                right += match["label"] == face["label"]
            if j in pending and match["label"] == pending[j][1]:
                delays.append((t["frame"] - pending[j][0]) * frame_s)
                del pending[j]
    return delays, (right / total if total else float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="happysad")
    ap.add_argument("--video", type=Path, default=FACE_CLIP)
    ap.add_argument("--synthetic-model", default=None, help="model for the synthetic clip [default: --model]")
    ap.add_argument("--frames", type=int, default=600, help="length of the synthetic clip")
    args = ap.parse_args()
    clf = build_classifier(RunConfig.from_flat(model=args.model))
    band = clf.info.uncertain_band
    print(f"model {args.model}: uncertain band {band:g}")
    if args.video.is_file():
        print(f"\n{args.video.name}: label changes per second within a track (target <= 0.3)")
        rows = []
        for name, s in settings(band).items():
            rate, unc, n = changes_per_second(*records(args.model, args.video, s))
            rows.append([name, rate, 100 * unc, n])
        print_table(["setting", "changes/s", "into/out of uncertain %", "changes"], rows, ["", ".2f", ".0f", "d"])
    else:
        print(f"{args.video} not found: the real-clip table is skipped")
    from testkit.synthetic import write_video

    with tempfile.TemporaryDirectory(prefix="hs-stability-") as tmp:
        clip = Path(tmp) / "switching.avi"
        truth = write_video(clip, n_frames=args.frames, fps=30, seed=3)
        model = args.synthetic_model or args.model
        print(f"\nsynthetic clip ({args.frames} frames at 30 FPS, switches every 1-3 s), model {model}:")
        rows = []
        for name, s in settings(band).items():
            recs, frame_s = records(model, clip, s)
            delays, right = follow(recs, truth, frame_s)
            med = f"{np.median(delays):.2f} / {max(delays):.2f}" if delays else "n/a"
            rows.append([name, len(delays), med, 100 * right])
        header = ["setting", "switches followed", "delay p50 / max (s)", "frames right %"]
        print_table(header, rows, ["", "d", "", ".1f"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
