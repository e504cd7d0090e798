"""Plain helpers for the runtime tests: tiny TFLite models (float32, int8, no metadata, wrong shape) and
synthetic videos and images written with OpenCV.

Models are built once into a cache folder and reused by every test module (TensorFlow is slow to import and
convert on a small machine); the `models` fixture in conftest.py builds them once per session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.spec import FaceCrop, ModelInfo, PreprocessSpec

SIZE = 32
LABELS = ("happy", "sad")
FACE_CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "face_clip.mp4"
_DONE = "models.json"


def model_info(roi: str = "face", channels: int = 3) -> ModelInfo:
    spec = PreprocessSpec.for_size(SIZE, channels=channels, face_crop=FaceCrop(roi=roi, margin=0.15))
    return ModelInfo(labels=LABELS, preprocessing=spec, threshold=0.5, output="sigmoid")


def _keras_model(shape: tuple[int, ...], units: int, activation: str):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation=activation),
        ]
    )


def _convert(model, work: Path, int8: bool) -> bytes:
    import tensorflow as tf

    saved = work / f"saved_{model.name}_{int8}"
    model.export(str(saved), verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if int8:
        shape = (1, *model.input_shape[1:])
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(8):
                yield [rng.integers(0, 256, shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def build_models(cache: Path) -> dict[str, Path]:
    """Write the tiny models once into ``cache`` and return their paths by name."""
    cache.mkdir(parents=True, exist_ok=True)
    done = cache / _DONE
    if done.exists():
        return {k: Path(v) for k, v in json.loads(done.read_text()).items()}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from convert.metadata import embed_model_info

    model = _keras_model((SIZE, SIZE, 3), 1, "sigmoid")
    model.save(cache / "tiny.keras")
    f32, i8 = _convert(model, cache, False), _convert(model, cache, True)
    frame_info = model_info(roi="frame").to_dict()
    paths = {
        "keras": cache / "tiny.keras",
        "float": cache / "tiny_float.tflite",
        "int8": cache / "tiny_int8.tflite",
        "int8_frame": cache / "tiny_int8_frame.tflite",
        "bare": cache / "tiny_bare.tflite",
        "wrong": cache / "wrong_shape.tflite",
        "softmax2": cache / "softmax2_bare.tflite",
    }
    paths["float"].write_bytes(embed_model_info(f32, model_info().to_dict()))
    paths["int8"].write_bytes(embed_model_info(i8, model_info().to_dict()))
    paths["int8_frame"].write_bytes(embed_model_info(i8, frame_info))
    paths["bare"].write_bytes(i8)
    wrong = _keras_model((SIZE, SIZE, 3), 7, "softmax")  # 7 outputs for 2 labels: not our classifier
    paths["wrong"].write_bytes(embed_model_info(_convert(wrong, cache, False), model_info().to_dict()))
    two = _keras_model((SIZE, SIZE, 3), 2, "softmax")  # a two-class softmax, no metadata
    paths["softmax2"].write_bytes(_convert(two, cache, False))
    done.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    return paths


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
