"""Write-then-rename, so an interrupted process never leaves a half-written file under a final name, and
the one check that an output path is something we may write: we only ever replace a regular file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge_runtime.errors import RuntimeFailure, first_line


class OutputRefused(RuntimeFailure, ValueError):
    """An output path names something that is not ours to replace (a folder, a device, a link) or cannot be
    written; raised before any work, so nothing on disk changes."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_output_file(final: str | Path) -> Path:
    """``final`` may be written: it is absent or a regular file, and its folder takes a new file.

    Refuses (one line, nothing changed) a folder, a symbolic link, a FIFO, a device or a socket, a missing
    parent folder or one we cannot write to. The write test really creates (and removes) a file, so a
    read-only mount is caught even when running as root.
    """
    final = Path(final)
    try:
        mode = os.lstat(final).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputRefused(f"cannot use {final} as an output: {first_line(exc)}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputRefused(f"{final} is {_kind(mode)}; give a file name for this output (nothing was changed)")
    parent = final.parent
    if not parent.is_dir():
        raise OutputRefused(f"cannot write {final}: folder {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputRefused(f"cannot write {final}: {exc.strerror or first_line(exc)}") from None
    return final


@contextmanager
def atomic_path(final: str | Path, suffix: str | None = None, folder_marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    The temporary name keeps ``final``'s suffix (writers such as Keras and OpenCV choose the format by
    it) and sits in the same folder so the rename is atomic. A file replaces only a regular file. A folder
    the block wrote (a SavedModel) replaces only a folder of the same name that holds the regular file
    ``folder_marker`` (``saved_model.pb``): one we wrote before, never somebody's folder, which is deleted.
    Anything else under ``final`` is refused before the block runs, and left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    existing = os.lstat(final).st_mode if os.path.lexists(final) else None
    if existing is not None and not (stat.S_ISREG(existing) or stat.S_ISDIR(existing)):
        raise OutputRefused(f"{final} is {_kind(existing)}; it will not be replaced (nothing was changed)")
    if existing is not None and stat.S_ISDIR(existing) and not _marked(final, folder_marker):
        what = f"without {folder_marker}" if folder_marker else "and only a file is written here"
        raise OutputRefused(f"{final} is a folder {what}; it will not be replaced (nothing was changed)")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix or "".join(final.suffixes) or ".tmp", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        _install(tmp, final, existing)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            tmp.unlink()


def _marked(folder: Path, marker: str | None) -> bool:
    return marker is not None and os.path.isfile(folder / marker) and not os.path.islink(folder / marker)


def _install(tmp: Path, final: Path, existing: int | None) -> None:
    """Move the finished ``tmp`` to ``final``: file over file, folder over folder, never across kinds."""
    made_dir = tmp.is_dir()
    if existing is not None and stat.S_ISDIR(existing) != made_dir:
        what = "a folder" if stat.S_ISDIR(existing) else "a file"
        raise OutputRefused(f"{final} is {what}; it will not be replaced by a {'folder' if made_dir else 'file'}")
    if made_dir and existing is not None:
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        final.rename(old / final.name)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def write_bytes(final: str | Path, data: bytes) -> Path:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(final)


def write_json(final: str | Path, obj: Any) -> Path:
    return write_bytes(final, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8"))
