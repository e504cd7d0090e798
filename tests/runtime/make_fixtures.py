"""Write the runtime tests' committed fixtures, once, on a workstation with TensorFlow (``make install``):

    .venv/bin/python tests/runtime/make_fixtures.py

Tiny TFLite models (float32, int8, int8 frame-mode, int8 without metadata, a wrong-shape model and a two-class
softmax without metadata) and a few drawn images. The runtime's tests then need no TensorFlow: they run in a
venv with only ``happysad-edge-runtime`` and pytest, as on a Raspberry Pi (``make pi-check``). Files are
written under a temporary name and renamed; only the files named here are replaced.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.runtime.helpers import DRAWN, FIXTURES, MODEL_FILES, SIZE, model_info  # noqa: E402


def _keras_model(shape: tuple[int, ...], units: int, activation: str):  # type: ignore[no-untyped-def]
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


def _convert(model, work: Path, int8: bool) -> bytes:  # type: ignore[no-untyped-def]
    """The project's conversion path (Keras 3 export, then the SavedModel converter), int8 with int8 I/O."""
    import tensorflow as tf

    saved = work / f"saved_{model.name}_{int8}"
    model.export(str(saved), verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if int8:
        shape = (1, *model.input_shape[1:])
        rng = np.random.default_rng(0)

        def rep():  # type: ignore[no-untyped-def]
            for _ in range(8):
                yield [rng.integers(0, 256, shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def model_bytes(work: Path) -> dict[str, bytes]:
    """Every fixture model's bytes by name (see ``helpers.MODEL_FILES``)."""
    from convert.metadata import embed_model_info

    model = _keras_model((SIZE, SIZE, 3), 1, "sigmoid")
    f32, i8 = _convert(model, work, False), _convert(model, work, True)
    info, frame_info = model_info().to_dict(), model_info(roi="frame").to_dict()
    wrong = _keras_model((SIZE, SIZE, 3), 7, "softmax")
    two = _keras_model((SIZE, SIZE, 3), 2, "softmax")
    return {
        "float": embed_model_info(f32, info),
        "int8": embed_model_info(i8, info),
        "int8_frame": embed_model_info(i8, frame_info),
        "bare": i8,
        "wrong": embed_model_info(_convert(wrong, work, False), info),
        "softmax2": _convert(two, work, False),
    }


def drawn_images() -> dict[str, np.ndarray]:
    """BGR images from the project's face generator: ten smiles and ten frowns in a row (96 px each, upright),
    and a 640x360 scene with a happy and a tilted sad face."""
    from testkit import synthetic as syn

    rng = np.random.default_rng(3)
    rows = {lab: [syn.make_face(rng, lab, 96, max_tilt=0) for _ in range(10)] for lab in ("happy", "sad")}
    rng = np.random.default_rng(5)
    faces = [syn.random_face(rng, "happy", 170, 180, 110), syn.random_face(rng, "sad", 470, 170, 120, tilt=8)]
    scene = syn.render_scene(rng, faces, (640, 360))
    out = {"smiles": np.hstack(rows["happy"]), "frowns": np.hstack(rows["sad"]), "scene": scene}
    return {k: cv2.cvtColor(v, cv2.COLOR_RGB2BGR) for k, v in out.items()}


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name, data in model_bytes(Path(work)).items():
            _write(FIXTURES / MODEL_FILES[name], data)
    for name, img in drawn_images().items():
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        _write(FIXTURES / DRAWN[name], jpg.tobytes())
    for f in sorted(FIXTURES.iterdir()):
        print(f"{f.relative_to(ROOT)}  {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
