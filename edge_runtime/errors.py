"""The one exception type the runtime raises for problems a user can fix (bad file, bad flag, no camera).

The CLI prints it as a single line and exits non-zero; anything else is a bug and is reported as such.
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    """A clear, one-line reason the run cannot go on."""


def first_line(exc: BaseException) -> str:
    """Library errors (OpenCV, LiteRT) span many lines; a log line wants the first meaningful one."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
