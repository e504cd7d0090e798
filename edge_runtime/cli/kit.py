"""What every happysad command line shares: ``--version``, SIGTERM handled like SIGINT, and the
mapping from an exception to one stderr line and an exit code (see ``errors``)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import typer

from edge_runtime.errors import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_SOURCE_GAVE_UP,
    EXIT_USAGE,
    EXIT_WRITE_FAILED,
    SourceGaveUp,
    Terminated,
    WriteFailed,
    first_line,
)

DISTRIBUTION = "happysad-edge-runtime"  # hs-train and hs-convert report the same version


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def version_callback(prog: str) -> Callable[[bool], None]:
    """A Typer callback for an eager ``--version`` option."""

    def show(value: bool) -> None:
        if value:
            typer.echo(f"{prog} {version()}")
            raise typer.Exit(0)

    return show


def say(prog: str, message: str) -> None:
    typer.echo(f"{prog}: {message}", err=True)


def fail(prog: str, message: str, code: int) -> None:
    """One line on stderr, then exit with ``code``."""
    say(prog, f"error: {message}")
    raise typer.Exit(code)


@dataclass
class SignalSeen:
    """Which stop signal ``stop_signals_raise``' handlers saw, if any. The exception a handler raises while
    TensorFlow's C code is calling back into Python can surface as another one (seen: ``SystemError: bad
    argument to internal function``); callers ask this, not the exception's type, whether the run was stopped."""

    signum: int | None = None


@contextmanager
def stop_signals_raise(seen: SignalSeen | None = None) -> Iterator[SignalSeen]:
    """Inside the block, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) and SIGINT KeyboardInterrupt, as
    Python's own handler does, both noted in the ``SignalSeen`` yielded: a service manager's stop unwinds the
    same ``finally`` and ``with`` blocks as Ctrl-C: temporary files removed, a message."""
    seen = seen if seen is not None else SignalSeen()

    def handler(signum: int, _frame: Any) -> None:
        seen.signum = signum
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield seen
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def as_interrupt(exc: BaseException, seen: SignalSeen) -> KeyboardInterrupt | None:
    """The interrupt ``exc`` stands for: the signal seen (whatever it surfaced as), or ``exc`` itself if it
    is one; None for a real error."""
    if seen.signum == signal.SIGTERM:
        return Terminated()
    if seen.signum is not None:
        return KeyboardInterrupt()
    return exc if isinstance(exc, KeyboardInterrupt) else None


def interrupted_code(exc: KeyboardInterrupt) -> int:
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def report_bug(prog: str, exc: BaseException) -> None:
    """An unexpected exception: one line (HS_DEBUG=1 re-raises for the traceback)."""
    if os.environ.get("HS_DEBUG"):
        raise exc
    say(prog, f"internal error: {type(exc).__name__}: {first_line(exc)} (HS_DEBUG=1 shows a traceback)")


def exit_code_for(exc: BaseException) -> int:
    """The exit code for a failure the user can act on: the one place each kind gets its number. (The
    workstation tools' own error types say theirs as ``exit_code``.)"""
    if isinstance(exc, SourceGaveUp):
        return EXIT_SOURCE_GAVE_UP
    if isinstance(exc, WriteFailed):
        return EXIT_WRITE_FAILED
    own = getattr(exc, "exit_code", None)
    return own if isinstance(own, int) else EXIT_USAGE


def run_app(app: typer.Typer, prog: str, args: list[str] | None = None) -> None:
    """Run a Typer app with the house's error style: a usage error is one line (not click's box) and
    exit 2; Ctrl-C before the command's own handler is 130; everything else as the command decides.

    Click's exceptions are recognised by what they offer (``format_message``, ``exit_code``), since Typer
    has shipped them both from click and from its own vendored copy.
    """
    try:
        code = app(args=args, prog_name=prog, standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except Exception as exc:
        if type(exc).__name__ == "Abort":
            code = EXIT_SIGINT
        elif hasattr(exc, "format_message") and isinstance(usage_code := getattr(exc, "exit_code", None), int):
            say(prog, f"error: {exc.format_message()} (see {prog} --help)")
            code = usage_code
        else:
            raise
    sys.exit(code if isinstance(code, int) else 0)
