"""The FPS cost of hs-run's headless outputs beside plain face mode, in one run: ``--serve`` with 0, 1 and 3
viewers (each a separate process reading the MJPEG stream, as a laptop's browser would) and ``--mqtt`` (to
a mosquitto started on 127.0.0.1, skipped without one). Rounds alternate the settings, so a background load
that comes and goes hits them alike; the median per setting is reported.

    python bench/headless_cost.py [--video clip.mp4] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_runtime.build import RunConfig, build_classifier, build_pipeline, build_sinks
from edge_runtime.model import ModelOptions
from edge_runtime.pipeline import Limits
from edge_runtime.sources import VideoFileSource
from edge_runtime.stats import StageStats
from edge_runtime.web import WebSink

VIEWER = (
    "import socket, sys\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.sendall(b'GET /stream.mjpg HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
    "while s.recv(1 << 16): pass\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mosquitto() -> Iterator[int | None]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def fps_with(cfg: RunConfig, viewers: int) -> tuple[float, float]:
    """Pipeline FPS on the looping video for ``cfg.duration`` seconds with these sinks and viewers, and the
    output stage's p50 in ms (drawing + every sink's emit: the direct cost, less sensitive to other load)."""
    clf = build_classifier(cfg)
    source = VideoFileSource(str(cfg.source), loop=True)
    sinks = build_sinks(cfg, source, lambda m: None)
    procs = []
    try:
        web = next((s for s in sinks if isinstance(s, WebSink)), None)
        if web is not None:
            port = web.server.port
            procs = [subprocess.Popen([sys.executable, "-c", VIEWER, str(port)]) for _ in range(viewers)]
            deadline = time.monotonic() + 10
            while web.hub.viewers < viewers and time.monotonic() < deadline:
                time.sleep(0.05)
        stats = StageStats()
        pipe = build_pipeline(cfg, clf, sinks, stats)
        t0 = time.perf_counter()
        summary = pipe.run(source, Limits(duration=cfg.duration))
        return summary.frames / (time.perf_counter() - t0), (stats.percentiles("output") or (0.0,))[0]
    finally:
        for p in procs:
            p.kill()
        source.close()
        for s in sinks:
            s.close(True)


def rows(video: Path, threads: int = 2, seconds: float = 5.0, rounds: int = 3) -> list[str]:
    """Markdown table rows: FPS per setting (median of rounds) and its cost against plain face mode."""
    base = RunConfig(
        source=str(video), threads=threads, headless=True, duration=seconds, model_options=ModelOptions(roi="face")
    )
    with mosquitto() as broker:
        settings: dict[str, tuple[RunConfig, int]] = {
            "plain face mode": (base, 0),
            "--serve, 0 viewers": (replace(base, serve="127.0.0.1:0"), 0),
            "--serve, 1 viewer": (replace(base, serve="127.0.0.1:0"), 1),
            "--serve, 3 viewers": (replace(base, serve="127.0.0.1:0"), 3),
        }
        if broker is not None:
            settings["--mqtt (local mosquitto)"] = (replace(base, mqtt=f"mqtt://127.0.0.1:{broker}/bench"), 0)
        got: dict[str, list[float]] = {k: [] for k in settings}
        out_ms: dict[str, list[float]] = {k: [] for k in settings}
        fps_with(base, 0)  # warm-up: file cache, interpreter, CPU clocks
        for _ in range(rounds):
            for name, (cfg, viewers) in settings.items():
                fps, ms = fps_with(cfg, viewers)
                got[name].append(fps)
                out_ms[name].append(ms)
    plain = statistics.median(got["plain face mode"])
    out = [
        "| headless output              | FPS (median) | vs plain | output p50 ms | FPS per round            |",
        "|" + "-" * 30 + "|" + "-" * 14 + "|" + "-" * 10 + "|" + "-" * 15 + "|" + "-" * 26 + "|",
    ]
    for name, values in got.items():
        fps = statistics.median(values)
        change = "" if name == "plain face mode" else f"{(fps / plain - 1) * 100:+.1f}%"
        rounds_text = ", ".join(f"{v:.0f}" for v in values)
        ms = statistics.median(out_ms[name])
        out.append(f"| {name:<28} | {fps:>12.1f} | {change:>8} | {ms:>13.3f} | {rounds_text:<24} |")
    if broker is None:
        out.append("| --mqtt: skipped, no mosquitto on this machine |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=REPO.parent / "shared" / "data" / "video" / "face_clip.mp4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not args.video.is_file():
        print(f"bench: video {args.video} not found; pass --video", file=sys.stderr)
        return 2
    print("\n".join(rows(args.video, args.threads, args.seconds, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
