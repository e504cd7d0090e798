"""happysad-edge converter: Keras run folders to self-describing TFLite models.

``convert_run(run_dir, quantize=[...])`` is the whole job as a function; ``hs-convert`` is its CLI.
"""

from __future__ import annotations

from typing import Any


def convert_run(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from .core import convert_run as _convert_run

    return _convert_run(*args, **kwargs)


__all__ = ["convert_run"]
