"""Plain helpers for the runtime tests: the committed tiny TFLite models (float32, int8, no metadata, wrong
shape; written once by ``make_fixtures.py`` with TensorFlow, so these tests need none) and synthetic videos
and images written with OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_runtime.model.spec import FaceCrop, ModelInfo, PreprocessSpec

SIZE = 32
LABELS = ("happy", "sad")
FACE_CLIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video" / "face_clip.mp4"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODEL_FILES = {
    "float": "tiny_float.tflite",
    "int8": "tiny_int8.tflite",
    "int8_frame": "tiny_int8_frame.tflite",
    "bare": "tiny_bare.tflite",  # int8, no metadata
    "wrong": "wrong_shape.tflite",  # 7 softmax outputs for 2 labels: not our classifier
    "softmax2": "softmax2_bare.tflite",  # a two-class softmax, no metadata
}
DRAWN = {"smiles": "drawn_smiles.jpg", "frowns": "drawn_frowns.jpg", "scene": "two_faces.jpg"}


def model_info(roi: str = "face", channels: int = 3) -> ModelInfo:
    spec = PreprocessSpec.for_size(SIZE, channels=channels, face_crop=FaceCrop(roi=roi, margin=0.15))
    return ModelInfo(labels=LABELS, preprocessing=spec, threshold=0.5, output="sigmoid")


def fixture_models() -> dict[str, Path]:
    """The committed tiny models by name (``make_fixtures.py`` wrote them); a missing one fails loudly."""
    paths = {name: FIXTURES / file for name, file in MODEL_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"runtime test fixtures missing: {missing}; python tests/runtime/make_fixtures.py")
    return paths


def drawn(name: str) -> np.ndarray:
    """A committed BGR image drawn by the project's face generator: ``smiles``/``frowns`` (ten 96-px upright
    faces in a row) or ``scene`` (640x360, a happy and a tilted sad face)."""
    img = cv2.imread(str(FIXTURES / DRAWN[name]), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{FIXTURES / DRAWN[name]} missing: python tests/runtime/make_fixtures.py")
    return img


def face_image(size: int = 64, seed: int = 0) -> np.ndarray:
    """A BGR image with some structure (not a real face: the tiny model only needs pixels)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    cv2.circle(img, (size // 2, size // 2), size // 4, (40, 180, 220), -1)
    return img


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: float = 10.0) -> Path:
    """A short synthetic video (MJPG in .avi, or mp4v in .mp4) whose frames differ."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    w, h = size
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    for i in range(frames):
        img = np.full((h, w, 3), (i * 20) % 256, np.uint8)
        cv2.rectangle(img, (i, 5), (i + 20, 30), (0, 255, 0), -1)
        writer.write(img)
    writer.release()
    return path
