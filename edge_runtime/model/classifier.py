"""A model file becomes a Classifier: metadata (or command-line options) + one interpreter.

Everything that can be wrong with a model file is checked here, once, at start: missing, truncated,
not TFLite, not a classifier, metadata that disagrees with the tensors. The per-frame methods then
trust their inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.model import tflite_meta
from edge_runtime.model.compat_check import check_runtime_version
from edge_runtime.model.interpreter import Backend, Runner, build_interpreter, dequantize, find_backend
from edge_runtime.model.preprocess import quantize
from edge_runtime.model.spec import FaceCrop, ModelInfo, PreprocessSpec

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
PACKAGED_MODEL = MODELS_DIR / "happysad_wild_int8.tflite"  # happy, neutral ('neither'), sad: MODEL_CARD.md
# Models shipped in the package, by the name ``--model`` accepts (see models/MODEL_CARD.md).
PACKAGED = {
    "happysad": "happysad_wild_int8.tflite",  # the default
    "happysad-binary": "happysad_int8.tflite",  # happy vs sad only (FER-2013)
    "happysad-neutral": "happysad_neutral_int8.tflite",  # three classes on FER-2013's own labels
}


@dataclass(frozen=True)
class ModelOptions:
    """Command-line settings: fill in for a model without metadata, or override one that has it."""

    labels: tuple[str, ...] | None = None
    size: int | None = None
    channels: int | None = None
    threshold: float | None = None
    uncertain_band: float | None = None
    roi: str | None = None
    margin: float | None = None


def resolve_model(model: str | Path | None) -> Path:
    """A model file, a packaged model's name (``PACKAGED``), or None for the default."""
    if model is None:
        if not PACKAGED_MODEL.is_file():
            raise RuntimeFailure(f"no packaged model at {PACKAGED_MODEL}; pass --model FILE.tflite")
        return PACKAGED_MODEL
    path = Path(model)
    if not path.exists() and str(model) in PACKAGED:
        return MODELS_DIR / PACKAGED[str(model)]
    return path


class Classifier:
    """pixels (uint8 HxWxC, the spec's size and colour) -> one probability per label."""

    def __init__(self, info: ModelInfo, runner: Runner, backend: Backend, path: Path, ident: str = "") -> None:
        self.info, self.runner, self.backend, self.path = info, runner, backend, path
        self.ident = ident or path.name  # file name and content hash: which model made a result
        inp = runner.input
        self._fast_int8 = inp.dtype == np.int8 and inp.scale == 1.0 and inp.zero_point == -128

    @property
    def spec(self) -> PreprocessSpec:
        return self.info.preprocessing

    def twin(self, threads: int = 1) -> Classifier:
        """The same model and settings on an interpreter of its own, for another frame worker (the file was
        checked when this one was loaded)."""
        runner = Runner(build_interpreter(self.backend, self.path, threads, None))
        return Classifier(self.info, runner, self.backend, self.path, self.ident)

    def to_tensor(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels -> [1,H,W,C] in the input's dtype (quantized with the tensor's own scale/zp)."""
        inp = self.runner.input
        if self._fast_int8:  # p/1 - 128 exactly: same values as quantize(), without the float round trip
            tensor = (pixels ^ np.uint8(0x80)).view(np.int8)
        elif inp.quantized:
            tensor = quantize(pixels, inp.scale, inp.zero_point, inp.dtype)
        else:
            tensor = pixels.astype(inp.dtype)
        return tensor[None]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The raw output row of one [1,H,W,C] tensor; with ``flip_average`` in the metadata, the rows of the
        tensor and of its mirror image stacked ([2, units]: mirroring the quantized tensor is mirroring the
        pixels, since quantization is per pixel)."""
        raw = self.runner.invoke(tensor)
        if not self.info.flip_average:
            return raw
        mirror = self.runner.invoke(np.ascontiguousarray(tensor[:, :, ::-1]))
        return np.stack([raw, mirror])

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """``infer``'s output -> one probability per label: the row's, or the mean over a face and its mirror.
        Sigmoid: [1-p, p] with p = P(labels[1]) clipped to [0, 1]; softmax: as given. All rows at once (this
        runs per face: a handful of numpy calls, not a loop)."""
        rows = dequantize(raw.reshape(-1, raw.shape[-1]), self.runner.output)
        if self.info.output == "sigmoid":
            p = np.clip(rows[:, 0], 0.0, 1.0).mean(dtype=np.float64)
            return np.array([1.0 - p, p], dtype=np.float32)
        return np.asarray(rows.mean(axis=0), dtype=np.float32)

    def classify(self, pixels_batch: np.ndarray) -> np.ndarray:
        """[N,H,W,C] uint8 -> [N, labels] probabilities (``infer`` per image: batch stays 1)."""
        return np.stack([self.probabilities(self.infer(self.to_tensor(p))) for p in pixels_batch])


