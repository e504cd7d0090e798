"""``hs-train``: train the classifier on a folder of class subfolders (happy/, sad/, ...)."""

from __future__ import annotations

import errno
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_runtime.cli import kit as clikit
from edge_runtime.errors import (
    EXIT_CHECK_FAILED,
    EXIT_SIGTERM,
    EXIT_USAGE,
    EXIT_WRITE_FAILED,
    RuntimeFailure,
    first_line,
)

from .config import Arch, Channels, ClassWeight, Distribute, LrSchedule, Roi, TrainConfig, defaults
from .tfenv import INSTALL_HINT, quiet_tensorflow

PROG = "hs-train"
TRAIN_MODULES = ("tensorflow", "keras", "matplotlib")  # what happysad-edge adds to a runtime install
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
D = defaults()  # the one place option defaults come from

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)


@app.command()
def main_command(
    data: Annotated[
        Path, typer.Option(help="Folder of class subfolders (happy/, sad/, ...), or the FER-2013 CSV.")
    ] = Path(D.data),
    out: Annotated[
        Path, typer.Option(help="Run folder to write (an existing run needs --resume or --overwrite).")
    ] = Path(D.out),
    epochs: Annotated[int, typer.Option(min=1)] = D.epochs,
    seed: Annotated[int, typer.Option(help="Same seed, same splits and same result.")] = D.seed,
    batch_size: Annotated[int, typer.Option(min=1)] = D.batch_size,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = D.learning_rate,
    lr_schedule: Annotated[LrSchedule, typer.Option(help="Learning rate over the epochs.")] = LrSchedule(D.lr_schedule),
    image_size: Annotated[int, typer.Option(min=8, help="Square input side in pixels.")] = D.image_size,
    channels: Annotated[Channels, typer.Option(help="3 for RGB, 1 for grey.")] = Channels(D.channels),
    arch: Annotated[Arch, typer.Option(help="origin (the documents' CNN) or compact.")] = Arch(D.arch),
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9)] = D.dropout,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="AdamW decoupled weight decay.")] = D.weight_decay,
    width: Annotated[
        float, typer.Option(min=0.25, max=4.0, help="compact: multiplier of filters and dense units.")
    ] = D.width,
    label_smoothing: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Targets pulled this far towards uniform.")
    ] = D.label_smoothing,
    ema_momentum: Annotated[
        float,
        typer.Option(min=0.0, max=0.9999, help="Validate and save an EMA of the weights (e.g. 0.99; 0: off)."),
    ] = D.ema_momentum,
    augment: Annotated[bool, typer.Option(help="Flip, rotation, zoom, brightness, contrast.")] = D.augment,
    augment_strength: Annotated[float, typer.Option(min=0.0)] = D.augment_strength,
    random_erasing: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Probability of erasing a random rectangle (with --augment).")
    ] = D.random_erasing,
    flip_average: Annotated[
        bool,
        typer.Option(help="Record in the model that the device averages P of each face and its mirror."),
    ] = D.flip_average,
    class_weight: Annotated[
        ClassWeight, typer.Option(help="auto: balanced when classes differ in size.")
    ] = ClassWeight(D.class_weight),
    patience: Annotated[int, typer.Option(help="Early-stopping patience in epochs (0: off).")] = D.patience,
    classes: Annotated[str | None, typer.Option(help="Comma-separated subset of class folders.")] = None,
    val_data: Annotated[Path | None, typer.Option(help="Validation folder instead of a split.")] = None,
    test_data: Annotated[Path | None, typer.Option(help="Test folder instead of a split.")] = None,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.5)] = D.val_fraction,
    test_fraction: Annotated[float, typer.Option(min=0.0, max=0.5)] = D.test_fraction,
    roi: Annotated[Roi, typer.Option(help="How the device cuts regions: face (detector) or frame.")] = Roi(D.roi),
    margin: Annotated[float, typer.Option(min=0.0, max=1.0, help="Face box growth per side.")] = D.margin,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = D.threshold,
    uncertain_band: Annotated[
        float,
        typer.Option(min=0.0, max=0.5, help="Device reports 'uncertain' when |P(sad) - threshold| is below this."),
    ] = D.uncertain_band,
    distribute: Annotated[Distribute, typer.Option(help="multiworker reads the cluster from TF_CONFIG.")] = Distribute(
        D.distribute
    ),
    cache: Annotated[bool, typer.Option(help="Keep decoded images in memory after epoch 1.")] = D.cache,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Skip (and count) an image whose header declares more pixels than this.")
    ] = D.max_pixels,
    sources: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="A labelled source, repeatable, instead of --data: a FER+ vote .csv (soft targets) or class "
            "folders; [NAME=]PATH[,val=PATH][,share=S][,size=N]. Three or more --classes (default happy,neutral,sad).",
            rich_help_panel="Sources (faces in the wild)",
        ),
    ] = None,
    fold: Annotated[
        str | None,
        typer.Option(
            help="With --source: the class every other expression counts as (e.g. neutral: 'neither').",
            rich_help_panel="Sources (faces in the wild)",
        ),
    ] = D.fold,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="With --source: threads that augment batches.", rich_help_panel="Sources (faces in the wild)"
        ),
    ] = D.workers,
    source_cache: Annotated[
        Path | None,
        typer.Option(
            help="With --source: keep the loaded sources in this .npz, or read them from it (a machine "
            "without the data).",
            rich_help_panel="Sources (faces in the wild)",
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="With --source: start from this model's weights (a run's model.keras of the same input "
            "and classes) instead of random ones: fine-tuning.",
            rich_help_panel="Sources (faces in the wild)",
        ),
    ] = None,
    finish: Annotated[
        bool,
        typer.Option(
            help="With --source: a run cut short (time limit, lost machine): calibrate, score and write "
            "its model from the last complete epoch, without more training.",
            rich_help_panel="Sources (faces in the wild)",
        ),
    ] = D.finish,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its checkpoint.")] = D.resume,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the run in --out; the old one is kept until the new one completes.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="One line per epoch instead of a progress bar.")] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=clikit.version_callback(PROG), is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Train, evaluate every split, and write model, SavedModel, metrics, plots and reports to OUT."""
    options = dict(locals())
    _require_train_extra(bool(sources or source_cache))
    quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    cfg = TrainConfig.from_options({**options, "verbose": 2 if quiet or not sys.stdout.isatty() else 1})
    with clikit.stop_signals_raise() as seen:
        metrics = _guarded(cfg, overwrite, seen)
    _print_summary(metrics, out)


