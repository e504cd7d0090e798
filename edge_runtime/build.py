"""The one way to assemble a run: settings (``RunConfig``, the single home of every default) -> classifier,
detector, tracker, sinks -> ``Pipeline``. Used by ``hs-run``, ``hs-bench`` and the bench scripts alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import check_output_file
from .blazeface import MODELS, BlazeFace
from .detect import Detector, find_model_file, open_detector
from .errors import RuntimeFailure
from .headless import check_headless, headless_sinks
from .imageio import MAX_PIXELS
from .model import Classifier, ModelOptions, load_classifier, resolve_model
from .pipeline import Lane, Pipeline, SearchPlan
from .sinks import JsonLinesFile, JsonLinesStdout, Sink, VideoFile, WindowSink, gui_problem
from .sources import Source
from .stats import StageStats
from .track import Steadiness, Tracker

Log = Callable[[str], None]


def default_threads() -> int:
    """All cores, at most 4: XNNPACK gains nothing past that on a Pi-sized model."""
    return min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``hs-run`` can be told; the command line's defaults are these fields' defaults."""

    model: str | None = None  # a .tflite file or a packaged model's name; None: the packaged default
    camera: str | None = None
    source: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    threads: int = field(default_factory=default_threads)
    delegate: str | None = None
    model_options: ModelOptions = field(default_factory=ModelOptions)  # labels, size, roi... from the command line
    headless: bool = False
    json_out: str | None = None  # a file (appended), "-" for stdout
    json_max_mb: float = 100.0  # rotate the JSON file at this size (0: never)
    json_keep: int = 5  # rotated JSON files kept beside the live one
    save: str | None = None
    reconnect: int | None = None  # None: forever
    loop: bool = False
    max_pixels: int = MAX_PIXELS  # an image declaring more is skipped before decoding (a decompression bomb)
    max_frames: int | None = None
    duration: float | None = None
    stats: bool = False
    detector: str | None = None  # blazeface, blazeface-full or haar; None: blazeface if its file is installed
    detector_model: str | None = None  # a BlazeFace .tflite file given directly
    align: bool = True  # level the eyes before cutting the face (detectors with keypoints)
    frame_workers: bool = True  # with BlazeFace, one worker per thread analyses whole frames side by side
    detect_width: int = 320  # haar: the cascade searches a copy this wide
    detect_every: int = 5  # haar: full search every N frames, local search around tracked faces between
    stats_every_s: float = 5.0
    # headless outputs (edge_runtime/headless.py builds them): a web view, MQTT events, snapshots
    serve: str | None = None  # [HOST:]PORT; the host defaults to 127.0.0.1
    serve_token: str | None = None
    serve_token_file: str | None = None
    serve_fps: float = 10.0  # most frames per second encoded for viewers (only while someone watches)
    mqtt: str | None = None  # mqtt://[user:pass@]host[:port]/prefix
    mqtt_every: float = 30.0  # seconds between summaries
    mqtt_queue: int = 1000  # events kept while the broker is away (the oldest dropped beyond)
    snapshot_dir: str | None = None
    snapshot_on: str | None = None  # the label that triggers a snapshot
    snapshot_hold: float = 1.0  # seconds a face holds the label first
    snapshot_every: float = 10.0  # at most one snapshot per this many seconds
    snapshot_keep: int = 200  # snapshots kept (oldest deleted beyond)
    snapshot_max_mb: float = 100.0  # and at most this many MB of them (0: no byte cap)
    snapshot_crop: bool = False  # also save the face crop


def frame_lanes(cfg: RunConfig) -> int:
    """How many frames are analysed at once (``edge_runtime/workers.py``): one per thread, each lane's
    detector and classifier on one interpreter thread, when BlazeFace's file is given or installed; else 1,
    in turn with every thread given to each model. Haar searches where the tracker saw faces, so it goes in
    turn; so does a delegate (one accelerator) and ``--threads 1``. On 2 cores two lanes beat the detector
    one frame ahead of the classifier (interleaved runs, README "Face mode at 300 FPS")."""
    if not cfg.frame_workers or cfg.detector == "haar" or cfg.threads < 2 or cfg.delegate:
        return 1
    found = bool(cfg.detector_model) or find_model_file(MODELS[cfg.detector or "blazeface"].file) is not None
    return cfg.threads if found else 1


def build_classifier(cfg: RunConfig) -> Classifier:
    return load_classifier(
        resolve_model(cfg.model),
        cfg.model_options,
        threads=cfg.threads,
        delegate=cfg.delegate,
        face_threads=1 if frame_lanes(cfg) > 1 else None,
    )


