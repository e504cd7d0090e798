"""``hs-convert``: a finished hs-train run folder -> self-describing .tflite files and a parity report.

Exit status: 0 all models written and within the accuracy check; 1 a model failed the check (kept as
``model_<kind>.FAILED_CHECK.tflite``); 2 bad input or a refused target (one-line error, nothing written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .calibration import DEFAULT_SAMPLES, MIN_SAMPLES
from .errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    typer.echo(f"hs-convert: error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def main_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by hs-train (model.keras, model_info.json, "
                                                 "splits.json).")],
    quantize: Annotated[Optional[list[str]], typer.Option(
        "--quantize", "-q", help="Also write int8 (full integer), float16 or dynamic; repeat for several.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the models and report (default: RUN_DIR).")] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Calibration images: a folder of class subfolders (default: the run's train split).")] = None,
    calibration_samples: Annotated[int, typer.Option(
        help=f"Calibration images for int8, stratified by class (at least {MIN_SAMPLES}).")] = DEFAULT_SAMPLES,
    max_accuracy_drop: Annotated[float, typer.Option(
        help="Points of balanced accuracy a converted model may lose against Keras.")] = 1.0,
    target: Annotated[str, typer.Option(
        help="litert (ai-edge-litert, any recent runtime) or tflite-runtime (files that load in 2.14).")] = "litert",
    seed: Annotated[int, typer.Option(help="Seed of the calibration sample.")] = 0,
    quiet: Annotated[bool, typer.Option(help="Print only problems.")] = False,
) -> None:
    """Write model_float32.tflite (and model_<kind>.tflite per --quantize), their JSON, conversion_report.json."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from . import report as report_mod
    from .core import convert_run
    from .errors import ConvertError

    try:
        report = convert_run(run_dir, quantize or [], out_dir=out, data=data, calibration_samples=calibration_samples,
                             max_accuracy_drop=max_accuracy_drop, target=target, seed=seed)
    except ConvertError as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__, exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("hs-convert: interrupted; no file was left half-written", err=True)
        raise typer.Exit(130)
    if not quiet:
        typer.echo(report_mod.table(report))
        typer.echo(f"written to {report['out_dir']}: "
                   + ", ".join(m["file"] for n, m in report["models"].items() if n != "keras")
                   + f", {report_mod.REPORT_FILE}")
        if "int8_size_ratio" in report:
            typer.echo(f"int8 / float32 size: {100 * report['int8_size_ratio']:.1f}%")
    for kind in report["failed"]:
        m = report["models"][kind]
        typer.echo(f"hs-convert: check failed: {kind}: {m['check_reason']}; kept as {m['file']}", err=True)
    for name, m in report["models"].items():
        if m.get("near_constant") and quiet:
            typer.echo(f"hs-convert: alarm: {name}: {m['near_constant']}", err=True)
    if report["failed"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
