"""The output folder: checked for writing before any work, written (each file atomically) at the end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from edge_runtime.errors import RuntimeFailure, first_line

from .errors import ConvertError, WriteError
from .quantize import model_file_name

FAILED_TAG = "FAILED_CHECK"


def failed_file_name(kind: str) -> str:
    return f"model_{kind}.{FAILED_TAG}.tflite"


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be written, before minutes of loading and converting are spent.

    Probes with a real file (permission bits say nothing for root, a read-only mount or a full quota);
    a folder that does not exist yet is probed in its nearest existing parent and is not created here,
    so a later bad input still leaves nothing behind.
    """
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise ConvertError(f"output folder {out} exists and is not a folder")
    base = _nearest_existing(out)
    if not base.is_dir():
        raise ConvertError(f"output folder {out} cannot be created: {base} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hs-convert-probe-", dir=base)
    except OSError as exc:
        raise ConvertError(f"output folder {out} is not writable: {first_line(exc)}") from exc
    try:
        os.close(fd)
    finally:  # a signal here must not leave the probe behind
        os.unlink(probe)


def write_all(
    out: Path, kinds: list[str], blobs: dict[str, bytes], infos: dict[str, dict], report: dict[str, Any]
) -> None:
    """Each model, its JSON and the report, each atomically; an OS error (disk full) or an output name taken
    by something that is not a regular file (atomic_path refuses it) is a WriteError."""
    try:
        _write_files(out, kinds, blobs, infos, report)
    except (OSError, RuntimeFailure) as exc:
        raise WriteError(f"cannot write to {out}: {first_line(exc)}") from exc


def _write_files(
    out: Path, kinds: list[str], blobs: dict[str, bytes], infos: dict[str, dict], report: dict[str, Any]
) -> None:
    from edge_runtime.io.atomic import write_bytes, write_json

    from . import report as report_mod

    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        entry = report["models"][kind]
        good, bad = out / model_file_name(kind), out / failed_file_name(kind)
        keep, drop = (good, bad) if entry["check"] == "passed" else (bad, good)
        for stale in (drop, drop.with_suffix(".json")):  # a file from an earlier run must not contradict this one
            stale.unlink(missing_ok=True)
        write_bytes(keep, blobs[kind])
        write_json(keep.with_suffix(".json"), infos[kind])
    report_mod.write(report, out)
