"""Run what ``build`` assembles: load, open, loop, close, and always say how it ended."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge_runtime.config import RunConfig
from edge_runtime.errors import RuntimeFailure, SourceGaveUp, WriteFailed, first_line
from edge_runtime.io.atomic import OutputRefused
from edge_runtime.io.sources import open_source
from edge_runtime.model.classifier import Classifier
from edge_runtime.outputs.sinks import Sink
from edge_runtime.run.build import Log, build_classifier, build_pipeline, build_sinks, check_config
from edge_runtime.run.pipeline import Limits, Summary
from edge_runtime.run.reload import Reloader
from edge_runtime.run.stats import StageStats


def describe(clf: Classifier) -> str:
    inp, info = clf.runner.input, clf.info
    return (
        f"model {clf.ident}: input {'x'.join(map(str, inp.shape[1:]))} {inp.dtype}, labels "
        f"{','.join(info.labels)} ({info.output}, threshold {info.threshold:g}), "
        f"roi {info.preprocessing.face_crop.roi}"
    )


def close_all(sinks: list[Sink], ok: bool, log: Log) -> None:
    """Close every sink even when one fails (a video is still finalised after the JSON file broke)."""
    for s in sinks:
        try:
            s.close(ok)
        except (OSError, RuntimeFailure) as exc:
            ok = False
            log(f"closing an output failed: {first_line(exc)}")


def execute(
    cfg: RunConfig,
    stop: threading.Event,
    log: Log,
    reload: tuple[threading.Event, Callable[[], RunConfig]] | None = None,
) -> Summary:
    """Load, open, run, close; the summary and timings are logged whatever ends the run. ``reload``: the
    flag a reload request sets and how to read the settings again (``run/reload.py``)."""
    check_config(cfg)
    clf = build_classifier(cfg)
    trigger = cfg.services.snapshot_on
    if trigger is not None and trigger not in (*clf.info.labels, "uncertain"):
        raise RuntimeFailure(
            f"--snapshot-on {trigger}: not a label of this model ({', '.join(clf.info.labels)}, uncertain)"
        )
    log(f"interpreter {clf.backend} ({cfg.threads} threads{', delegate ' + cfg.delegate if cfg.delegate else ''})")
    log(describe(clf))
    source = open_source(
        cfg.input.camera,
        cfg.input.source,
        cfg.input.width,
        cfg.input.height,
        cfg.input.fps,
        cfg.input.reconnect,
        log=log,
        loop=cfg.input.loop,
        max_pixels=cfg.input.max_pixels,
    )
    log(f"source {source.name} ({'live, newest frame only' if source.live else 'every frame'})")
    try:
        sinks = build_sinks(cfg, source, log, clf.info.labels)
    except BaseException:
        source.close()
        raise
    stats, summary, ok, say_summary = StageStats(), Summary(), False, True
    try:
        pipeline = build_pipeline(cfg, clf, sinks, stats, log)
        if pipeline.detector is not None:
            n = len(pipeline.lanes)
            side = f", {n} frames at once (one worker per thread, 1 + 1 interpreter threads each)" if n > 1 else ""
            log(f"face detector {pipeline.detector.name}{side}")
        limits = Limits(cfg.max_frames, cfg.duration, cfg.stats_every_s if cfg.stats else None)
        reloader = Reloader(cfg, reload[1], log, reload[0]) if reload else None
        pipeline.run(source, limits, stop, summary, reloader.poll if reloader else None)
        ok = True
    except RuntimeFailure as exc:  # an output could not be written, or the source could not be opened
        output = isinstance(exc, WriteFailed | OutputRefused)
        summary.stopped_by = "an output failed" if output else "an error"
        say_summary = output or summary.frames > 0  # a source that never opened: its one error line says it
        raise
    finally:
        source.close()
        close_all(sinks, ok, log)
        if say_summary:
            log(summary.line())
        if summary.frames:
            log(stats.report())
        if summary.first_result_s is not None:
            log(f"first result after {summary.first_result_s * 1e3:.0f} ms")
    if source.failure:
        raise SourceGaveUp(source.failure)
    if summary.frames == 0 and sum(summary.skipped.values()) > 0:
        raise RuntimeFailure(f"no readable frame in {source.name}")
    return summary
