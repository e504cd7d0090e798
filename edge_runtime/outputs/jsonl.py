"""JSON Lines results, appended as they are produced: another process can ``tail -f`` the file, a power
cut loses at most the line being written, a restarted service appends, and size-based rotation bounds
the disk a run of weeks uses (``out.jsonl`` -> ``out.jsonl.1`` -> ... -> ``out.jsonl.KEEP``).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import WriteFailed, first_line
from edge_runtime.io.atomic import OutputRefused, check_output_file
from edge_runtime.results import FrameResult

FSYNC_EVERY_S = 1.0  # each line reaches the OS at once; the disk at least once a second (SD card wear)


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")


class JsonLinesFile:
    """Rows appended to ``path`` with one ``write`` each; on a write error the partial row is cut off, so the
    file holds only complete rows, and the run stops with ``WriteFailed``."""

    needs_image = False

    def __init__(self, path: str | Path, max_bytes: int = 0, keep: int = 5) -> None:
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.rows = 0
        self._size = 0  # bytes in the file: where a failed row is cut back to, and when to rotate
        self._fd = self._open()
        self._synced = time.monotonic()

    def _open(self) -> int:
        check_output_file(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(fd).st_size
        if self._size and _last_byte(self.path) != b"\n":  # a row cut by a power cut: end it, keep it
            self._size += os.write(fd, b"\n")
        return fd

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        self.write(encode(result.to_dict()))
        return None

    def write(self, line: bytes) -> None:
        start = self._size
        try:
            _write_all(self._fd, line)
            now = time.monotonic()
            if now - self._synced >= FSYNC_EVERY_S:
                os.fsync(self._fd)
                self._synced = now
        except OSError as exc:
            _cut(self._fd, start)
            full = " (disk full)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise WriteFailed(
                f"cannot write {self.path}{full}: {first_line(exc)}; "
                f"the {self.rows} complete rows written by this run are kept"
            ) from None
        self.rows += 1
        self._size = start + len(line)
        if self.max_bytes and self._size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """Shift ``path.(i)`` to ``path.(i+1)``, dropping the oldest beyond ``keep``; then a fresh ``path``."""
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        names = [self.path] + [self.path.with_name(f"{self.path.name}.{i}") for i in range(1, self.keep + 1)]
        try:
            if self.keep == 0:
                os.truncate(self.path, 0)
            else:
                if names[-1].is_file():
                    names[-1].unlink()
                for older, newer in zip(reversed(names[1:]), reversed(names[:-1])):
                    if newer.is_file():
                        if older.exists() and not older.is_file():  # a folder or link in the way: not ours
                            raise OSError(f"{older} is in the way and is not a file of ours")
                        os.replace(newer, older)
            self._fd = self._open()
        except (OSError, OutputRefused) as exc:
            raise WriteFailed(
                f"cannot rotate {self.path}: {first_line(exc)}; the {self.rows} rows written are kept"
            ) from None

    def close(self, ok: bool) -> None:
        if self._fd < 0:  # a rotation that failed left nothing open
            return
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)


class JsonLinesStdout:
    """Rows to standard output for a pipe; a reader that goes away (``| head``) ends the run normally."""

    needs_image = False

    def __init__(self) -> None:
        self.closed = False
        if sys.stdout is None or not _fd_open(1):  # started with standard output closed (>&-)
            raise OutputRefused("--json -: standard output is closed; give a file name instead")

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        try:
            sys.stdout.buffer.write(encode(result.to_dict()))
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            # Python would complain again when it flushes stdout at exit: point it at /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            self.closed = True
            return "the reader of standard output went away"
        except OSError as exc:  # a full disk behind a redirect (> /dev/full), an I/O error
            full = " (disk full)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise WriteFailed(f"cannot write standard output{full}: {first_line(exc)}") from None
        return None

    def close(self, ok: bool) -> None:
        pass


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _cut(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)
