"""``hs-train``: train the classifier on a folder of class subfolders (happy/, sad/, ...)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)


def _fail(message: str) -> None:
    typer.echo(f"hs-train: error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def main_command(
    data: Annotated[Path, typer.Option(help="Folder of class subfolders (happy/, sad/, ...).")] = Path("data"),
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/latest"),
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    seed: Annotated[int, typer.Option(help="Same seed, same splits and same result.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    lr_schedule: Annotated[str, typer.Option(help="constant or cosine")] = "constant",
    image_size: Annotated[int, typer.Option(min=8, help="Square input side in pixels.")] = 256,
    channels: Annotated[int, typer.Option(help="3 for RGB, 1 for grey.")] = 3,
    arch: Annotated[str, typer.Option(help="origin (the documents' CNN) or compact.")] = "origin",
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.0,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="AdamW decoupled weight decay.")] = 0.0,
    augment: Annotated[bool, typer.Option(help="Flip, rotation, zoom, brightness, contrast.")] = True,
    augment_strength: Annotated[float, typer.Option(min=0.0)] = 1.0,
    class_weight: Annotated[str, typer.Option(help="auto (balanced if classes differ) or none")] = "auto",
    patience: Annotated[int, typer.Option(help="Early-stopping patience in epochs (0: off).")] = 5,
    classes: Annotated[Optional[str], typer.Option(help="Comma-separated subset of class folders.")] = None,
    val_data: Annotated[Optional[Path], typer.Option(help="Validation folder instead of a split.")] = None,
    test_data: Annotated[Optional[Path], typer.Option(help="Test folder instead of a split.")] = None,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.5)] = 0.1,
    test_fraction: Annotated[float, typer.Option(min=0.0, max=0.5)] = 0.1,
    roi: Annotated[str, typer.Option(help="How the device cuts regions: face (detector) or frame.")] = "face",
    margin: Annotated[float, typer.Option(min=0.0, max=1.0, help="Face box growth per side.")] = 0.15,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.5,
    uncertain_band: Annotated[float, typer.Option(min=0.0, max=0.5, help="Device reports 'uncertain' when |P(sad) - threshold| is below this.")] = 0.0,
    distribute: Annotated[str, typer.Option(help="none, mirrored or multiworker (TF_CONFIG).")] = "none",
    cache: Annotated[bool, typer.Option(help="Keep decoded images in memory after epoch 1.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its checkpoint.")] = False,
    quiet: Annotated[bool, typer.Option(help="One line per epoch instead of a progress bar.")] = False,
) -> None:
    """Train, evaluate every split, and write model, SavedModel, metrics, plots and reports to OUT."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if channels not in (1, 3):
        _fail("--channels must be 1 or 3")
    if str(data).lower().endswith(".csv"):
        from .fer_csv import import_csv

        csv_dir = out / "fer2013_from_csv"
        try:
            wanted = tuple(c.strip() for c in classes.split(",")) if classes else ("happy", "sad")
            import_csv(data, csv_dir, wanted)
        except (OSError, ValueError) as exc:
            _fail(str(exc))
        data, val_data, test_data = csv_dir / "train", val_data or csv_dir / "val", test_data or csv_dir / "test"
        if not test_data.is_dir():
            test_data = None
    from .config import TrainConfig
    from .data import DataError
    from .trainer import train

    cfg = TrainConfig(data=str(data), out=str(out), epochs=epochs, seed=seed, batch_size=batch_size,
                      learning_rate=learning_rate, lr_schedule=lr_schedule, image_size=image_size,
                      channels=channels, arch=arch, dropout=dropout, weight_decay=weight_decay, augment=augment,
                      augment_strength=augment_strength, class_weight=class_weight, patience=patience,
                      classes=[c.strip() for c in classes.split(",") if c.strip()] if classes else None,
                      val_data=str(val_data) if val_data else None, test_data=str(test_data) if test_data else None,
                      val_fraction=val_fraction, test_fraction=test_fraction, roi=roi, margin=margin,
                      threshold=threshold, uncertain_band=uncertain_band, distribute=distribute, cache=cache, resume=resume,
                      verbose=2 if quiet or not sys.stdout.isatty() else 1)
    try:
        metrics = train(cfg)
    except (DataError, ValueError, OSError) as exc:
        if os.environ.get("HS_DEBUG"):
            raise
        _fail(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
    except KeyboardInterrupt:
        typer.echo("hs-train: interrupted; resume with --resume (checkpoints are complete files)", err=True)
        raise typer.Exit(130)
    for name, m in metrics["splits"].items():
        auc = f"{m['roc_auc']:.3f}" if m["roc_auc"] is not None else "n/a"
        typer.echo(f"{name:>5}: n={m['n']:5d}  accuracy {m['accuracy']:.3f}  balanced {m['balanced_accuracy']:.3f}"
                   f"  ROC AUC {auc}")
    typer.echo(f"run folder: {out}  ({metrics['seconds_per_epoch']} s/epoch, best epoch {metrics['best_epoch']})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
