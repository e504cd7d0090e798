"""The one way to assemble a run: settings (``config.RunConfig``) -> classifier,
detector, tracker, sinks -> ``Pipeline``. Used by ``hs-run``, ``hs-bench`` and the bench scripts alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from edge_runtime.config import RunConfig
from edge_runtime.errors import RuntimeFailure
from edge_runtime.faces.detect import Detector, open_detector, resolve_detector
from edge_runtime.io.atomic import check_output_file
from edge_runtime.io.sources import Source
from edge_runtime.model.classifier import Classifier, load_classifier, resolve_model
from edge_runtime.outputs.services import check_headless, headless_sinks
from edge_runtime.outputs.sinks import JsonLinesFile, JsonLinesStdout, Sink, VideoFile, WindowSink, gui_problem
from edge_runtime.run.pipeline import Lane, Pipeline, SearchPlan
from edge_runtime.run.stats import StageStats
from edge_runtime.run.track import Tracker, tracker_for

Log = Callable[[str], None]


def frame_lanes(cfg: RunConfig) -> int:
    """How many frames are analysed at once (``edge_runtime/run/workers.py``): one per thread, each lane's
    detector and classifier on one interpreter thread, when BlazeFace's file is given or installed; else 1,
    in turn with every thread given to each model. Haar searches where the tracker saw faces, so it goes in
    turn; so does a delegate (one accelerator) and ``--threads 1``. On 2 cores two lanes beat the detector
    one frame ahead of the classifier (interleaved runs, docs/PERFORMANCE.md)."""
    if not cfg.faces.frame_workers or cfg.threads < 2 or cfg.delegate:
        return 1
    name, _ = resolve_detector(cfg.faces.detector, cfg.faces.detector_model)
    return 1 if name == "haar" else cfg.threads


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
    return tracker_for(clf.info)


def build_detector(cfg: RunConfig, clf: Classifier, log: Log = lambda m: None) -> Detector | None:
    """A face detector when the model classifies faces; None when it classifies whole frames."""
    if clf.info.preprocessing.face_crop.roi != "face":
        return None
    threads = 1 if frame_lanes(cfg) > 1 else cfg.threads
    faces = cfg.faces
    return open_detector(faces.detector, faces.detector_model, threads, faces.detect_width, log, faces.detect_every)


def build_sinks(cfg: RunConfig, source: Source, log: Log, labels: tuple[str, ...] = ()) -> list[Sink]:
    """Every output the settings ask for, each checked (writable, not a folder) before the first frame.
    Built in order, so a sink that fails to open closes the ones opened before it."""
    sinks: list[Sink] = []
    try:
        if cfg.outputs.json_out == "-":
            sinks.append(JsonLinesStdout())
        elif cfg.outputs.json_out:
            sinks.append(JsonLinesFile(cfg.outputs.json_out, int(cfg.outputs.json_max_mb * 1e6), cfg.outputs.json_keep))
        if cfg.outputs.save:
            sinks.append(VideoFile(cfg.outputs.save, cfg.input.fps or source_fps(source), log))
        if not cfg.outputs.headless:
            problem = gui_problem()
            if problem:
                log(f"no window ({problem}); running headless")
            else:
                sinks.append(WindowSink())
        sinks += headless_sinks(cfg.services, source, log, labels)
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
    if detector is None or not detector.traits.twins:
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
        search=SearchPlan(refresh_every=cfg.faces.detect_every),
        align=cfg.faces.align,
        more_lanes=build_lanes(cfg, clf, detector),
    )


def check_config(cfg: RunConfig) -> None:
    """Settings that are wrong together, found before anything is opened."""
    if (cfg.input.camera is None) == (cfg.input.source is None):
        raise RuntimeFailure(
            "give exactly one of --camera (0, /dev/video0, picam) or --source (file, folder, glob, URL)"
        )
    if (
        cfg.outputs.json_out
        and cfg.outputs.save
        and Path(cfg.outputs.json_out).resolve() == Path(cfg.outputs.save).resolve()
    ):
        raise RuntimeFailure("--json and --save name the same file")
    for out in (cfg.outputs.save, None if cfg.outputs.json_out == "-" else cfg.outputs.json_out):
        if out:
            check_output_file(out)
    check_not_an_input(cfg)
    check_headless(cfg.services)


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_not_an_input(cfg: RunConfig) -> None:
    """Refuse an output that is an input (the model, the detector model, the source or one of its images),
    compared as files (device and inode), so a link or another spelling of the same path is caught too."""
    from edge_runtime.io.sources import image_paths

    inputs: list[tuple[str, str]] = [("--model", str(resolve_model(cfg.model)))]
    if cfg.faces.detector_model:
        inputs.append(("--detector-model", cfg.faces.detector_model))
    if cfg.input.source and "://" not in cfg.input.source:
        inputs.append(("--source", cfg.input.source))
        inputs += [("--source", str(p)) for p in image_paths(cfg.input.source) or [] if str(p) != cfg.input.source]
    ids = [(opt, path, _identity(path)) for opt, path in inputs]
    for opt_out, out in (
        ("--save", cfg.outputs.save),
        ("--json", None if cfg.outputs.json_out == "-" else cfg.outputs.json_out),
    ):
        out_id = _identity(out) if out else None
        if out_id is None:
            continue
        for opt_in, path, in_id in ids:
            if in_id == out_id:
                raise RuntimeFailure(
                    f"{opt_out} {out} is the {opt_in} file {path}; name another output (nothing was changed)"
                )
