"""Errors hs-convert reports as one line (no traceback) with a non-zero exit."""

from __future__ import annotations

EXIT_CHECK_FAILED = 1  # a model was converted but lost too much accuracy (or the target refused it)
EXIT_BAD_INPUT = 2  # the run folder, data or options cannot be used; nothing was written


class ConvertError(Exception):
    """A problem with the inputs or options, found before anything is written."""

    exit_code = EXIT_BAD_INPUT


class TargetError(ConvertError):
    """A converted model needs ops or op versions the requested target runtime does not have."""
