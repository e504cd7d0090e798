"""``hs-run``: classify faces (or whole frames) from a camera, stream, video or images.

Every user-fixable problem ends in one line on stderr and a non-zero exit; results go to stdout (with
--json) or files, log lines to stderr, so the two never mix.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import RuntimeFailure, first_line

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Classify happy/sad faces from a camera, stream, video or images.")

EXIT_FAILURE, EXIT_BUG = 2, 1


def log(msg: str) -> None:
    typer.echo(f"hs-run: {msg}", err=True)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event the loop checks, so files are closed and a summary printed."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second signal: the user really means it
            raise KeyboardInterrupt
        log(f"{signal.Signals(signum).name}: stopping")
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
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


def _model_path(model: Path | None) -> Path:
    from . import model as packaged

    PACKAGED_MODEL = packaged.PACKAGED_MODEL
    if model is not None and not model.exists() and str(model) in packaged.PACKAGED:
        return packaged.MODELS_DIR / packaged.PACKAGED[str(model)]
    if model is not None:
        return model
    if not PACKAGED_MODEL.is_file():
        raise RuntimeFailure(f"no packaged model at {PACKAGED_MODEL}; pass --model FILE.tflite")
    return PACKAGED_MODEL


def _quiet_opencv() -> None:
    """OpenCV's own warnings (a camera index that fails to open) would duplicate our one-line errors."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


@app.command()
def run(
    model: Annotated[Optional[Path], typer.Option(help="TFLite model file, or a packaged model: happysad (default), happysad-neutral")] = None,
    camera: Annotated[Optional[str], typer.Option(help="camera index (0), /dev/videoN, or 'picam'")] = None,
    source: Annotated[Optional[str], typer.Option(help="video file, image, folder, glob, or rtsp/http URL")] = None,
    width: Annotated[Optional[int], typer.Option(min=1, help="camera mode width")] = None,
    height: Annotated[Optional[int], typer.Option(min=1, help="camera mode height")] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.1, help="camera mode frame rate")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="interpreter threads [default: cores, max 4]")] = None,
    delegate: Annotated[Optional[str], typer.Option(help="external delegate library, e.g. libedgetpu.so.1")] = None,
    roi: Annotated[Optional[str], typer.Option(help="'face' (detect faces) or 'frame' (whole frame) [default: from model]")] = None,
    labels: Annotated[Optional[str], typer.Option(help="comma-separated labels for a model without metadata")] = None,
    size: Annotated[Optional[int], typer.Option(min=8, help="input size for a model without metadata")] = None,
    channels: Annotated[Optional[int], typer.Option(min=1, max=3, help="1 or 3, for a model without metadata")] = None,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="decision threshold on P(labels[1])")] = None,
    uncertain_band: Annotated[Optional[float], typer.Option(min=0.0, max=0.5, help="report 'uncertain' when |P - threshold| is below this [default: from model]")] = None,
    headless: Annotated[bool, typer.Option(help="no window (automatic without a display)")] = False,
    json_out: Annotated[Optional[str], typer.Option("--json", help="JSON Lines to FILE, or stdout when no FILE (or '-') is given")] = None,
    save: Annotated[Optional[str], typer.Option(help="write the annotated video here (.mp4 or .avi)")] = None,
    reconnect: Annotated[Optional[int], typer.Option(min=0, help="reconnect attempts for a live source [default: unlimited]")] = None,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="stop after this many frames")] = None,
    duration: Annotated[Optional[float], typer.Option(min=0.0, help="stop after this many seconds")] = None,
    stats: Annotated[bool, typer.Option(help="print FPS and per-stage latency every few seconds")] = False,
    detect_width: Annotated[int, typer.Option(min=64, help="face detection runs on a copy this wide")] = 320,
    detect_every: Annotated[int, typer.Option(min=1, help="full-frame face search every N frames; local search between")] = 5,
) -> None:
    """Run the classifier until the source ends, a limit is hit, or SIGINT/SIGTERM."""
    try:
        _quiet_opencv()
        from .model import ModelOptions
        from .runner import RunConfig, execute

        opts = ModelOptions(labels=_labels(labels), size=size, channels=channels, threshold=threshold,
                            uncertain_band=uncertain_band, roi=roi)
        cfg = RunConfig(model=_model_path(model), camera=camera, source=source, width=width, height=height,
                        fps=fps, threads=threads or min(4, os.cpu_count() or 1), delegate=delegate,
                        model_options=opts, headless=headless, json_out=json_out, save=save, reconnect=reconnect,
                        max_frames=max_frames, duration=duration, stats=stats, detect_width=detect_width,
                        detect_every=detect_every)
        with stop_on_signals() as stop:
            execute(cfg, stop, log)
    except typer.Exit:
        raise
    except RuntimeFailure as exc:
        log(f"error: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    except KeyboardInterrupt:
        log("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - a bug, still reported as one line (HS_DEBUG=1: traceback)
        if os.environ.get("HS_DEBUG"):
            raise
        log(f"internal error: {type(exc).__name__}: {first_line(exc)} (HS_DEBUG=1 shows a traceback)")
        raise typer.Exit(EXIT_BUG) from None


def optional_json_value(args: list[str]) -> list[str]:
    """``--json`` with no FILE means stdout: the option parser needs a value, so give it '-'."""
    out = []
    for i, a in enumerate(args):
        out.append(a)
        if a == "--json" and (i + 1 == len(args) or args[i + 1].startswith("--")):
            out.append("-")
    return out


def main() -> None:
    app(args=optional_json_value(sys.argv[1:]), prog_name="hs-run")


if __name__ == "__main__":
    main()
