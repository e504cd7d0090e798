"""happysad-edge device runtime: TFLite interpreter, numpy and OpenCV only (never TensorFlow)."""

__version__ = "0.2.0"  # the one place: both distributions (edge_runtime/pyproject.toml, pyproject.toml) read it
