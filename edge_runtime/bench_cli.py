"""``hs-bench``: how fast is this model here? Interpreter latency per thread count, and the whole
pipeline's FPS on a video (decode, detect, preprocess, infer, postprocess; no window, no files).
"""

from __future__ import annotations

from collections.abc import Callable

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from .errors import RuntimeFailure
from .model import PACKAGED_MODEL, Classifier, ModelOptions, load_classifier
from .pipeline import Limits, Pipeline
from .sources import VideoFileSource
from .stats import StageStats
from .detect import FaceDetector
from .track import Tracker

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def invoke_latency(clf: Classifier, runs: int = 200, warmup: int = 10,
                   between: Callable[[], object] | None = None) -> tuple[float, float]:
    """(p50, p90) ms of the bare set_tensor + invoke + get_tensor loop on one fixed input.

    ``between`` runs untimed before each invoke (e.g. touching a frame's worth of memory, as the
    pipeline's capture and preprocessing do), to separate cache effects from per-call overhead.
    """
    inp, out = clf.runner.input, clf.runner.output
    interp = clf.runner.interp
    x = np.random.default_rng(0).integers(0, 256, (1, *inp.shape[1:])).astype(np.uint8)
    x = clf.to_tensor(x[0])
    times = np.empty(runs)
    for i in range(warmup + runs):
        if between is not None:
            between()
        t0 = time.perf_counter()
        interp.set_tensor(inp.index, x)
        interp.invoke()
        interp.get_tensor(out.index)
        if i >= warmup:
            times[i - warmup] = time.perf_counter() - t0
    p50, p90 = np.percentile(times, (50, 90)) * 1e3
    return float(p50), float(p90)


def pipeline_fps(model: Path, video: str, roi: str, threads: int | None = None,
                 max_frames: int | None = None) -> tuple[float, StageStats]:
    """Frames per second of the full loop on ``video`` (every frame, as fast as it goes)."""
    clf = load_classifier(model, ModelOptions(roi=roi), threads=threads)
    detector = FaceDetector() if roi == "face" else None
    stats = StageStats()
    pipe = Pipeline(clf, detector, Tracker(clf.info.labels, clf.info.threshold), [], stats)
    source = VideoFileSource(video)
    t0 = time.perf_counter()
    try:
        summary = pipe.run(source, Limits(max_frames=max_frames))
    finally:
        source.close()
    return summary.frames / (time.perf_counter() - t0), stats


@app.command()
def bench(
    model: Annotated[Optional[Path], typer.Option(help="TFLite model [default: the packaged model]")] = None,
    source: Annotated[Optional[str], typer.Option(help="video for the pipeline FPS")] = None,
    threads: Annotated[str, typer.Option(help="comma-separated thread counts")] = "1,2,4",
    runs: Annotated[int, typer.Option(min=10, help="timed invokes per thread count")] = 200,
    roi: Annotated[str, typer.Option(help="face or frame, for the pipeline")] = "face",
) -> None:
    """Print interpreter latency per thread count, then pipeline FPS on --source."""
    try:
        path = model or PACKAGED_MODEL
        if not path.is_file():
            raise RuntimeFailure(f"model not found: {path}; pass --model FILE.tflite")
        counts = [int(t) for t in threads.split(",") if t.strip()]
        typer.echo(f"{'threads':>7}  {'p50 ms':>8}  {'p90 ms':>8}")
        for n in counts:
            clf = load_classifier(path, threads=n)
            p50, p90 = invoke_latency(clf, runs)
            typer.echo(f"{n:>7}  {p50:>8.3f}  {p90:>8.3f}")
        typer.echo(f"interpreter: {clf.backend}")
        if source:
            fps, stats = pipeline_fps(path, source, roi)
            typer.echo(f"pipeline ({roi} mode) on {source}: {fps:.1f} FPS")
            typer.echo(stats.report())
    except ValueError as exc:
        typer.echo(f"hs-bench: error: bad --threads {threads!r}: {exc}", err=True)
        raise typer.Exit(2) from None
    except RuntimeFailure as exc:
        typer.echo(f"hs-bench: error: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app(prog_name="hs-bench")


if __name__ == "__main__":
    main()
