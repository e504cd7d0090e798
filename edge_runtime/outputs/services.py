"""The outputs a device without a screen needs: a live web view (``--serve``), MQTT events (``--mqtt``),
snapshots (``--snapshot-dir``), and systemd's notify/watchdog when run as a ``Type=notify`` service.

Called by the run's builder; each module is imported only when its option is used (paho-mqtt above
all, an optional extra). The live status the web view and MQTT read is itself a sink, placed first.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from edge_runtime.config import ServiceSettings
from edge_runtime.errors import RuntimeFailure
from edge_runtime.io.sources import Source
from edge_runtime.outputs.live import LiveStatus, source_state
from edge_runtime.outputs.sinks import Sink
from edge_runtime.results import FrameResult

Log = Callable[[str], None]


def check_headless(cfg: ServiceSettings) -> None:
    """Settings that are wrong together, found before the model is loaded."""
    if (cfg.snapshot_dir is None) != (cfg.snapshot_on is None):
        raise RuntimeFailure("--snapshot-dir and --snapshot-on go together (e.g. --snapshot-on happy)")
    if (cfg.serve_token or cfg.serve_token_file) and not cfg.serve:
        raise RuntimeFailure("--serve-token needs --serve")
    if (cfg.serve_cert or cfg.serve_key) and not cfg.serve:
        raise RuntimeFailure("--serve-cert and --serve-key need --serve")
    if cfg.serve:
        from edge_runtime.outputs.web import parse_address, tls_context

        parse_address(cfg.serve)
        tls_context(cfg.serve_cert, cfg.serve_key)  # both or neither, readable, matching: before the model loads
    if cfg.mqtt or cfg.mqtt_ca or cfg.mqtt_cert or cfg.mqtt_key:
        from edge_runtime.outputs.mqtt import check_settings

        check_settings(cfg.mqtt, cfg.mqtt_ca, cfg.mqtt_cert, cfg.mqtt_key, cfg.ha_prefix)  # TLS files readable


def headless_sinks(cfg: ServiceSettings, source: Source, log: Log, labels: tuple[str, ...] = ()) -> list[Sink]:
    """The sinks these settings ask for, in order; the ones opened are closed again if a later one fails.
    ``labels``: the model's, for Home Assistant's one binary sensor per label."""
    check_headless(cfg)
    sinks: list[Sink] = []
    try:
        status = LiveStatus(source_state(source)) if cfg.serve or cfg.mqtt else None
        if status is not None:
            sinks.append(status)
        if cfg.serve and status is not None:
            from edge_runtime.outputs.metrics import Metrics
            from edge_runtime.outputs.web import WebSink, read_token

            token = read_token(cfg.serve_token, cfg.serve_token_file)
            metrics = Metrics(source, labels=labels or None)  # /metrics; a sink itself, fed before the web view
            sinks.append(metrics)
            sinks.append(
                WebSink(
                    cfg.serve,
                    status,
                    log,
                    token=token,
                    fps=cfg.serve_fps,
                    cert=cfg.serve_cert,
                    key=cfg.serve_key,
                    metrics=metrics,
                )
            )
        if cfg.mqtt and status is not None:
            from edge_runtime.outputs.ha_discovery import view_url
            from edge_runtime.outputs.mqtt import MqttSink

            sinks.append(
                MqttSink(
                    cfg.mqtt,
                    status,
                    log,
                    every=cfg.mqtt_every,
                    queue=cfg.mqtt_queue,
                    labels=labels,
                    ca=cfg.mqtt_ca,
                    cert=cfg.mqtt_cert,
                    key=cfg.mqtt_key,
                    ha_discovery=cfg.ha_discovery,
                    ha_prefix=cfg.ha_prefix,
                    device_name=cfg.device_name,
                    view_url=view_url(cfg.serve, bool(cfg.serve_cert), sinks),
                )
            )
        if cfg.snapshot_dir and cfg.snapshot_on:
            from edge_runtime.outputs.snapshots import SnapshotSink

            sinks.append(
                SnapshotSink(
                    cfg.snapshot_dir,
                    cfg.snapshot_on,
                    log,
                    hold=cfg.snapshot_hold,
                    every=cfg.snapshot_every,
                    keep=cfg.snapshot_keep,
                    max_bytes=int(cfg.snapshot_max_mb * 1e6),
                    crop=cfg.snapshot_crop,
                    picture_time=media_time(source),
                )
            )
        from edge_runtime.outputs.sdnotify import from_environment

        notifier = from_environment(os.environ)
        if notifier is not None:
            sinks.append(notifier)
    except BaseException:
        for s in sinks:
            s.close(False)
        raise
    return sinks


def media_time(source: Source) -> Callable[[FrameResult], float] | None:
    """A video file's pictures carry their own time (frame index x frame period); None: use the wall clock."""
    frame_s = getattr(source, "frame_s", None)
    if source.live or not isinstance(frame_s, float):
        return None
    return lambda result: result.index * frame_s
