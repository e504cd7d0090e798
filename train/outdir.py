"""Where ``hs-train --out`` may write: never over someone's folder, never a mix of two runs.

An existing run folder is refused unless ``--resume`` (continue it) or ``--overwrite`` (replace it).
With ``--overwrite`` the old run is moved aside under a clearly named hidden sibling and the new one is
trained in place (splits.json keeps absolute paths, and a FER CSV is imported inside the run folder, so
the new run must live at its final path); the old run is deleted only once the new one completed, and
put back when training fails or is interrupted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import rundir

# Any of these names makes a folder one that hs-train made (and so one that --overwrite may delete).
RUN_MARKERS = (rundir.MODEL_KERAS, rundir.MODEL_INFO, rundir.SPLITS, rundir.CHECKPOINTS)
ASIDE_PREFIX = ".replaced-by-hs-train-"


class OutDirError(ValueError):
    """An --out that must not be written; shown to the user as one line (exit 2)."""


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_MARKERS)


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
        shutil.rmtree(out, ignore_errors=True)
        aside.rename(out)
        raise
    shutil.rmtree(aside)
