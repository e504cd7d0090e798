"""Child process of tests/runtime/test_model_fuzz.py: load models the way hs-run does and classify a zero image.

``python -m tests.runtime.fuzz_load MODEL``: one model. Exit 0 when it ran; exit with the RuntimeFailure's code (2)
and its one line on stderr when refused. Anything else (a traceback, a signal, a hang) is what the fuzz test
exists to catch.

``python -m tests.runtime.fuzz_load --serve``: model paths on stdin, one a line. Imports once, then forks one process
per model (memory-limited, killed after the time limit) with stderr sent to ``MODEL.stderr``, and prints
``rc<TAB>path`` per model: the exit status, minus the signal number for a signal, ``timeout`` for a hang.
Forking saves the ~0.4 s of imports per model that a fresh interpreter costs; each model still gets a
process of its own, and no interpreter exists in the server when it forks.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time

import numpy as np

from edge_runtime.cli.kit import exit_code_for
from edge_runtime.errors import RuntimeFailure
from edge_runtime.model.classifier import load_classifier

TIME_LIMIT_S = 10.0
MEMORY_LIMIT = 2 * 1024**3


def main(path: str) -> int:
    try:
        clf = load_classifier(path, threads=1)
        spec = clf.spec
        probs = clf.classify(np.zeros((1, spec.height, spec.width, spec.channels), np.uint8))
    except RuntimeFailure as exc:
        print(str(exc), file=sys.stderr)
        return exit_code_for(exc)
    print(" ".join(f"{p:.4f}" for p in probs[0]))
    return 0


def limit_memory() -> None:
    """A runaway allocation fails in this process instead of taking the machine; no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(path: str) -> None:
    """In the forked process: limits, stdout/stderr to files, run, and leave without Python's cleanup."""
    code = 70
    try:
        limit_memory()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
            out = os.open(path + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", closefd=False)
        code = main(path)
    except BaseException:  # noqa: BLE001 - reported as a traceback in MODEL.stderr, like an unforked run
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, limit_s: float) -> str:
    """Exit status as text, ``-N`` for signal N, or ``timeout`` after killing a process that outlived the limit."""
    deadline = time.monotonic() + limit_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return str(os.waitstatus_to_exitcode(status))
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.005)


def serve(limit_s: float = TIME_LIMIT_S) -> int:
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        pid = os.fork()
        if pid == 0:
            _child(path)
        print(f"{_wait(pid, limit_s)}\t{path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1] == "--serve" else main(sys.argv[1]))
