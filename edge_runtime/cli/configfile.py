"""``--config FILE``: settings from a TOML file, under the same names as the command-line options
(``detect-width = 320`` or ``detect_width = 320``), so a systemd unit stays one short line.

The file is turned into options placed before the command line's own, so the command line wins (the last
occurrence of an option counts) and every value gets the same checks as if it had been typed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

from edge_runtime.errors import RuntimeFailure, first_line

SKIP = {"config", "help", "version"}


def config_path(argv: list[str]) -> str | None:
    """The last ``--config`` given, or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--config="):
            found = arg.split("=", 1)[1]
    return found


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise RuntimeFailure(f"--config {path}: no such file") from None
    except UnicodeDecodeError:
        raise RuntimeFailure(f"--config {path}: not UTF-8 text (a TOML file must be UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuntimeFailure(f"--config {path}: {first_line(exc)}") from None


def to_args(settings: dict[str, Any], params: Iterable[Any], where: str) -> list[str]:
    """TOML settings -> option arguments, checked against the command's click parameters."""
    options: dict[str, Any] = {}
    for p in params:
        for opt in getattr(p, "opts", []):
            if opt.startswith("--"):
                options[opt[2:]] = p
    args: list[str] = []
    for key, value in settings.items():
        name = key.replace("_", "-")
        param = options.get(name)
        if param is None or name in SKIP:
            known = ", ".join(sorted(n for n in options if n not in SKIP))
            raise RuntimeFailure(f"{where}: unknown setting {key!r} (known: {known})")
        if getattr(param, "is_flag", False):
            if not isinstance(value, bool):
                raise RuntimeFailure(f"{where}: {key} must be true or false, not {value!r}")
            secondary = list(getattr(param, "secondary_opts", []))
            if value:
                args.append(f"--{name}")
            elif secondary:
                args.append(secondary[0])
            continue
        if isinstance(value, dict | list) or isinstance(value, bool):
            raise RuntimeFailure(f"{where}: {key} must be a string or a number, not {value!r}")
        problem = _value_problem(param, value)
        if problem:  # checked here, as the option would, so the message names the file and the key
            raise RuntimeFailure(f"{where}: {key} = {value!r}: {problem}")
        args += [f"--{name}", str(value)]
    return args


def _value_problem(param: Any, value: Any) -> str | None:
    """Why ``value`` does not suit the option (its type, choices and range), or None."""
    descriptor = getattr(param, "type_descriptor", None)
    kind = getattr(descriptor, "annotation", str)
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = [str(m.value) for m in kind]
        return None if str(value) in choices else f"must be one of {', '.join(choices)}"
    if kind in (int, float):
        try:
            number = kind(value) if not isinstance(value, str) or kind is float else int(value)
        except (TypeError, ValueError):
            return f"must be {'an integer' if kind is int else 'a number'}"
        if kind is int and isinstance(value, float) and not value.is_integer():
            return "must be an integer"
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if (low is not None and number < low) or (high is not None and number > high):
            return f"must be in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    return None


def with_config(params: Iterable[Any], argv: list[str]) -> list[str]:
    """``argv`` with the config file's settings put in front of it (a no-op without ``--config``)."""
    path = config_path(argv)
    if path is None:
        return argv
    return to_args(load(path), params, f"--config {Path(path)}") + argv
