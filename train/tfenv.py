"""TensorFlow's start-up noise silenced in one place, for every tool that imports TensorFlow: call
``quiet_tensorflow()`` before the first import.

TF_CPP_MIN_LOG_LEVEL alone is not enough any more: TensorFlow 2.21 logs its oneDNN and CUDA-stub banners
through absl before absl reads any setting, straight to file descriptor 2. So the import itself runs with
descriptor 2 captured, and every captured line except INFO/WARNING log lines is passed on to stderr.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import tempfile

# What to do when TensorFlow (or another training module) is missing: hs-train and hs-convert say it in one line.
# happysad-edge depends on TensorFlow; a device install (happysad-edge-runtime alone) has neither tool.
INSTALL_HINT = "install the workstation package: pip install -e ./edge_runtime -e . in the repository (make install)"

# Set only where the environment says nothing: TF_CPP_MIN_LOG_LEVEL=0 brings every line back for debugging.
QUIET_ENV = {
    # C++ logs: none (a CPU-only machine's cuInit error included); real errors arrive as Python exceptions
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",  # multiworker's gRPC start-up lines
}
NOISE = re.compile(rb"^([IW]\d{4} |WARNING: All log messages before absl::InitializeLog)")


def quiet_tensorflow() -> None:
    """Set the log levels TensorFlow reads and import it quietly; harmless when called twice, after the
    import, or where TensorFlow is not installed (a runtime-only install)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" in sys.modules or not _installed("tensorflow"):
        return
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1"):  # the user asked for INFO or WARNING lines
        _import_tensorflow()
        return
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            _import_tensorflow()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            _pass_on(captured.read())
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import_tensorflow() -> None:
    """Import TensorFlow now; a broken install is left for the caller's own import to report."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass


def _pass_on(captured: bytes) -> None:
    kept = b"".join(line for line in captured.splitlines(keepends=True) if not NOISE.match(line))
    if kept:
        sys.stderr.write(kept.decode(errors="replace"))
        sys.stderr.flush()
