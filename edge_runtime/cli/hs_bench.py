"""``hs-bench``: how fast is this model here? Interpreter latency per thread count, and the whole
pipeline's FPS on a video (decode, detect, preprocess, infer, postprocess; no window, no files), built by
the same ``build_pipeline`` as ``hs-run``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

import numpy as np
import typer

from edge_runtime.cli.kit import exit_code_for, fail, run_app, version_callback
from edge_runtime.config import RunConfig
from edge_runtime.errors import RuntimeFailure
from edge_runtime.io.sources import VideoFileSource
from edge_runtime.model.classifier import Classifier, ModelOptions
from edge_runtime.run.build import build_classifier, build_pipeline
from edge_runtime.run.pipeline import Limits
from edge_runtime.run.stats import StageStats

PROG = "hs-bench"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
D = RunConfig.from_flat(threads=1)


def invoke_latency(
    clf: Classifier, runs: int = 200, warmup: int = 10, between: Callable[[], object] | None = None
) -> tuple[float, float]:
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


def pipeline_fps(cfg: RunConfig) -> tuple[float, StageStats]:
    """Frames per second of the full loop on ``cfg.input.source`` (a video: every frame, as fast as it goes)."""
    assert cfg.input.source is not None
    clf = build_classifier(cfg)
    stats = StageStats()
    pipe = build_pipeline(cfg, clf, [], stats)
    source = VideoFileSource(cfg.input.source, loop=cfg.input.loop)
    t0 = time.perf_counter()
    try:
        summary = pipe.run(source, Limits(max_frames=cfg.max_frames, duration=cfg.duration))
    finally:
        source.close()
    return summary.frames / (time.perf_counter() - t0), stats


def _thread_counts(text: str) -> list[int]:
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise RuntimeFailure(f"--threads takes comma-separated counts such as 1,2,4, not {text!r}")
    return counts


@app.command()
def bench(
    model: Annotated[
        str | None, typer.Option(help="TFLite model file or a packaged model's name", show_default="happysad")
    ] = None,
    source: Annotated[str | None, typer.Option(help="video for the pipeline FPS")] = None,
    threads: Annotated[str, typer.Option(help="comma-separated thread counts")] = "1,2,4",
    runs: Annotated[int, typer.Option(min=10, help="timed invokes per thread count")] = 200,
    roi: Annotated[
        str | None, typer.Option(help="face or frame, for the pipeline", show_default="from the model")
    ] = None,
    detect_width: Annotated[
        int, typer.Option(min=64, help="face detection runs on a copy this wide")
    ] = D.faces.detect_width,
    detect_every: Annotated[
        int, typer.Option(min=1, help="full-frame face search every N frames")
    ] = D.faces.detect_every,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=version_callback(PROG), help="print the version and exit"),
    ] = False,
) -> None:
    """Print interpreter latency per thread count, then pipeline FPS on --source."""
    try:
        counts = _thread_counts(threads)
        cfg = D.with_flat(
            model=model,
            source=source,
            model_options=ModelOptions(roi=roi),
            detect_width=detect_width,
            detect_every=detect_every,
        )
        typer.echo(f"{'threads':>7}  {'p50 ms':>8}  {'p90 ms':>8}")
        for n in counts:
            clf = build_classifier(replace(cfg, threads=n))
            p50, p90 = invoke_latency(clf, runs)
            typer.echo(f"{n:>7}  {p50:>8.3f}  {p90:>8.3f}")
        typer.echo(f"interpreter: {clf.backend}")
        if source:
            fps, stats = pipeline_fps(replace(cfg, threads=counts[-1]))
            typer.echo(
                f"pipeline ({clf.info.preprocessing.face_crop.roi if roi is None else roi} mode, "
                f"{counts[-1]} threads) on {source}: {fps:.1f} FPS"
            )
            typer.echo(stats.report())
    except RuntimeFailure as exc:
        fail(PROG, str(exc), exit_code_for(exc))


def main() -> None:
    run_app(app, PROG)


if __name__ == "__main__":
    main()