MAX_MODEL_BYTES = 512 << 20  # far above any face classifier (the default is 0.3 MB); a Pi has 1-8 GB


def read_flat(path: Path) -> tflite_meta.FlatModel:
    """Read and check the file before LiteRT sees it: a corrupt one could make it allocate gigabytes."""
    from edge_runtime.model import (
        validate,  # imported here so that this function is the only part of model.py it touches
    )

    if path.is_dir():
        raise RuntimeFailure(f"--model {path} is a folder; give a .tflite file or a packaged model's name")
    if not path.is_file():
        raise RuntimeFailure(f"model file not found: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:  # refused before reading it into memory
            raise RuntimeFailure(
                f"{path} is {size >> 20} MB; a classifier for this runtime is under {MAX_MODEL_BYTES >> 20} MB"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise RuntimeFailure(f"cannot read model {path}: {first_line(exc)}") from None
    try:
        validate.check_model(data)
        return tflite_meta.parse(data)
    except validate.CorruptModel as exc:
        state = "truncated or corrupt" if exc.truncated else "corrupt"
        raise RuntimeFailure(f"{path} is {state}: {first_line(exc)}") from None
    except tflite_meta.FlatbufferError as exc:
        raise RuntimeFailure(f"{path} is not a usable TFLite model: {first_line(exc)}") from None


def _info_from_metadata(flat: tflite_meta.FlatModel, path: Path) -> ModelInfo | None:
    try:
        d = flat.model_info_dict()
        return None if d is None else ModelInfo.from_dict(d)
    except (ValueError, TypeError, tflite_meta.FlatbufferError) as exc:
        raise RuntimeFailure(f"{path}: model metadata is invalid: {first_line(exc)}") from None


def output_kind(units: int, labels: int, path: Path) -> str:
    """A model without metadata says what it is by its output shape: one unit is a sigmoid P(labels[1]),
    one unit per label a softmax."""
    if units == 1 and labels == 2:
        return "sigmoid"
    if units == labels:
        return "softmax"
    raise RuntimeFailure(
        f"{path} has {units} output unit(s); --labels names {labels}: give one label per "
        "output unit (or two labels for a single sigmoid unit)"
    )


def _info_from_options(opts: ModelOptions, runner: Runner, path: Path) -> ModelInfo:
    if not opts.labels:
        raise RuntimeFailure(
            f"{path} has no happysad metadata; pass --labels (e.g. --labels happy,sad) "
            "and, if needed, --size/--channels/--threshold"
        )
    _, h, _w, c = runner.input.shape
    out = runner.output.shape
    units = out[-1] if len(out) == 2 else -1
    try:
        spec = PreprocessSpec.for_size(opts.size or h, channels=opts.channels or c)
    except ValueError as exc:
        raise RuntimeFailure(f"{path}: {first_line(exc)}") from None
    return ModelInfo(
        labels=opts.labels, preprocessing=spec, threshold=0.5, output=output_kind(units, len(opts.labels), path)
    )


def _apply_overrides(info: ModelInfo, opts: ModelOptions) -> ModelInfo:
    spec = info.preprocessing
    crop = spec.face_crop
    if opts.roi is not None or opts.margin is not None:
        crop = FaceCrop(
            roi=opts.roi or crop.roi, margin=crop.margin if opts.margin is None else opts.margin, detector=crop.detector
        )
    info = replace(info, preprocessing=replace(spec, face_crop=crop))
    if opts.threshold is not None:
        info = replace(info, threshold=opts.threshold)
    if opts.uncertain_band is not None:
        info = replace(info, uncertain_band=opts.uncertain_band)
    if opts.labels and tuple(opts.labels) != tuple(info.labels):
        if len(opts.labels) != len(info.labels):
            raise RuntimeFailure(f"--labels gives {len(opts.labels)} labels; the model has {len(info.labels)}")
        info = replace(info, labels=tuple(opts.labels))
    return info


def _check_shapes(info: ModelInfo, runner: Runner, path: Path) -> None:
    """Refuse a model that is not an image classifier matching its own metadata."""
    inp, out = runner.input, runner.output
    if len(inp.shape) != 4 or inp.shape[3] not in (1, 3):
        raise RuntimeFailure(
            f"{path} is not an image classifier: input shape {list(inp.signature)} is not [batch, height, width, 1|3]"
        )
    if inp.dtype not in (np.float32, np.int8, np.uint8):
        raise RuntimeFailure(f"{path}: unsupported input type {inp.dtype}")
    spec = info.preprocessing
    if (spec.height, spec.width, spec.channels) != inp.shape[1:]:
        raise RuntimeFailure(
            f"{path}: input tensor is {list(inp.shape[1:])} but the preprocessing says "
            f"{[spec.height, spec.width, spec.channels]}"
        )
    units = out.shape[-1] if len(out.shape) == 2 else -1
    want = 1 if info.output == "sigmoid" else len(info.labels)
    if units != want or (info.output == "sigmoid" and len(info.labels) != 2):
        raise RuntimeFailure(
            f"{path} is not a {len(info.labels)}-label {info.output} classifier: output shape "
            f"{list(out.signature)}, expected [batch, {want}]"
        )


def load_classifier(
    path: str | Path,
    opts: ModelOptions = ModelOptions(),
    threads: int | None = None,
    delegate: str | None = None,
    backend: Backend | None = None,
    face_threads: int | None = None,
) -> Classifier:
    """Check the file, read its metadata, build the interpreter once, check the tensors. ``face_threads``:
    the interpreter's threads instead of ``threads`` when the model classifies faces (a detector runs beside
    it and has the other cores)."""
    path = Path(path)
    flat = read_flat(path)
    info = _info_from_metadata(flat, path)
    backend = backend or find_backend()
    check_runtime_version(flat, backend, path)
    roi = opts.roi or (info.preprocessing.face_crop.roi if info else FaceCrop.roi)
    if face_threads is not None and roi == "face":
        threads = face_threads
    runner = Runner(build_interpreter(backend, path, threads, delegate))
    if len(runner.input.shape) != 4:
        raise RuntimeFailure(f"{path} is not an image classifier: input shape {list(runner.input.signature)}")
    if info is None:
        info = _info_from_options(opts, runner, path)
    try:
        info = _apply_overrides(info, opts)
    except ValueError as exc:
        raise RuntimeFailure(first_line(exc)) from None
    _check_shapes(info, runner, path)
    return Classifier(info, runner, backend, path, model_ident(path))


def model_ident(path: Path) -> str:
    """``name#hash``: the file's name and the first 8 hex digits of its SHA-256, so a result names the exact
    model that made it (two files of one name, or one file replaced, are told apart)."""
    return f"{path.name}#{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"
