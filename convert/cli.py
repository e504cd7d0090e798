"""``hs-convert``: a finished hs-train run folder -> self-describing .tflite files and a parity report.

Exit status: 0 all models written and within the accuracy check; 1 a model failed the check (kept as
``model_<kind>.FAILED_CHECK.tflite``) or an internal error; 2 bad input, an unwritable output folder, a
refused target or no TensorFlow (one-line error, nothing written); 4 the final writes failed;
130 interrupted (SIGINT), 143 terminated (SIGTERM): temporary files removed, no file half-written.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_runtime.cli.kit import (
    SignalSeen,
    as_interrupt,
    fail,
    interrupted_code,
    report_bug,
    run_app,
    say,
    stop_signals_raise,
    version_callback,
)
from edge_runtime.errors import Terminated, first_line
from train.tfenv import INSTALL_HINT

from .calibration import DEFAULT_SAMPLES, MIN_SAMPLES
from .errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_INTERNAL
from .native import tensorflow_missing

PROG = "hs-convert"

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)


class Quantize(StrEnum):
    """Kinds written besides float32 (which is always written)."""

    float16 = "float16"
    dynamic = "dynamic"
    int8 = "int8"


class Target(StrEnum):
    """The interpreter the files must load in."""

    litert = "litert"
    tflite_runtime = "tflite-runtime"


def _convert(run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """convert_run with every way it can end mapped to one stderr line and the exit-code policy."""
    from .core import convert_run
    from .errors import ConvertError

    seen = SignalSeen()
    try:
        with stop_signals_raise(seen):
            return convert_run(run_dir, warn=lambda message: say(PROG, f"warning: {message}"), **options)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every way out: one line and a code
        interrupt = as_interrupt(exc, seen)
        if interrupt is not None:
            how = "terminated (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted"
            say(PROG, f"{how}; temporary files removed, no file left half-written")
            raise typer.Exit(interrupted_code(interrupt)) from None
        if isinstance(exc, ConvertError):
            fail(PROG, first_line(exc), exc.exit_code)
        report_bug(PROG, exc)  # a bug: one line (HS_DEBUG=1 shows the traceback)
        raise typer.Exit(EXIT_INTERNAL) from None


def _print_summary(report: dict[str, Any]) -> None:
    from . import report as report_mod

    typer.echo(report_mod.table(report))
    written = ", ".join(m["file"] for name, m in report["models"].items() if name != "keras")
    typer.echo(f"written to {report['out_dir']}: {written}, {report_mod.REPORT_FILE}")
    if "int8_size_ratio" in report:
        typer.echo(f"int8 / float32 size: {100 * report['int8_size_ratio']:.1f}%")


def _print_problems(report: dict[str, Any], quiet: bool) -> None:
    """Failed checks always; near-constant alarms too when --quiet hides the table that shows them."""
    for kind in report["failed"]:
        m = report["models"][kind]
        say(PROG, f"check failed: {kind}: {m['check_reason']}; kept as {m['file']}")
    if quiet:
        for name, m in report["models"].items():
            if m.get("near_constant"):
                say(PROG, f"alarm: {name}: {m['near_constant']}")


EPILOG = (
    "Exit status: 0 written and checked; 1 a check failed (or an internal error); 2 bad input; "
    "4 writing failed; 130 interrupted; 143 terminated."
)


@app.command(epilog=EPILOG)
def main_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="Run folder written by hs-train (model.keras, model_info.json, splits.json).", show_default=False
        ),
    ],
    quantize: Annotated[
        list[Quantize] | None,
        typer.Option(
            "--quantize",
            "-q",
            case_sensitive=False,
            show_default=False,
            help="Also write this kind (float32 is always written); repeat for several.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the models and report.", show_default="RUN_DIR")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Calibration images for int8: a folder of class subfolders.", show_default="the run's train split"
        ),
    ] = None,
    calibration_samples: Annotated[
        int, typer.Option(min=MIN_SAMPLES, help="Calibration images for int8, stratified by class.")
    ] = DEFAULT_SAMPLES,
    max_accuracy_drop: Annotated[
        float, typer.Option(min=0.0, help="Points of balanced accuracy a converted model may lose against Keras.")
    ] = 1.0,
    target: Annotated[
        Target,
        typer.Option(
            case_sensitive=False,
            help="litert: ai-edge-litert, any recent runtime; tflite-runtime: files that load in 2.14.",
        ),
    ] = Target.litert,
    seed: Annotated[int, typer.Option(help="Seed of the calibration sample.")] = 0,
    quiet: Annotated[bool, typer.Option(help="Print only problems.")] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=version_callback(PROG), is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Write model_float32.tflite (and model_<kind>.tflite per --quantize), their JSON, conversion_report.json."""
    if tensorflow_missing():
        fail(PROG, f"TensorFlow is not installed (this is a runtime-only install); {INSTALL_HINT}", EXIT_BAD_INPUT)
    # TensorFlow is imported (quietly, train.tfenv) by convert_run only after the cheap checks of the inputs
    # and the output folder, so a bad input is refused in a second rather than after the import.
    report = _convert(
        run_dir,
        {
            "quantize": [q.value for q in quantize or []],
            "out_dir": out,
            "data": data,
            "calibration_samples": calibration_samples,
            "max_accuracy_drop": max_accuracy_drop,
            "target": target.value,
            "seed": seed,
        },
    )
    if not quiet:
        _print_summary(report)
    _print_problems(report, quiet)
    if report["failed"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


def main() -> None:
    """The console script: usage errors as one line (clikit.run_app), like every happysad command."""
    run_app(app, PROG)


if __name__ == "__main__":
    main()