def _require_train_extra(any_backend: bool = False) -> None:
    """A runtime-only install has no TensorFlow: say which extra to install instead of an ImportError.

    ``any_backend``: source training uses Keras alone, so under KERAS_BACKEND=jax or torch (an accelerator
    without TensorFlow) it needs only Keras."""
    needed: tuple[str, ...] = TRAIN_MODULES
    if any_backend and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        needed = ("keras",)
    missing = [name for name in needed if not _importable(name)]
    if missing:
        clikit.fail(PROG, f"training needs {', '.join(missing)}, not installed: {INSTALL_HINT}", EXIT_USAGE)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or a module set to None
        return False


def _guarded(cfg: TrainConfig, overwrite: bool, seen: clikit.SignalSeen) -> dict[str, Any]:
    """Run the job with the exit-code policy: every way out is one stderr line and a documented code."""
    from .outdir import is_run_folder

    replacing_a_run = overwrite and is_run_folder(cfg.run_dir)
    try:
        return _run(cfg, overwrite)
    except (Exception, KeyboardInterrupt) as exc:
        interrupt = clikit.as_interrupt(exc, seen)  # a SIGTERM may surface as another exception
        if interrupt is not None:
            clikit.say(PROG, _interrupted_message(interrupt, replacing_a_run))
            raise typer.Exit(clikit.interrupted_code(interrupt)) from None
        assert isinstance(exc, Exception)
        known = _known_failure(exc)
        if known is None:  # a bug: one line (HS_DEBUG=1 for the traceback)
            clikit.report_bug(PROG, exc)
            raise typer.Exit(EXIT_CHECK_FAILED) from None
        if os.environ.get("HS_DEBUG"):
            raise
        code, message = known
        clikit.fail(PROG, message, code)
        raise  # not reached: fail() exits


