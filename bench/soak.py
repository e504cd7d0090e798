"""Soak: push at least 100,000 frames through a real ``hs-run`` process (a video played in a loop, face mode,
JSON Lines with rotation) and sample its resident memory every second. A run of weeks must keep it flat.

    python bench/soak.py [--frames 100000] [--video face_clip.mp4] [--model happysad]

Prints RSS at start and at each quarter of the run, and the growth from the first quarter to the end
(start-up allocations are over by then). Exit 1 when the growth passes --max-growth-mb.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, REPO, format_table


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` from /proc (Linux), or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def synthetic_video(folder: Path) -> Path:
    """A stand-in clip with drawn faces when the shared face clip is absent."""
    from testkit.synthetic import write_video

    path = folder / "synthetic.mp4"
    write_video(path, n_frames=150)
    return path


def soak(args: argparse.Namespace, work: Path) -> list[tuple[float, float]]:
    """(seconds since start, RSS MB) samples for the whole run."""
    cmd = [
        sys.executable,
        "-m",
        "edge_runtime.cli.hs_run",
        "--model",
        args.model,
        "--source",
        str(args.video),
        "--loop",
        "--headless",
        "--max-frames",
        str(args.frames),
        "--json",
        str(work / "soak.jsonl"),
        "--json-max-mb",
        "2",
        "--json-keep",
        "2",
        "--threads",
        str(args.threads),
        "--stats",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(work / "soak.log", "w"))
    t0 = time.monotonic()
    samples = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb:
            samples.append((time.monotonic() - t0, mb))
        time.sleep(1.0)
    if proc.returncode != 0:
        tail = (work / "soak.log").read_text(errors="replace").strip().splitlines()[-3:]
        sys.exit(f"soak: hs-run exited {proc.returncode}: " + " | ".join(tail))  # the log goes with the temp folder
    if not samples:
        sys.exit("soak: hs-run ended before its memory was sampled; pass more --frames")
    return samples


def table(samples: list[tuple[float, float]], frames: int) -> str:
    total = samples[-1][0]
    started = [x for x in samples if x[0] >= 1.0] or samples  # the first second is the exec, not hs-run
    marks = [("start (after 1 s)", started[0])]
    for q in (1, 2, 3, 4):
        at = min(samples, key=lambda s: abs(s[0] - total * q / 4))
        marks.append((f"quarter {q}", at))
    lines = [f"{frames} frames in {total:.0f} s ({frames / max(total, 1e-9):.0f} FPS), {len(samples)} RSS samples"]
    lines += format_table(
        ["point", "time (s)", "RSS (MB)"], [[name, t, mb] for name, (t, mb) in marks], ["", ".0f", ".1f"]
    )
    q1 = marks[1][1][1]
    peak = max(mb for _, mb in samples if _ >= marks[1][1][0])
    lines.append(
        f"growth from quarter 1 to the end: {marks[-1][1][1] - q1:+.1f} MB; peak after quarter 1: {peak:.1f} MB"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--video", type=Path, default=FACE_CLIP)
    ap.add_argument("--model", default="happysad")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-growth-mb", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hs-soak-") as tmp:
        work = Path(tmp)
        if not args.video.is_file():
            print(f"soak: {args.video} not found; using a synthetic clip", file=sys.stderr)
            args.video = synthetic_video(work)
        samples = soak(args, work)
        print(
            f"hs-run --model {args.model} --source {args.video.name} --loop --json (rotating) --threads {args.threads}"
        )
        print(table(samples, args.frames))
        growth = samples[-1][1] - min(samples, key=lambda s: abs(s[0] - samples[-1][0] / 4))[1]
    return 1 if growth > args.max_growth_mb else 0


if __name__ == "__main__":
    raise SystemExit(main())
