"""The exception types for problems a user can fix, and the one helper that turns a library's many-line
error into a log line. Shared by hs-run, hs-bench, hs-train and hs-convert. An exception says what went
wrong, never how a program should end: the command lines map each kind to its exit code
(``cli.kit.exit_code_for``).

Exit codes (README "Exit codes"):
  0 success; 1 a check failed (parity, accuracy) or an internal error; 2 bad input or usage; 3 a live source gave up;
  4 an output could not be written (disk full, I/O error); 130 SIGINT; 143 SIGTERM.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_INTERNAL = 1  # a bug: shares 1 with a failed check, both mean 'read the message'
EXIT_USAGE = 2
EXIT_SOURCE_GAVE_UP = 3
EXIT_WRITE_FAILED = 4
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class RuntimeFailure(Exception):
    """A clear, one-line reason the run cannot go on: bad input or usage, unless a subclass says otherwise."""


class SourceGaveUp(RuntimeFailure):
    """A live source stayed down through every reconnect attempt."""


class WriteFailed(RuntimeFailure):
    """An output could not be written (disk full, I/O error); rows already written are kept."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT would raise KeyboardInterrupt, so both unwind the same way."""


def first_line(exc: BaseException) -> str:
    """Library errors (OpenCV, LiteRT) span many lines; a log line wants the first meaningful one."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