def _known_failure(exc: Exception) -> tuple[int, str] | None:
    """(exit code, one line) for a failure the user can act on; None for an internal error."""
    if isinstance(exc, RuntimeFailure):
        return clikit.exit_code_for(exc), first_line(exc)
    if isinstance(exc, OSError):
        return (EXIT_WRITE_FAILED if exc.errno in DISK_ERRORS else EXIT_USAGE), first_line(exc)
    if isinstance(exc, ValueError):  # DataError, OutDirError, CheckpointError, RunDirError, bad settings
        return EXIT_USAGE, first_line(exc)
    if isinstance(exc, ModuleNotFoundError):
        return EXIT_USAGE, f"{first_line(exc)}: {INSTALL_HINT}"
    return None


def _run(cfg: TrainConfig, overwrite: bool) -> dict[str, Any]:
    """Check --out, set an old run aside when replacing it, import a FER CSV, train."""
    from .distribute import writes_run_folder
    from .outdir import check_out_dir, replacing

    out = cfg.run_dir
    writer = writes_run_folder(cfg.distribute)  # a multiworker non-chief writes nothing, so checks nothing
    if writer:
        check_out_dir(out, resume=cfg.resume or cfg.finish, overwrite=overwrite)
    with replacing(out, enabled=overwrite and writer):
        if cfg.sources or cfg.source_cache:
            from .wild import train_sources

            return train_sources(cfg)
        if cfg.data.lower().endswith(".csv"):
            cfg = _import_fer_csv(cfg)
        from .trainer import train

        return train(cfg)


def _import_fer_csv(cfg: TrainConfig) -> TrainConfig:
    """FER-2013's CSV becomes class folders inside the run; its Usage column gives the val and test splits."""
    from dataclasses import replace

    from .fer_csv import import_csv

    csv_dir = cfg.run_dir / "fer2013_from_csv"
    import_csv(cfg.data, csv_dir, tuple(cfg.classes or ("happy", "sad")))
    test = cfg.test_data or (str(csv_dir / "test") if (csv_dir / "test").is_dir() else None)
    return replace(cfg, data=str(csv_dir / "train"), val_data=cfg.val_data or str(csv_dir / "val"), test_data=test)


def _interrupted_message(exc: KeyboardInterrupt, replacing_a_run: bool) -> str:
    what = "terminated (SIGTERM)" if clikit.interrupted_code(exc) == EXIT_SIGTERM else "interrupted"
    if replacing_a_run:
        return f"{what}; the previous run was put back unchanged and the new one removed"
    return f"{what}; resume with --resume (checkpoints are complete files)"


def _print_summary(metrics: dict[str, Any], out: Path) -> None:
    for name, m in metrics["splits"].items():
        auc = f"{m['roc_auc']:.3f}" if m["roc_auc"] is not None else "n/a"
        typer.echo(
            f"{name:>5}: n={m['n']:5d}  accuracy {m['accuracy']:.3f}  balanced {m['balanced_accuracy']:.3f}"
            f"  ROC AUC {auc}"
        )
    if metrics.get("skipped_during_training"):
        typer.echo(
            f"skipped {metrics['skipped_during_training']} file(s) unreadable during training (see data_report.json)"
        )
    typer.echo(f"run folder: {out}  ({metrics['seconds_per_epoch']} s/epoch, best epoch {metrics['best_epoch']})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
