"""What every bench script shares: where the data lives, how a thing is timed, and how results are printed.

A script puts the repository on ``sys.path`` (its one line of set-up) and imports from here::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import FACE_CLIP, print_table, time_calls

- Paths: the shared data folder is ``../shared/data`` beside the repository (the Makefile's ``DATA``
  default); a user's clone has none, and each script says so in one line or falls back to something drawn.
- Timing: ``time_calls`` / ``time_each`` time one call at a time after untimed warm-up calls (``p50_p90_ms``
  summarises them); ``interleaved`` runs several measurements in rounds, one of each per round, so a machine
  whose speed drifts (a shared machine, a warming CPU) slows all of them alike; report the median per name.
- Output: ``print_table`` prints one markdown pipe table from a header and rows and, given the path of a
  script's ``--json`` option, writes the same rows (unformatted values) as JSON.

Imports nothing beyond numpy and the standard library, so a script's ``--help`` stays instant.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeGuard, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

# --- paths -------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

VIDEO_DIR = DATA / "video"
FACE_CLIP = VIDEO_DIR / "face_clip.mp4"  # real faces, no ground truth per frame
FACE_CLIP_LABELS = VIDEO_DIR / "face_clip_labels.tsv"  # frame ranges and x bands with the expected label
FER2013 = DATA / "fer2013"  # train/ and val/, one folder per expression
FER2013_VAL = FER2013 / "val"
FERPLUS = DATA / "ferplus"  # valid.csv (10 votes per face) and valid/
SFEW = DATA / "sfew"
NHFI = DATA / "nhfi"
SEED_SCENES = DATA / "seed-scenes"  # the origin documents' whole stock photos

MODELS = REPO / "edge_runtime" / "models"  # the packaged model files
HAPPYSAD_INT8 = MODELS / "happysad_int8.tflite"  # the two-class happy/sad model


# --- timing ------------------------------------------------------------------------------------------------


def time_each(work: Callable[[T], object], items: Iterable[T], warmup: int = 0) -> list[float]:
    """Seconds of ``work(item)`` for each item, one ``perf_counter`` pair around each call; the first
    ``warmup`` items are worked on untimed (first invokes, caches, a decoder's start-up)."""
    times: list[float] = []
    for i, item in enumerate(items):
        if i < warmup:
            work(item)
            continue
        t0 = time.perf_counter()
        work(item)
        times.append(time.perf_counter() - t0)
    return times


def time_calls(work: Callable[[], object], runs: int, warmup: int = 0) -> list[float]:
    """Seconds of each of ``runs`` calls of ``work()``, after ``warmup`` untimed calls."""
    return time_each(lambda _: work(), range(warmup + runs), warmup)


def p50_p90_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile (linear interpolation, as ``hs-bench``) of ``seconds``, in milliseconds;
    NaN for no values."""
    if not len(seconds):
        return math.nan, math.nan
    p50, p90 = np.percentile(np.asarray(seconds, np.float64), (50, 90)) * 1e3
    return float(p50), float(p90)


def interleaved(work: Mapping[str, Callable[[], R]], rounds: int, alternate: bool = False) -> dict[str, list[R]]:
    """Each name's results over ``rounds`` rounds; every round calls each of ``work`` once, in the mapping's
    order, or (``alternate``) in the reverse order on odd rounds, so a drift that runs one way through a
    round also cancels out between neighbours."""
    out: dict[str, list[R]] = {name: [] for name in work}
    names = list(work)
    for r in range(rounds):
        for name in reversed(names) if alternate and r % 2 else names:
            out[name].append(work[name]())
    return out


# --- output ------------------------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[numbers.Real]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def format_cell(value: object, fmt: str = "") -> str:
    """A cell's text: a string as it is, a number in ``fmt`` (a format spec such as ``.3f``; default: floats
    with 3 decimals, integers whole), None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if _is_number(value):
        if fmt:
            try:
                return format(value, fmt)
            except ValueError:  # e.g. "d" for a float read back from JSON
                return str(value)
        return str(value) if isinstance(value, numbers.Integral) else f"{float(value):.3f}"
    return str(value)


def _numeric(value: object) -> bool:
    """A number, or text that reads as one (``0.02 / 0.04``, ``+5.3%``, ``12 (3.1%)``): right-aligned."""
    return _is_number(value) or (isinstance(value, str) and re.match(r"[-+]?\.?\d", value) is not None)


def _escape(text: str) -> str:
    """A cell's text with its pipes escaped (``max|dp|`` would split the row) and on one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def format_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], formats: Sequence[str] | None = None
) -> list[str]:
    """The lines of a markdown pipe table, each cell padded to its column's widest so the table also reads as
    plain text: a column of numbers (or text that starts like one) right-aligned, except the first."""
    fmts = list(formats or [])
    fmts += [""] * (len(header) - len(fmts))
    rows = [list(r) for r in rows]
    for r in rows:
        if len(r) != len(header):
            raise ValueError(f"a row has {len(r)} cells for {len(header)} columns: {r}")
    cells = [[_escape(format_cell(v, f)) for v, f in zip(r, fmts)] for r in rows]
    header = [_escape(h) for h in header]
    widths = [max(3, len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    right = [i > 0 and any(_numeric(r[i]) for r in rows) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if r else "-") for w, r in zip(widths, right)) + "|"
    return [line(header), rule, *(line(r) for r in cells)]


def json_value(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays to Python's, paths and other objects to text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON via a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(json_value(data), f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    formats: Sequence[str] | None = None,
    *,
    json_path: Path | None = None,
    meta: Mapping[str, Any] | None = None,
    file: TextIO | None = None,
) -> None:
    """Print the markdown table of ``rows`` under ``header`` (``formats``: one format spec per column, see
    ``format_cell``). With ``json_path`` (a script's ``--json``), also write
    ``{**meta, "columns": header, "rows": [{column: value}, ...]}`` there, the values unformatted."""
    rows = [list(r) for r in rows]
    print("\n".join(format_table(header, rows, formats)), file=file or sys.stdout, flush=True)
    if json_path is not None:
        data = {**(meta or {}), "columns": list(header), "rows": [dict(zip(header, r)) for r in rows]}
        write_json(json_path, data)
