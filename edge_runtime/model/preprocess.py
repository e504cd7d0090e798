"""Region cropping and pixel preparation: the single place where train and serve meet.

The training input pipeline calls ``to_model_pixels`` on every decoded image, and the device calls it on
every face or frame, so both hand the network identical uint8 tensors.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_runtime.model.spec import PreprocessSpec

_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


def square_box(box: Box, margin: float, frame_w: int, frame_h: int) -> Box:
    """A square around ``box``, grown by ``margin`` of its larger side on each edge, kept in the frame.

    Square so the face keeps its aspect when resized to the square model input; shifted (not squashed)
    at the frame's edges so a face near the border is not cut off more than it must be.
    """
    x, y, w, h = box
    side = int(round(max(w, h) * (1.0 + 2.0 * margin)))
    side = max(1, min(side, frame_w, frame_h))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x0 = min(max(x0, 0), frame_w - side)
    y0 = min(max(y0, 0), frame_h - side)
    return x0, y0, side, side


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return image[y : y + h, x : x + w]


def to_model_pixels(image: np.ndarray, spec: PreprocessSpec, order: str = "RGB") -> np.ndarray:
    """uint8 image in ``order`` (RGB or BGR, HxWx3) -> uint8 HxWxC in the spec's colour order and size.

    Colour is converted before resizing (cheaper on a grey model) and with OpenCV's fixed weights, so the
    grey value of a grey source is unchanged.
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        order = "RGB"
    if spec.channels == 1:
        code = cv2.COLOR_RGB2GRAY if order == "RGB" else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    swap = spec.channels == 3 and order == "BGR"  # a channel swap commutes with resizing: do it on fewer pixels
    h, w = image.shape[:2]
    if (h, w) != (spec.height, spec.width):
        interp = _INTERP[spec.interpolation]
        if spec.interpolation == "area" and (h < spec.height or w < spec.width):
            interp = cv2.INTER_LINEAR  # INTER_AREA only averages when shrinking
        image = cv2.resize(image, (spec.width, spec.height), interpolation=interp)
    if swap:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 2:
        image = image[:, :, None]
    return np.ascontiguousarray(image)


def region_pixels(image: np.ndarray, box: Box | None, spec: PreprocessSpec, order: str = "RGB") -> np.ndarray:
    """The model pixels of a detected face box (grown by the spec's margin), or of the whole image."""
    if box is not None:
        h, w = image.shape[:2]
        image = crop(image, square_box(box, spec.face_crop.margin, w, h))
    return to_model_pixels(image, spec, order)


def quantize(pixels: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float model input -> the integer input tensor of a fully quantized model."""
    info = np.iinfo(dtype)
    q = np.rint(pixels.astype(np.float32) / scale + zero_point)
    out: np.ndarray = np.clip(q, info.min, info.max).astype(dtype)
    return out
