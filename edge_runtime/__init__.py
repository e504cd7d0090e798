"""happysad-edge device runtime: TFLite interpreter, numpy and OpenCV only (never TensorFlow).

The Python API (``edge_runtime.api``), importable from here::

    from edge_runtime import FaceClassifier, RunningMode
    with FaceClassifier.create("happysad") as clf:
        print(clf.classify("photo.jpg").labels)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"  # the one place: both distributions (edge_runtime/pyproject.toml, pyproject.toml) read it

__all__ = ["ClassifierOptions", "FaceClassifier", "FaceResult", "FrameResult", "RunningMode", "__version__"]

_API = {
    "ClassifierOptions": "edge_runtime.api",
    "FaceClassifier": "edge_runtime.api",
    "RunningMode": "edge_runtime.api",
    "FaceResult": "edge_runtime.results",
    "FrameResult": "edge_runtime.results",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use: ``import edge_runtime`` alone (for ``__version__``) stays
    free of OpenCV and the interpreter."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
