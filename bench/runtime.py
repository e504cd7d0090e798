"""One table, one run: hs-run's pipeline FPS (face and frame mode), the bare interpreter loop, and the
origin documents' way (Keras ``model.predict`` per frame), plus the runtime's RSS and time to first result.

    python bench/runtime.py --model edge_runtime/models/happysad_int8.tflite [--keras run/model.keras]

TensorFlow is imported here (for the Keras row) but only after the runtime's own measurements, and the
RSS / first-result row runs hs-run in a fresh process that never imports it.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, REPO, interleaved, p50_p90_ms, print_table, time_each
from bench.core_pair import pair_fps
from edge_runtime.cli.hs_bench import invoke_latency, pipeline_fps
from edge_runtime.config import RunConfig
from edge_runtime.faces.detect import DETECTORS, open_detector
from edge_runtime.model.classifier import PACKAGED_MODEL, ModelOptions, load_classifier
from edge_runtime.model.preprocess import to_model_pixels
from edge_runtime.run.stats import StageStats

TARGETS = {"infer_ratio": 1.2, "face_fps": 300.0, "frame_fps": 300.0, "rss_mb": 200.0, "first_s": 1.5}


def first_result_and_rss(model: Path, video: Path) -> tuple[float, float]:
    """Seconds from process start to the first JSON line, and the process's peak RSS in MB."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli.hs_run",
            "--model",
            str(model),
            "--source",
            str(video),
            "--json",
            "-",
            "--headless",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait()
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the only child so far
    return first, rss_kb / 1024.0


def keras_per_frame(keras_path: Path, video: Path, frames: int) -> tuple[float, float]:
    """(ms per frame, import+load seconds) of model.predict on single frames, as the origin documents did."""

    t0 = time.perf_counter()
    import keras

    from edge_runtime.model.spec import PreprocessSpec

    model = keras.models.load_model(keras_path)
    load_s = time.perf_counter() - t0
    _, h, _w, c = model.input_shape
    spec = PreprocessSpec.for_size(h, channels=c)

    def predict(bgr: np.ndarray) -> None:
        model.predict(to_model_pixels(bgr, spec, "BGR").astype(np.float32)[None], verbose=0)

    return per_frame_ms(predict, video, frames, skip=1), load_s


def video_frames(video: Path, frames: int) -> Iterator[np.ndarray]:
    """The video's first ``frames`` BGR frames (fewer if it is shorter), read one at a time."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        for _ in range(frames):
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr
    finally:
        cap.release()


def per_frame_ms(work: Callable[[np.ndarray], object], video: Path, frames: int, skip: int) -> float:
    """p50 ms of ``work`` on each of the video's first ``frames`` frames (the first ``skip`` are warm-up)."""
    return p50_p90_ms(time_each(work, video_frames(video, frames), warmup=skip))[0]


@dataclass
class Rounds:
    """Each mode's FPS and process CPU ms per frame (all threads) per round, and its last round's stages."""

    fps: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    stats: dict[str, StageStats] = field(default_factory=dict)

    def median(self, mode: str) -> float:
        return float(np.median(self.fps[mode]))


def pipeline_round(cfg: RunConfig) -> tuple[float, float, StageStats]:
    """One pipeline run: FPS, process CPU ms per frame (all threads) and its stages."""
    c0 = time.process_time()
    fps, stats = pipeline_fps(cfg)
    return fps, (time.process_time() - c0) * 1e3 / (cfg.max_frames or 1), stats


def rounds(modes: dict[str, RunConfig], n: int, others: dict[str, Callable[[], float]] | None = None) -> Rounds:
    """``n`` interleaved rounds of each mode (and of each of ``others``, a callable giving FPS): the machine's
    speed drifts, and interleaving shares the drift out."""
    work: dict[str, Callable[[], tuple[float, float, StageStats | None]]]
    work = {mode: (lambda cfg=cfg: pipeline_round(cfg)) for mode, cfg in modes.items()}
    work |= {name: (lambda f=f: (f(), float("nan"), None)) for name, f in (others or {}).items()}
    out = Rounds()
    for name, results in interleaved(work, n).items():
        out.fps[name] = [fps for fps, _, _ in results]
        if name in modes:
            out.cpu_ms[name] = [cpu for _, cpu, _ in results]
            out.stats[name] = results[-1][2]
    return out


def detect_alone(name: str, threads: int, video: Path, frames: int = 150) -> float:
    """p50 ms of the detector's own ``detect`` on the clip's first frames, nothing else running."""
    det = open_detector(name, threads=threads)
    return per_frame_ms(lambda bgr: det.detect(bgr, "BGR"), video, frames, skip=5)


