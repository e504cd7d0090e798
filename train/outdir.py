"""Where ``hs-train --out`` may write: never over someone's folder, never a mix of two runs.

An existing run folder is refused unless ``--resume`` (continue it) or ``--overwrite`` (replace it).
With ``--overwrite`` the old run is moved aside under a clearly named hidden sibling and the new one is
trained in place (splits.json keeps absolute paths, and a FER CSV is imported inside the run folder, so
the new run must live at its final path); the old run is deleted only once the new one completed, and
put back when training fails or is interrupted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import rundir

ASIDE_PREFIX = ".replaced-by-hs-train-"


class OutDirError(ValueError):
    """An --out that must not be written; shown to the user as one line (exit 2)."""


def is_run_folder(path: Path) -> bool:
    """A folder hs-train made: it holds the splits.json that a run writes first, with its two keys.

    A single familiar name (a ``checkpoints`` folder, a ``model.keras``) is not enough: --overwrite deletes
    what this says is a run, so somebody's project folder must never pass.
    """
    splits = path / rundir.SPLITS
    if not path.is_dir() or splits.is_symlink() or not splits.is_file():
        return False
    try:
        data = json.loads(splits.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("classes"), list) and isinstance(data.get("splits"), dict)


def check_out_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an --out that is a file, somebody else's non-empty folder, or a run folder to be clobbered."""
    if resume and overwrite:
        raise OutDirError("--resume and --overwrite exclude each other: continue the run or replace it")
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not is_run_folder(out):
        raise OutDirError(f"--out {out} is a non-empty folder that is not an hs-train run; choose another --out")
    if not (resume or overwrite):
        raise OutDirError(f"--out {out} already holds a run: add --resume to continue it or --overwrite to replace it")
    if overwrite and out.is_symlink():
        raise OutDirError(
            f"--out {out} is a symbolic link; to replace that run, give the folder itself: {out.resolve()}"
        )


@contextmanager
def replacing(out: Path, enabled: bool = True) -> Iterator[None]:
    """Move an existing run folder aside for the block; delete it if the block completes, else put it back
    (the partial new run is removed). Does nothing when disabled or when ``out`` holds no run."""
    if not enabled or not is_run_folder(out):
        yield
        return
    aside = Path(tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{out.name}-", dir=out.parent))
    aside.rmdir()
    out.rename(aside)
    try:
        yield
    except BaseException:
        if out.is_dir() and not out.is_symlink():  # the partial new run: made by this run after the rename
            shutil.rmtree(out, ignore_errors=True)
        aside.rename(out)
        raise
    shutil.rmtree(aside)  # the old run the user asked to replace (checked by is_run_folder)
