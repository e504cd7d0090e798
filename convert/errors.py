"""Errors hs-convert reports as one line (no traceback) with a non-zero exit (codes: edge_runtime.errors)."""

from __future__ import annotations

from edge_runtime.errors import EXIT_CHECK_FAILED, EXIT_USAGE

EXIT_BAD_INPUT = EXIT_USAGE  # the run folder, data or options cannot be used; nothing was written

__all__ = ["EXIT_BAD_INPUT", "EXIT_CHECK_FAILED", "ConvertError", "TargetError"]


class ConvertError(Exception):
    """A problem with the inputs or options, found before anything is written."""

    exit_code = EXIT_BAD_INPUT


class TargetError(ConvertError):
    """A converted model needs ops or op versions the requested target runtime does not have."""