def spread(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


def row(name: str, value: str, target: str = "", ok: bool | None = None) -> list[str]:
    """One row of the table: measure, value, target and whether it is met (ok / MISS; blank: no target)."""
    return [name, value, target, "" if ok is None else ("ok" if ok else "MISS")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=PACKAGED_MODEL, help="int8 TFLite model")
    ap.add_argument("--keras", type=Path, default=None, help="model.keras for the origin-way row")
    ap.add_argument("--video", type=Path, default=FACE_CLIP)
    ap.add_argument("--keras-frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each pipeline mode (median shown)")
    ap.add_argument("--frames", type=int, default=550, help="frames per pipeline round (the clip looped)")
    ap.add_argument("--headless-rounds", type=int, default=3, help="rounds of the --serve/--mqtt cost (0: skip)")
    args = ap.parse_args()
    if not args.model.is_file():
        print(
            f"bench: no model at {args.model}; pass --model FILE.tflite (e.g. a hs-convert int8 output)",
            file=sys.stderr,
        )
        return 2
    if not args.video.is_file():
        print(f"bench: video {args.video} not found; pass --video", file=sys.stderr)
        return 2

    first_s, rss_mb = first_result_and_rss(args.model, args.video)
    clf = load_classifier(args.model, threads=args.threads)
    bare50, bare90 = invoke_latency(clf, runs=300)
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    cold50, cold90 = invoke_latency(clf, runs=300, between=lambda: frame.copy())
    run = RunConfig.from_flat(
        model=str(args.model), source=str(args.video), threads=args.threads, loop=True, max_frames=args.frames
    )
    modes = {
        "face": run.with_flat(model_options=ModelOptions(roi="face")),
        "face, in turn": run.with_flat(model_options=ModelOptions(roi="face"), frame_workers=False),
        "frame": run.with_flat(model_options=ModelOptions(roi="frame")),
    }
    pair = {"core pair": lambda: sum(pair_fps(args.model, args.video, args.frames))}
    main_rounds = rounds(modes, args.rounds, pair)
    fps_of = main_rounds.fps
    face_fps, frame_fps, turn_fps = (main_rounds.median(m) for m in ("face", "frame", "face, in turn"))
    face_stats, frame_stats = main_rounds.stats["face"], main_rounds.stats["frame"]
    pair_sum = main_rounds.median("core pair")
    inf50 = (frame_stats.percentiles("infer") or (float("nan"),))[0]
    invokes = 2 if clf.info.flip_average else 1  # a flip-averaged model runs the face and its mirror
    inp = clf.runner.input
    title = (
        f"model {args.model} ({'x'.join(map(str, inp.shape[1:]))} {inp.dtype}), {clf.backend}, "
        f"{args.threads} threads, video {args.video.name}"
    )
    table = [
        row("bare invoke loop p50 / p90 (ms)", f"{bare50:.3f} / {bare90:.3f}"),
        row("bare invoke, a frame copied between (ms)", f"{cold50:.3f} / {cold90:.3f}"),
        row(
            f"pipeline infer stage p50 (ms), frame mode, {invokes} invoke(s)",
            f"{inf50:.3f}",
            f"<= {TARGETS['infer_ratio'] * bare50 * invokes:.3f}",
            inf50 <= TARGETS["infer_ratio"] * bare50 * invokes,
        ),
        row(
            f"hs-run pipeline FPS, face mode (median of {args.rounds})",
            f"{face_fps:.1f}",
            f">= {TARGETS['face_fps']:.0f}",
            face_fps >= TARGETS["face_fps"],
        ),
        row(f"  face mode rounds; frames in turn instead: {turn_fps:.0f}", spread(fps_of["face"])),
        row("  face mode CPU ms per frame, all threads (median)", f"{np.median(main_rounds.cpu_ms['face']):.2f}"),
        row("  a 1-thread pipeline per core at once, FPS summed", f"{pair_sum:.0f}"),
        row(
            "    (bench/core_pair.py) rounds; face mode / it",
            f"{spread(fps_of['core pair'])}; {face_fps / pair_sum:.2f}",
        ),
        row(
            f"hs-run pipeline FPS, frame mode (median of {args.rounds})",
            f"{frame_fps:.1f}",
            f">= {TARGETS['frame_fps']:.0f}",
            frame_fps >= TARGETS["frame_fps"],
        ),
        row("  frame mode rounds", spread(fps_of["frame"])),
        row(
            "runtime peak RSS (MB), fresh process",
            f"{rss_mb:.0f}",
            f"< {TARGETS['rss_mb']:.0f}",
            rss_mb < TARGETS["rss_mb"],
        ),
        row(
            "time to first result (s), incl. start-up",
            f"{first_s:.2f}",
            f"<= {TARGETS['first_s']}",
            first_s <= TARGETS["first_s"],
        ),
    ]
    if args.keras and args.keras.is_file():
        ms, load_s = keras_per_frame(args.keras, args.video, args.keras_frames)
        table.append(
            row(f"origin way: Keras predict/frame ({args.keras_frames} fr)", f"{ms:.1f} ms = {1e3 / ms:.1f} FPS")
        )
        table.append(row("origin way: TF import + model load (s)", f"{load_s:.1f}"))
    else:
        table.append(row("origin way: Keras predict per frame", "skipped: no --keras"))
    table.append(row("face / frame mode FPS, same run (machine shared)", f"{face_fps / frame_fps:.2f}"))
    side = "in turn: --threads 1" if args.threads < 2 else f"{face_fps / turn_fps:.2f}"
    table.append(row("face mode: frame workers / in turn", side))
    per_detector = {name: modes["face"].with_flat(detector=name) for name in DETECTORS}
    det_rounds = rounds(per_detector, args.rounds)
    for name in DETECTORS:  # each detector in face mode: FPS, its ratio to frame mode, p50 of the detect stage
        fps = det_rounds.median(name)
        det50 = (det_rounds.stats[name].percentiles("detect") or (float("nan"),))[0]
        cell = f"{fps:.0f} / {fps / frame_fps:.2f} / {det50:.2f}"
        table.append(row(f"{name}: FPS / face:frame / detect p50 ms", cell))
        alone = " / ".join(f"{detect_alone(name, n, args.video):.2f}" for n in (1, 2))
        table.append(row(f"  {name}: detect() alone p50 ms, 1 / 2 threads", alone))
    print(title)
    print_table(["measure", "value", "target", "ok?"], table)
    if args.headless_rounds:  # --serve with 0, 1, 3 viewers and --mqtt beside plain face mode (bench/headless_cost.py)
        from bench.headless_cost import rows as headless_rows

        print("\n".join(["", *headless_rows(args.video, args.threads, rounds=args.headless_rounds), ""]))
    print("face mode stages: " + face_stats.report())
    print("frame mode stages: " + frame_stats.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
