"""The one definition of how a model sees an image, shared by training, conversion and the device.

It travels inside every model file (TFLite metadata) and in every run folder (``preprocessing.json``),
so the runtime needs no flags to feed a model exactly what it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SPEC_VERSION = 1


@dataclass(frozen=True)
class FaceCrop:
    """How a region is cut from a camera frame before resizing.

    ``roi`` is ``"face"`` (detect faces, square crop around each, grown by ``margin`` of its side on
    every edge) or ``"frame"`` (the whole frame, as the origin documents did). ``margin`` is relative to
    ``detector``'s box, the detector the training crops were cut with; ``crop_rule`` maps it to any other.
    """

    roi: str = "face"
    margin: float = 0.15
    detector: str = "haarcascade_frontalface_default"

    def __post_init__(self) -> None:
        if self.roi not in ("face", "frame"):
            raise ValueError(f"face_crop.roi must be 'face' or 'frame', not {self.roi!r}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"face_crop.margin must be in [0, 1], not {self.margin}")


@dataclass(frozen=True)
class CropRule:
    """Where a detector's face square lies, in the face's own frame: centre = reference point + (dx, dy)
    reference lengths (x along the eye line, y down), side = ``scale`` reference lengths. The reference is
    the detector box's centre and larger side; the eye line (BlazeFace's keypoints) only turns the frame."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0


# The FER training crop (the whole 48x48 picture) as each detector sees it: measured, not guessed, by
# ``python bench/face_eval.py --fit`` (FER validation faces placed in frames, median over the faces found).
CANONICAL = {
    "haar": CropRule(scale=1.043, dx=0.0, dy=0.004),
    "blazeface": CropRule(scale=1.227, dx=0.002, dy=-0.100),
    "blazeface-full": CropRule(scale=1.192, dx=0.008, dy=-0.038),
    "blazeface-wide": CropRule(scale=1.170, dx=-0.007, dy=-0.100),  # short range on a wide input (faces/wide.py)
}


def detector_family(name: str) -> str:
    """A detector's name in metadata or on the command line -> its key in ``CANONICAL`` (Haar if unknown:
    every model before BlazeFace named the Haar cascade)."""
    return name if name in CANONICAL else "haar"


def crop_rule(face_crop: FaceCrop, detector: str) -> CropRule:
    """The square ``detector`` must cut to reproduce this model's training crops, whichever detector made them.

    A model's metadata says its crops were ``face_crop.detector``'s box grown by ``margin`` per side; that
    detector's canonical rule turns those crops into a size and offset relative to the FER crop, which
    ``detector``'s own canonical rule then maps back to pixels. With the same detector on both sides it is
    the box grown by ``margin``, exactly.
    """
    trained = CANONICAL[detector_family(face_crop.detector)]
    sigma = (1.0 + 2.0 * face_crop.margin) / trained.scale  # training side / canonical side
    own = CANONICAL[detector_family(detector)]
    return CropRule(
        scale=sigma * own.scale,
        dx=own.dx - trained.dx / trained.scale * own.scale,
        dy=own.dy - trained.dy / trained.scale * own.scale,
    )


