"""``hs-run``: classify faces (or whole frames) from a camera, stream, video or images.

Every user-fixable problem ends in one line on stderr and a non-zero exit (codes in ``errors``); results go
to stdout (``--json -``) or files, log lines to stderr, so the two never mix.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer

from edge_runtime.cli.kit import exit_code_for, fail, report_bug, run_app, say, version_callback
from edge_runtime.config import RunConfig, flat_defaults, flat_names
from edge_runtime.errors import EXIT_INTERNAL, EXIT_SIGINT, EXIT_SIGTERM, RuntimeFailure, Terminated
from edge_runtime.model.classifier import ModelOptions

PROG = "hs-run"
app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Classify happy/sad faces from a camera, stream, video or images.",
)
NAMES = set(flat_names())
D = flat_defaults()  # the one set of defaults (edge_runtime/config.py)


class Roi(StrEnum):
    face = "face"
    frame = "frame"


class Channels(StrEnum):
    grey = "1"
    rgb = "3"


class DetectorName(StrEnum):
    blazeface = "blazeface"
    blazeface_full = "blazeface-full"
    blazeface_room = "blazeface-room"
    blazeface_both = "blazeface-both"
    blazeface_wide = "blazeface-wide"
    haar = "haar"


def log(msg: str) -> None:
    say(PROG, msg)


class StopFlag(threading.Event):
    """Set by the first SIGINT/SIGTERM; remembers which, for the exit code. ``reload`` is set by SIGHUP."""

    signum: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.reload = threading.Event()


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """The first SIGINT/SIGTERM asks the loop to stop (files closed, summary printed); a second one
    interrupts at once, still through every ``finally`` (rows already written stay written)."""
    stop = StopFlag()

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        log(f"{signal.Signals(signum).name}: stopping")
        stop.signum = signum
        stop.set()

    def reload(signum: int, _frame: object) -> None:
        log("SIGHUP: reading the settings and the model again")
        stop.reload.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _labels(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    labels = tuple(s.strip() for s in text.split(",") if s.strip())
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise RuntimeFailure(f"--labels needs two or more distinct names separated by commas, not {text!r}")
    return labels


def _quiet_opencv() -> None:
    """OpenCV's own warnings (a camera index that fails to open) would duplicate our one-line errors."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


def _plain(value: Any) -> Any:
    """An Enum choice as its value (typer gives Enums, click's own parse gives strings)."""
    return getattr(value, "value", value)


def config_from(params: dict[str, Any]) -> RunConfig:
    """The run's settings from this command's parameters (as typer or click parsed them)."""
    settings = {k: _plain(v) for k, v in params.items() if k in NAMES}
    channels = _plain(params.get("channels"))
    settings["model_options"] = ModelOptions(
        labels=_labels(params.get("labels")),
        size=params.get("size"),
        channels=int(channels) if channels else None,
        threshold=params.get("threshold"),
        uncertain_band=params.get("uncertain_band"),
        roi=_plain(params.get("roi")),
    )
    if settings.get("threads") is None:
        settings.pop("threads", None)
    return RunConfig.from_flat(settings)


def reread_settings() -> RunConfig:
    """The settings as a restart would read them: the config file again, then the command line."""
    from edge_runtime.cli.configfile import with_config

    command = typer.main.get_command(app)
    args = with_config(command.params, sys.argv[1:])
    try:
        with command.make_context(PROG, list(args), resilient_parsing=False) as ctx:
            return config_from(dict(ctx.params))
    except Exception as exc:
        # click's usage errors, from click itself or typer's vendored copy: known by what they offer
        if hasattr(exc, "format_message"):
            raise RuntimeFailure(f"the settings: {exc.format_message()}") from None
        raise


def _exit_code(stop: StopFlag) -> int:
    if not stop.is_set():
        return 0
    return EXIT_SIGTERM if stop.signum == signal.SIGTERM else EXIT_SIGINT


