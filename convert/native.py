"""Keep TensorFlow's C++ start-up and converter log lines (written straight to file descriptor 2) off the
terminal, so hs-convert prints its table and one-line errors only. Nothing is lost on failure: callers
read the captured text and put the relevant line into their error.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


def tensorflow_missing() -> bool:
    """True on a runtime-only install, checked without importing TensorFlow (seconds, and log lines)."""
    try:
        return importlib.util.find_spec("tensorflow") is None
    except (ImportError, ValueError):  # a finder that refuses it, or a stub module without a spec
        return True


@contextmanager
def native_stderr_to(sink: IO[bytes]) -> Iterator[IO[bytes]]:
    """Point file descriptor 2 at ``sink`` for the block (a no-op when stderr has no descriptor)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield sink
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        os.dup2(sink.fileno(), fd)
        yield sink
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def import_tensorflow() -> Any:
    """``import tensorflow`` (quietly, through train.tfenv) and LiteRT without their start-up log lines;
    an import failure shows them."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()
    with tempfile.TemporaryFile() as sink:
        try:
            with native_stderr_to(sink):
                import ai_edge_litert.interpreter  # noqa: F401 - its own start-up lines, once
                import tensorflow as tf
        except ImportError:
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
    return tf