@dataclass(frozen=True)
class PreprocessSpec:
    """Pixels in: ``color_order`` uint8 image resized to ``height`` x ``width`` with ``interpolation``.

    Scaling to the network's range happens inside the model (a Rescaling layer), so the model input is
    the raw 0..255 value (``input_range``); quantized models take it through the input scale/zero point.
    """

    height: int = 256
    width: int = 256
    channels: int = 3
    color_order: str = "RGB"
    interpolation: str = "area"
    input_range: tuple[float, float] = (0.0, 255.0)
    scaling: str = "x/255 inside the model (Rescaling layer)"
    face_crop: FaceCrop = field(default_factory=FaceCrop)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.color_order not in ("RGB", "GRAY"):
            raise ValueError(f"color_order must be RGB or GRAY, not {self.color_order!r}")
        if (self.channels == 1) != (self.color_order == "GRAY"):
            raise ValueError("channels=1 goes with color_order GRAY, channels=3 with RGB")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"image size {self.height}x{self.width} is too small")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}")

    @classmethod
    def for_size(cls, size: int, channels: int = 3, **kw: Any) -> PreprocessSpec:
        return cls(height=size, width=size, channels=channels, color_order="GRAY" if channels == 1 else "RGB", **kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_range"] = list(self.input_range)
        d["spec_version"] = SPEC_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessSpec:
        d = dict(d)
        d.pop("spec_version", None)
        fc = d.pop("face_crop", {}) or {}
        if "input_range" in d:
            d["input_range"] = tuple(float(v) for v in d["input_range"])
        known = cls.__dataclass_fields__.keys()
        return cls(face_crop=FaceCrop(**fc), **{k: v for k, v in d.items() if k in known})


INTERPOLATIONS = {"area", "linear", "nearest", "cubic"}
MAX_LABELS, MAX_LABEL_CHARS = 64, 40


def checked_number(name: str, value: Any, low: float, high: float) -> float:
    """A finite number in [low, high], as the command line checks the same setting; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {str(value)[:40]!r}")
    v = float(value)
    if not (low <= v <= high):  # NaN fails every comparison
        raise ValueError(f"{name} {v} is outside [{low}, {high}]")
    return v


def checked_labels(value: Any) -> tuple[str, ...]:
    """2 to 64 distinct labels, each 1-40 printable characters (a label goes into log lines, JSON and MQTT
    topics: a newline or control character in one could forge a line)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("labels must be a list of strings")
    if not 2 <= len(value) <= MAX_LABELS:
        raise ValueError(f"a model has 2 to {MAX_LABELS} labels, not {len(value)}")
    for v in value:
        if not 1 <= len(v) <= MAX_LABEL_CHARS or not v.isprintable():
            raise ValueError(f"label {v[:40]!r} must be 1-{MAX_LABEL_CHARS} printable characters")
    if len(set(value)) != len(value):
        raise ValueError(f"labels {value[:MAX_LABELS]} repeat a label")
    return tuple(value)


@dataclass(frozen=True)
class ModelInfo:
    """Everything a device needs besides the weights: labels, threshold, preprocessing, provenance."""

    labels: tuple[str, ...]
    preprocessing: PreprocessSpec
    threshold: float = 0.5
    output: str = "sigmoid"  # "sigmoid": one unit, P(labels[1]); "softmax": one unit per label
    uncertain_band: float = 0.0  # sigmoid: |P - threshold| below this is reported as "uncertain"
    # The device's probabilities of a face are the mean of those of the crop and its mirror image (test-time
    # flip averaging: two invokes per face, better accuracy). Written only when on, so older files, which
    # lack it, keep meaning what they meant.
    flip_average: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # versions, data fingerprint, metrics, ...

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "labels": list(self.labels),
            "threshold": self.threshold,
            "output": self.output,
            "uncertain_band": self.uncertain_band,
            "preprocessing": self.preprocessing.to_dict(),
            **self.extra,
        }
        if self.flip_average:
            d["flip_average"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        core = {"labels", "threshold", "output", "preprocessing", "uncertain_band", "flip_average"}
        missing = {"labels", "preprocessing"} - d.keys()
        if missing:
            raise ValueError(f"model metadata lacks {sorted(missing)}")
        flip = d.get("flip_average", False)
        if not isinstance(flip, bool):
            raise ValueError(f"flip_average must be true or false, not {flip!r}")
        output = d.get("output", "sigmoid")
        if output not in ("sigmoid", "softmax"):
            raise ValueError(f"output must be sigmoid or softmax, not {str(output)[:40]!r}")
        return cls(
            labels=checked_labels(d["labels"]),
            threshold=checked_number("threshold", d.get("threshold", 0.5), 0.0, 1.0),
            output=output,
            uncertain_band=checked_number("uncertain_band", d.get("uncertain_band", 0.0), 0.0, 0.5),
            flip_average=flip,
            preprocessing=PreprocessSpec.from_dict(d["preprocessing"]),
            extra={k: v for k, v in d.items() if k not in core},
        )
