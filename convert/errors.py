"""Errors hs-convert reports as one line (no traceback) with a non-zero exit (codes: edge_runtime.errors)."""

from __future__ import annotations

from edge_runtime.errors import EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_WRITE_FAILED

EXIT_BAD_INPUT = EXIT_USAGE  # the run folder, data or options cannot be used; nothing was written
EXIT_INTERNAL = 1  # a bug, reported in one line by clikit.report_bug (hs-run uses 1 too)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL",
    "EXIT_WRITE_FAILED",
    "ConvertError",
    "TargetError",
    "WriteError",
]


class ConvertError(Exception):
    """A problem with the inputs or options, found before anything is written."""

    exit_code = EXIT_BAD_INPUT


class TargetError(ConvertError):
    """A converted model needs ops or op versions the requested target runtime does not have."""


class WriteError(ConvertError):
    """The outputs could not be written at the end (disk full, I/O error); files already renamed stay whole."""

    exit_code = EXIT_WRITE_FAILED
