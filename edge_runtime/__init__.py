"""happysad-edge device runtime: TFLite interpreter, numpy and OpenCV only (never TensorFlow)."""

__version__ = "0.1.0"