def build_tracker(clf: Classifier) -> Tracker:
    """The tracker decides labels as the model's metadata says: labels, threshold, uncertain band."""
    info = clf.info
    return Tracker(info.labels, info.threshold, Steadiness(uncertain=info.uncertain_band))


def build_detector(cfg: RunConfig, clf: Classifier, log: Log = lambda m: None) -> Detector | None:
    """A face detector when the model classifies faces; None when it classifies whole frames."""
    if clf.info.preprocessing.face_crop.roi != "face":
        return None
    threads = 1 if frame_lanes(cfg) > 1 else cfg.threads
    return open_detector(cfg.detector, cfg.detector_model, threads, cfg.detect_width, log)


def build_sinks(cfg: RunConfig, source: Source, log: Log) -> list[Sink]:
    """Every output the settings ask for, each checked (writable, not a folder) before the first frame.
    Built in order, so a sink that fails to open closes the ones opened before it."""
    sinks: list[Sink] = []
    try:
        if cfg.json_out == "-":
            sinks.append(JsonLinesStdout())
        elif cfg.json_out:
            sinks.append(JsonLinesFile(cfg.json_out, int(cfg.json_max_mb * 1e6), cfg.json_keep))
        if cfg.save:
            sinks.append(VideoFile(cfg.save, cfg.fps or source_fps(source), log))
        if not cfg.headless:
            problem = gui_problem()
            if problem:
                log(f"no window ({problem}); running headless")
            else:
                sinks.append(WindowSink())
        sinks += headless_sinks(cfg, source, log)
    except BaseException:
        for s in sinks:
            s.close(False)
        raise
    return sinks


def source_fps(source: Source) -> float:
    """The frame rate a source reports (a video file's), or 0 when it has none."""
    cap = getattr(source, "cap", None)
    try:
        import cv2

        return float(cap.get(cv2.CAP_PROP_FPS)) if cap is not None else 0.0
    except Exception:  # noqa: BLE001 - a fake or picamera capture has no such property
        return 0.0


def build_lanes(cfg: RunConfig, clf: Classifier, detector: Detector | None) -> list[Lane]:
    """The frame workers' lanes beyond the first (``clf`` and ``detector``): twins with their own interpreters."""
    if not isinstance(detector, BlazeFace):
        return []
    return [Lane(clf.twin(1), detector.twin(1)) for _ in range(frame_lanes(cfg) - 1)]


def build_pipeline(
    cfg: RunConfig, clf: Classifier, sinks: list[Sink], stats: StageStats | None = None, log: Log = lambda m: None
) -> Pipeline:
    detector = build_detector(cfg, clf, log)
    return Pipeline(
        clf,
        detector,
        build_tracker(clf),
        sinks,
        stats,
        log=log,
        search=SearchPlan(refresh_every=cfg.detect_every),
        align=cfg.align,
        more_lanes=build_lanes(cfg, clf, detector),
    )


def check_config(cfg: RunConfig) -> None:
    """Settings that are wrong together, found before anything is opened."""
    if (cfg.camera is None) == (cfg.source is None):
        raise RuntimeFailure(
            "give exactly one of --camera (0, /dev/video0, picam) or --source (file, folder, glob, URL)"
        )
    if cfg.json_out and cfg.save and Path(cfg.json_out).resolve() == Path(cfg.save).resolve():
        raise RuntimeFailure("--json and --save name the same file")
    for out in (cfg.save, None if cfg.json_out == "-" else cfg.json_out):
        if out:
            check_output_file(out)
    check_not_an_input(cfg)
    check_headless(cfg)


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_not_an_input(cfg: RunConfig) -> None:
    """Refuse an output that is an input (the model, the detector model, the source or one of its images),
    compared as files (device and inode), so a link or another spelling of the same path is caught too."""
    from .sources import image_paths

    inputs: list[tuple[str, str]] = [("--model", str(resolve_model(cfg.model)))]
    if cfg.detector_model:
        inputs.append(("--detector-model", cfg.detector_model))
    if cfg.source and "://" not in cfg.source:
        inputs.append(("--source", cfg.source))
        inputs += [("--source", str(p)) for p in image_paths(cfg.source) or [] if str(p) != cfg.source]
    ids = [(opt, path, _identity(path)) for opt, path in inputs]
    for opt_out, out in (("--save", cfg.save), ("--json", None if cfg.json_out == "-" else cfg.json_out)):
        out_id = _identity(out) if out else None
        if out_id is None:
            continue
        for opt_in, path, in_id in ids:
            if in_id == out_id:
                raise RuntimeFailure(
                    f"{opt_out} {out} is the {opt_in} file {path}; name another output (nothing was changed)"
                )
