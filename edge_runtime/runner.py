"""Build everything a run needs from the command line's settings, run it, and always clean up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .detect import FaceDetector
from .errors import RuntimeFailure
from .model import Classifier, ModelOptions, load_classifier
from .pipeline import Limits, Pipeline, Summary
from .sinks import JsonLinesSink, Sink, VideoSink, WindowSink, gui_problem
from .sources import Source, open_source
from .stats import StageStats
from .track import Tracker

STATS_EVERY_S = 5.0


@dataclass(frozen=True)
class RunConfig:
    model: Path
    camera: str | None = None
    source: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    threads: int | None = None
    delegate: str | None = None
    model_options: ModelOptions = ModelOptions()  # labels, size, roi, threshold... from the command line
    headless: bool = True
    json_out: str | None = None
    save: str | None = None
    reconnect: int | None = None
    max_frames: int | None = None
    duration: float | None = None
    stats: bool = False
    detect_width: int = 320
    detect_every: int = 5


def describe(clf: Classifier) -> str:
    inp, info = clf.runner.input, clf.info
    return (f"model {clf.path.name}: input {'x'.join(map(str, inp.shape[1:]))} {inp.dtype}, labels "
            f"{','.join(info.labels)} ({info.output}, threshold {info.threshold:g}), "
            f"roi {info.preprocessing.face_crop.roi}")


def build_classifier(cfg: RunConfig) -> Classifier:
    roi = cfg.model_options.roi
    if roi not in (None, "face", "frame"):
        raise RuntimeFailure(f"--roi must be 'face' or 'frame', not {roi!r}")
    return load_classifier(cfg.model, cfg.model_options, threads=cfg.threads, delegate=cfg.delegate)


def build_sinks(cfg: RunConfig, source: Source, log: Callable[[str], None]) -> list[Sink]:
    sinks: list[Sink] = []
    if cfg.json_out:
        sinks.append(JsonLinesSink(cfg.json_out))
    if cfg.save:
        fps = cfg.fps or _source_fps(source)
        sinks.append(VideoSink(cfg.save, fps))
    if not cfg.headless:
        problem = gui_problem()
        if problem:
            log(f"no window ({problem}); running headless")
        else:
            sinks.append(WindowSink())
    return sinks


def _source_fps(source: Source) -> float:
    cap = getattr(source, "cap", None)
    try:
        import cv2

        return float(cap.get(cv2.CAP_PROP_FPS)) if cap is not None else 0.0
    except Exception:  # noqa: BLE001 - a fake or picamera capture has no such property
        return 0.0


def execute(cfg: RunConfig, stop: threading.Event, log: Callable[[str], None]) -> Summary:
    """Load, open, run, close; the summary and timings are logged whatever ends the run."""
    clf = build_classifier(cfg)
    log(f"interpreter {clf.backend} ({cfg.threads} threads{', delegate ' + cfg.delegate if cfg.delegate else ''})")
    log(describe(clf))
    detector = None
    if clf.info.preprocessing.face_crop.roi == "face":
        detector = FaceDetector(width=cfg.detect_width, refresh_every=cfg.detect_every)
    source = open_source(cfg.camera, cfg.source, cfg.width, cfg.height, cfg.fps, cfg.reconnect, log=log)
    log(f"source {source.name} ({'live, newest frame only' if source.live else 'every frame'})")
    sinks: list[Sink] = []
    ok = False
    stats = StageStats()
    try:
        sinks = build_sinks(cfg, source, log)
        tracker = Tracker(clf.info.labels, clf.info.threshold, binary=clf.info.output == "sigmoid",
                          uncertain=clf.info.uncertain_band)
        pipeline = Pipeline(clf, detector, tracker, sinks, stats, log=log)
        limits = Limits(cfg.max_frames, cfg.duration, STATS_EVERY_S if cfg.stats else None)
        summary = pipeline.run(source, limits, stop)
        ok = True
    finally:
        source.close()
        for s in sinks:
            s.close(ok)
    log(summary.line())
    log(stats.report())
    if summary.first_result_s is not None:
        log(f"first result after {summary.first_result_s * 1e3:.0f} ms")
    if summary.frames == 0 and sum(summary.skipped.values()) > 0:
        raise RuntimeFailure(f"no readable frame in {source.name}")
    return summary
