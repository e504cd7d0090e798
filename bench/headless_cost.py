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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, format_table, interleaved
from edge_runtime.config import RunConfig
from edge_runtime.io.sources import VideoFileSource
from edge_runtime.model.classifier import ModelOptions
from edge_runtime.outputs.web import WebSink
from edge_runtime.run.build import build_classifier, build_pipeline, build_sinks
from edge_runtime.run.pipeline import Limits
from edge_runtime.run.stats import StageStats

# A viewer reading the MJPEG stream; the Host is an IP address, as the web view without a token requires.
VIEWER = (
    "import socket, sys\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.sendall(b'GET /stream.mjpg HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')\n"
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
    source = VideoFileSource(str(cfg.input.source), loop=True)
    sinks = build_sinks(cfg, source, lambda m: None, clf.info.labels)
    procs = []
    try:
        web = next((s for s in sinks if isinstance(s, WebSink)), None)
        if web is not None:
            port = web.server.port
            procs = [subprocess.Popen([sys.executable, "-c", VIEWER, str(port)]) for _ in range(viewers)]
            deadline = time.monotonic() + 10
            while web.hub.viewers < viewers and time.monotonic() < deadline:
                time.sleep(0.05)
            if web.hub.viewers < viewers:
                raise RuntimeError(f"only {web.hub.viewers} of {viewers} viewers reached the stream in 10 s")
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
    base = RunConfig.from_flat(
        source=str(video), threads=threads, headless=True, duration=seconds, model_options=ModelOptions(roi="face")
    )
    with mosquitto() as broker:
        settings: dict[str, tuple[RunConfig, int]] = {
            "plain face mode": (base, 0),
            "--serve, 0 viewers": (base.with_flat(serve="127.0.0.1:0"), 0),
            "--serve, 1 viewer": (base.with_flat(serve="127.0.0.1:0"), 1),
            "--serve, 3 viewers": (base.with_flat(serve="127.0.0.1:0"), 3),
        }
        if broker is not None:
            settings["--mqtt (local mosquitto)"] = (base.with_flat(mqtt=f"mqtt://127.0.0.1:{broker}/bench"), 0)
        fps_with(base, 0)  # warm-up: file cache, interpreter, CPU clocks
        work = {
            name: (lambda cfg=cfg, viewers=viewers: fps_with(cfg, viewers)) for name, (cfg, viewers) in settings.items()
        }
        got = interleaved(work, rounds)
    plain = statistics.median(fps for fps, _ in got["plain face mode"])
    table = []
    for name, values in got.items():
        fps = statistics.median(f for f, _ in values)
        change = "" if name == "plain face mode" else f"{(fps / plain - 1) * 100:+.1f}%"
        rounds_text = ", ".join(f"{f:.0f}" for f, _ in values)
        table.append([name, fps, change, statistics.median(ms for _, ms in values), rounds_text])
    header = ["headless output", "FPS (median)", "vs plain", "output p50 ms", "FPS per round"]
    out = format_table(header, table, ["", ".1f", "", ".3f", ""])
    if broker is None:
        out.append("--mqtt: skipped, no mosquitto on this machine")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=FACE_CLIP)
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