@app.command()
def run(
    model: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Model",
            help="TFLite model file, or a packaged model: happysad (happy, neutral, sad), happysad-binary, "
            "happysad-neutral",
            show_default="happysad",
        ),
    ] = None,
    camera: Annotated[
        str | None, typer.Option(rich_help_panel="Source", help="camera index (0), /dev/videoN, or 'picam'")
    ] = None,
    source: Annotated[
        str | None, typer.Option(rich_help_panel="Source", help="video file, image, folder, glob, or rtsp/http URL")
    ] = None,
    width: Annotated[int | None, typer.Option(rich_help_panel="Source", min=1, help="camera mode width")] = None,
    height: Annotated[int | None, typer.Option(rich_help_panel="Source", min=1, help="camera mode height")] = None,
    fps: Annotated[float | None, typer.Option(rich_help_panel="Source", min=0.1, help="camera mode frame rate")] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            rich_help_panel="Model",
            min=1,
            help="interpreter threads; with BlazeFace, frames analysed at once (one thread each)",
            show_default="all cores, at most 4",
        ),
    ] = None,
    delegate: Annotated[
        str | None, typer.Option(rich_help_panel="Model", help="external delegate library, e.g. libedgetpu.so.1")
    ] = None,
    roi: Annotated[
        Roi | None,
        typer.Option(
            rich_help_panel="Model", help="detect faces, or classify the whole frame", show_default="from the model"
        ),
    ] = None,
    labels: Annotated[
        str | None, typer.Option(rich_help_panel="Model", help="comma-separated labels for a model without metadata")
    ] = None,
    size: Annotated[
        int | None, typer.Option(rich_help_panel="Model", min=8, help="input size for a model without metadata")
    ] = None,
    channels: Annotated[
        Channels | None,
        typer.Option(
            rich_help_panel="Model", help="input channels for a model without metadata", show_default="from the model"
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            rich_help_panel="Model",
            min=0.0,
            max=1.0,
            help="decision threshold on P(labels[1])",
            show_default="from the model",
        ),
    ] = None,
    uncertain_band: Annotated[
        float | None,
        typer.Option(
            rich_help_panel="Model",
            min=0.0,
            max=0.5,
            help="report 'uncertain' when |P - threshold| is below this",
            show_default="from the model",
        ),
    ] = None,
    headless: Annotated[
        bool, typer.Option(rich_help_panel="Outputs", help="no window (automatic without a display)")
    ] = D["headless"],
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json",
            rich_help_panel="Outputs",
            metavar="PATH|-",
            help="JSON Lines, one row per frame, to PATH (appended, flushed per row: an "
            "existing file is continued, never replaced) or '-' for stdout",
        ),
    ] = None,
    json_max_mb: Annotated[
        float,
        typer.Option(rich_help_panel="Outputs", min=0.0, help="rotate the --json file at this size, MB (0: never)"),
    ] = D["json_max_mb"],
    json_keep: Annotated[
        int, typer.Option(rich_help_panel="Outputs", min=0, help="rotated --json files kept (PATH.1 ... PATH.N)")
    ] = D["json_keep"],
    save: Annotated[
        str | None, typer.Option(rich_help_panel="Outputs", help="write the annotated video here (.mp4 or .avi)")
    ] = None,
    reconnect: Annotated[
        int | None,
        typer.Option(
            rich_help_panel="Source",
            min=0,
            help="attempts to (re)open a live source, the first open included",
            show_default="unlimited",
        ),
    ] = None,
    loop: Annotated[bool, typer.Option(rich_help_panel="Source", help="play a video file again at its end")] = D[
        "loop"
    ],
    max_pixels: Annotated[
        int,
        typer.Option(
            rich_help_panel="Source",
            min=1,
            help="skip (and count) an image whose header declares more pixels than this",
        ),
    ] = D["max_pixels"],
    max_frames: Annotated[
        int | None, typer.Option(rich_help_panel="Outputs", min=1, help="stop after this many frames")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(rich_help_panel="Outputs", min=0.0, help="stop after this many seconds")
    ] = None,
    stats: Annotated[
        bool, typer.Option(rich_help_panel="Outputs", help="print FPS and per-stage latency every few seconds")
    ] = D["stats"],
    detector: Annotated[
        DetectorName | None,
        typer.Option(
            rich_help_panel="Face detector",
            help="face detector: BlazeFace short range (near), full range (a room), room (full, short where full "
            "finds none), both (merged), wide (short range, and on a wide input every --detect-every frames: near "
            "and far), or Haar",
            show_default="blazeface-wide if its file is installed, else haar",
        ),
    ] = None,
    detector_model: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Face detector",
            metavar="PATH",
            help="a BlazeFace .tflite file (128 or 192 input) to use instead",
        ),
    ] = None,
    align: Annotated[
        bool, typer.Option(rich_help_panel="Face detector", help="level the eyes before cutting a face (BlazeFace)")
    ] = D["align"],
    detect_width: Annotated[
        int, typer.Option(rich_help_panel="Face detector", min=64, help="haar: the cascade searches a copy this wide")
    ] = D["detect_width"],
    detect_every: Annotated[
        int,
        typer.Option(
            rich_help_panel="Face detector",
            min=1,
            help="haar: full-frame search every N frames, local search around tracked faces between; "
            "blazeface-wide: its wide search every N frames, faces carried between",
        ),
    ] = D["detect_every"],
    serve: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Device service",
            metavar="[HOST:]PORT",
            help="live web view (page, MJPEG, status.json, healthz); host 127.0.0.1",
        ),
    ] = None,
    serve_token: Annotated[
        str | None,
        typer.Option(rich_help_panel="Device service", help="require this bearer token (or ?token=) on --serve"),
    ] = None,
    serve_token_file: Annotated[
        str | None, typer.Option(rich_help_panel="Device service", help="read the --serve token from this file")
    ] = None,
    serve_fps: Annotated[
        float,
        typer.Option(rich_help_panel="Device service", min=0.5, help="most frames per second sent to web viewers"),
    ] = D["serve_fps"],
    mqtt: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Device service",
            metavar="mqtt[s]://[user:pass@]host[:port]/prefix",
            help="publish events, announced to Home Assistant (needs the \\[mqtt] extra; mqtts:// for TLS)",
        ),
    ] = None,
    serve_cert: Annotated[
        str | None,
        typer.Option(metavar="PEM", rich_help_panel="Device service", help="certificate for HTTPS on --serve"),
    ] = None,
    serve_key: Annotated[
        str | None,
        typer.Option(metavar="PEM", rich_help_panel="Device service", help="private key of --serve-cert"),
    ] = None,
    mqtt_ca: Annotated[
        str | None,
        typer.Option(metavar="PEM", rich_help_panel="Device service", help="mqtts://: trust this CA, not the system's"),
    ] = None,
    mqtt_cert: Annotated[
        str | None,
        typer.Option(metavar="PEM", rich_help_panel="Device service", help="mqtts://: client certificate"),
    ] = None,
    mqtt_key: Annotated[
        str | None,
        typer.Option(metavar="PEM", rich_help_panel="Device service", help="mqtts://: client certificate's key"),
    ] = None,
    ha_discovery: Annotated[
        bool,
        typer.Option(
            rich_help_panel="Device service",
            help="with --mqtt: announce the device to Home Assistant (off: remove its announcement)",
        ),
    ] = D["ha_discovery"],
    ha_prefix: Annotated[
        str, typer.Option(rich_help_panel="Device service", help="Home Assistant's MQTT discovery prefix")
    ] = D["ha_prefix"],
    device_name: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Device service", help="the device's name in Home Assistant", show_default="host name"
        ),
    ] = None,
    mqtt_every: Annotated[
        float,
        typer.Option(
            rich_help_panel="Device service",
            min=1.0,
            help="seconds between periodic MQTT summaries (also sent on each change)",
        ),
    ] = D["mqtt_every"],
    mqtt_queue: Annotated[
        int, typer.Option(rich_help_panel="Device service", min=1, help="MQTT events kept while the broker is away")
    ] = D["mqtt_queue"],
    snapshot_dir: Annotated[
        str | None,
        typer.Option(rich_help_panel="Device service", help="save a JPEG + JSON here when a face turns to a label"),
    ] = None,
    snapshot_on: Annotated[
        str | None,
        typer.Option(rich_help_panel="Device service", help="the label that triggers a snapshot, e.g. happy"),
    ] = None,
    snapshot_hold: Annotated[
        float, typer.Option(rich_help_panel="Device service", min=0.0, help="seconds a face must hold the label first")
    ] = D["snapshot_hold"],
    snapshot_every: Annotated[
        float,
        typer.Option(rich_help_panel="Device service", min=0.0, help="at most one snapshot per this many seconds"),
    ] = D["snapshot_every"],
    snapshot_keep: Annotated[
        int, typer.Option(rich_help_panel="Device service", min=1, help="snapshots kept; the oldest are deleted")
    ] = D["snapshot_keep"],
    snapshot_max_mb: Annotated[
        float,
        typer.Option(rich_help_panel="Device service", min=0.0, help="and at most this many MB of them (0: no cap)"),
    ] = D["snapshot_max_mb"],
    snapshot_crop: Annotated[bool, typer.Option(rich_help_panel="Device service", help="also save the face crop")] = D[
        "snapshot_crop"
    ],
    config: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Device service",
            metavar="FILE.toml",
            help="settings from a TOML file; command-line options win",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=version_callback(PROG), help="print the version and exit"),
    ] = False,
) -> None:
    """Run the classifier until the source ends, a limit is hit, or SIGINT/SIGTERM.

    Exit codes: 0 done, 2 bad input, 3 a live source gave up, 4 an output could not be written,
    130/143 stopped by SIGINT/SIGTERM.
    """
    params = {k: v for k, v in locals().items() if k != "version"}
    try:
        _quiet_opencv()
        from edge_runtime.run.runner import execute

        cfg = config_from(params)
        with stop_on_signals() as stop:
            execute(cfg, stop, log, reload=(stop.reload, reread_settings))
        code = _exit_code(stop)
    except RuntimeFailure as exc:
        fail(PROG, str(exc), exit_code_for(exc))
    except KeyboardInterrupt as exc:
        log("interrupted")
        raise typer.Exit(EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT) from None
    except Exception as exc:  # noqa: BLE001 - a bug, still reported as one line (HS_DEBUG=1: traceback)
        report_bug(PROG, exc)
        raise typer.Exit(EXIT_INTERNAL) from None
    raise typer.Exit(code)


def main() -> None:
    from edge_runtime.cli.configfile import with_config

    # FFmpeg's own complaints (a stream of damaged JPEGs wrote 1,306 lines in 30 s) would bury ours; they are
    # read before OpenCV first opens a video. HS_DEBUG=1 or an explicit level keeps them.
    if not os.environ.get("HS_DEBUG"):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

    try:
        args = with_config(typer.main.get_command(app).params, sys.argv[1:])
    except RuntimeFailure as exc:
        say(PROG, f"error: {exc}")
        raise SystemExit(exit_code_for(exc)) from None
    try:
        run_app(app, PROG, args)
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code: object) -> None:
    """Exit with ``code``, without the interpreter's teardown. Every output is closed by now (the runner
    closes them whatever ends the run); what teardown would add is native destructors racing threads that
    are still alive: a device thread abandoned inside OpenCV (a stalled stream's read, a FIFO's open) or an
    interpreter's thread pool, which aborts ('terminate called without an active exception', SIGABRT) instead
    of exiting. So the standard streams are flushed and the process ends there."""
    status = code if isinstance(code, int) else (0 if code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
