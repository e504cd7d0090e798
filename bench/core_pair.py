"""What this machine's cores can do for face mode with nothing shared: one independent pipeline per core, each
in its own process pinned to its core (``--threads 1``: detector and classifier in turn), all at once.

    python bench/core_pair.py [--frames 800] [--model FILE] [--video FILE]

The sum of their FPS is the yardstick for hs-run's one-process face mode: every core busy, as in hs-run,
so it carries whatever the cores lose by working at the same time, but no GIL shared and no frame handed
between threads. ``bench/runtime.py`` prints it beside face mode, in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, print_table
from edge_runtime.model.classifier import PACKAGED_MODEL

START_DELAY_S = 3.0  # every child is loaded and warm before the first one starts timing


def pair_fps(model: Path, video: Path, frames: int) -> list[float]:
    """Each core's pipeline FPS, all running at once (one child process per core)."""
    cores = sorted(os.sched_getaffinity(0))
    start = time.time() + START_DELAY_S

    def argv(core: int) -> list[str]:
        flags = {"--child": core, "--start": start, "--frames": frames, "--model": model, "--video": video}
        return [sys.executable, __file__, *(str(x) for kv in flags.items() for x in kv)]

    children = [
        subprocess.Popen(argv(core), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for core in cores
    ]
    out = [c.communicate()[0] for c in children]
    if any(c.returncode for c in children):
        raise RuntimeError("a core's pipeline failed: " + " | ".join(out))
    return [float(o.split()[-1]) for o in out]


def child(core: int, start: float, model: Path, video: Path, frames: int) -> float:
    """One pinned, single-threaded face-mode pipeline, timed from the shared start."""
    from dataclasses import replace

    from edge_runtime.cli.hs_bench import pipeline_fps
    from edge_runtime.config import RunConfig
    from edge_runtime.model.classifier import ModelOptions

    os.sched_setaffinity(0, {core})  # before any thread exists: the decoder's thread inherits it
    cfg = RunConfig.from_flat(
        model=str(model), source=str(video), threads=1, loop=True, model_options=ModelOptions(roi="face")
    )
    pipeline_fps(replace(cfg, max_frames=30))  # warm: first invokes and the decoder's start-up
    time.sleep(max(0.0, start - time.time()))
    fps, _ = pipeline_fps(replace(cfg, max_frames=frames))
    return fps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=PACKAGED_MODEL)
    ap.add_argument("--video", type=Path, default=FACE_CLIP)
    ap.add_argument("--frames", type=int, default=800, help="frames per core (the clip looped)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.model.is_file():
        print(f"core_pair: no model at {args.model}; pass --model FILE.tflite", file=sys.stderr)
        return 2
    if not args.video.is_file():
        print(f"core_pair: video {args.video} not found; pass --video", file=sys.stderr)
        return 2
    if args.child is not None:
        print(f"{child(args.child, args.start, args.model, args.video, args.frames):.1f}")
        return 0
    fps = pair_fps(args.model, args.video, args.frames)
    print(f"one pipeline per core, {len(fps)} at once ({args.frames} frames each)")
    rows = [[f"core {i + 1} of {len(fps)}", f] for i, f in enumerate(fps)] + [["sum", sum(fps)]]
    print_table(["pipeline", "FPS"], rows, ["", ".0f"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
