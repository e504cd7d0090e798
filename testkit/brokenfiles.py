"""Every kind of awkward file a real image data set contains, drawn by code, for tests of the decoder.

``write_broken_files(folder)`` writes one file of each kind and returns ``{filename: outcome}``, where the
outcome is ``"ok"`` (``edge_runtime.io.imageio.read_image`` must decode it to RGB) or the skip reason it
must return (``empty``, ``not_an_image``, ``truncated``, ``unreadable``, ``too_small``).

``CONTENT`` says what the decoded "ok" files look like: ``(x_frac, y_frac, (r, g, b), tolerance)``
probes, so a test can check the colours survived (alpha composited on white, 16-bit scaled to 8-bit,
CMYK converted, grey expanded to three equal channels, EXIF orientation applied).

``corrupt_data.jpg`` has a valid header, random entropy-coded data and a proper FFD9 end marker. libjpeg
decodes such a file without an error (it only prints "Corrupt JPEG data" warnings), so ``read_image``
returns garbage pixels with no reason: its outcome is recorded honestly as "ok" and it is listed in
``GARBAGE`` (decodes, content meaningless; must simply not crash).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.io.atomic import write_bytes

W, H = 64, 48  # pattern size: left half red, right half blue
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)

# Decoded files whose pixels are meaningless (see module docstring).
GARBAGE = frozenset({"corrupt_data.jpg"})

_HALVES = [(0.25, 0.5, RED, 40), (0.75, 0.5, BLUE, 40)]
CONTENT: dict[str, list[tuple[float, float, tuple[int, int, int], int]]] = {
    "valid.jpg": _HALVES,
    "webp_named.jpg": _HALVES,
    "gif_named.jpg": [(0.25, 0.5, RED, 2), (0.75, 0.5, BLUE, 2)],
    "png_named.jpg": [(0.25, 0.5, RED, 0), (0.75, 0.5, BLUE, 0)],
    # Left third opaque red, middle third half-transparent blue, right third transparent: on white.
    "alpha.png": [(1 / 6, 0.5, RED, 1), (0.5, 0.5, (127, 127, 255), 2), (5 / 6, 0.5, WHITE, 1)],
    "gray_alpha.png": [(0.25, 0.5, (60, 60, 60), 1), (0.75, 0.5, WHITE, 1)],
    "palette_transparent.png": [(0.25, 0.5, WHITE, 1), (0.75, 0.5, (0, 160, 0), 1)],
    # 16-bit: left 0xFFFF red, right mid-grey 0x8080 -> 255 and 128 after scaling.
    "rgb16.png": [(0.25, 0.5, RED, 1), (0.75, 0.5, (128, 128, 128), 1)],
    "gray16.png": [(0.25, 0.5, (64, 64, 64), 1), (0.75, 0.5, (255, 255, 255), 1)],
    "gray.jpg": [(0.25, 0.5, (50, 50, 50), 6), (0.75, 0.5, (200, 200, 200), 6)],
    "cmyk.jpg": _HALVES,
    "bitmap.bmp": [(0.25, 0.5, RED, 0), (0.75, 0.5, BLUE, 0)],
    "zero_padded.jpg": _HALVES,
    # Stored 48 wide x 64 tall, red on top, EXIF orientation 6 (turn 90 degrees clockwise to display):
    # upright it is 64 wide x 48 tall with red on the right.
    "exif_rotated.jpg": [(0.75, 0.5, RED, 40), (0.25, 0.5, BLUE, 40)],
}


def _halves_rgb(w: int = W, h: int = H, left=RED, right=BLUE) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 2] = left
    img[:, w // 2 :] = right
    return img


def _cv_encode(ext: str, img: np.ndarray, params: list[int] | None = None) -> bytes:
    """Encode an RGB/RGBA/grey array with OpenCV (which wants BGR order)."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(img), params or [])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {ext}")
    return buf.tobytes()


def _pil_encode(im, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, format=fmt, **kw)
    return b.getvalue()


def _textured_jpeg(seed: int = 0) -> bytes:
    """A 160x120 noisy JPEG: big enough that cutting it in half cuts through the scan data."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    return _cv_encode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def _corrupt_jpeg(seed: int = 0) -> bytes:
    """Valid markers up to and including SOS, random scan bytes (no 0xFF, so no stray markers), FFD9."""
    data = _cv_encode(".jpg", _halves_rgb(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    sos = data.find(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    rng = np.random.default_rng(seed)
    body = rng.integers(0, 255, max(len(data) - start - 2, 64), dtype=np.uint8).tobytes()  # 0..254
    return data[:start] + body + b"\xff\xd9"


def _exif_rotated() -> bytes:
    """Stored 48x64 (w x h), EXIF orientation 6; displayed upright it is the 64x48 pattern with red right."""
    from PIL import Image

    stored = np.empty((W, H, 3), np.uint8)  # 64 rows x 48 columns
    stored[: W // 2] = RED  # top half red -> right half after a 90 degree clockwise turn
    stored[W // 2 :] = BLUE  # bottom half blue -> left half
    exif = Image.Exif()
    exif[0x0112] = 6
    return _pil_encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def broken_file_bytes(seed: int = 0) -> dict[str, tuple[bytes, str]]:
    """{filename: (file bytes, expected outcome)} for every kind; the bytes are deterministic."""
    from PIL import Image

    halves = _halves_rgb()
    valid_jpg = _cv_encode(".jpg", halves, [cv2.IMWRITE_JPEG_QUALITY, 95])
    big_jpg = _textured_jpeg(seed)
    big = cv2.imdecode(np.frombuffer(big_jpg, np.uint8), cv2.IMREAD_COLOR)
    if big is None:
        raise RuntimeError("OpenCV could not decode a JPEG it just encoded (built without JPEG support?)")
    big_png = _cv_encode(".png", cv2.resize(big, (160, 120)))

    rgba: np.ndarray = np.zeros((H, 66, 4), np.uint8)
    rgba[:, :22] = (*RED, 255)
    rgba[:, 22:44] = (*BLUE, 128)
    rgba[:, 44:] = (0, 255, 0, 0)  # fully transparent green must vanish into white
    rgba = cv2.resize(rgba, (W, H), interpolation=cv2.INTER_NEAREST)

    la = Image.new("LA", (W, H), (0, 0))
    la.paste((60, 255), (0, 0, W // 2, H))
    pal = Image.new("P", (W, H), 0)
    pal.putpalette([255, 0, 0, 0, 160, 0] + [0] * 762)
    pal.paste(1, (W // 2, 0, W, H))

    rgb16 = np.empty((H, W, 3), np.uint16)
    rgb16[:, : W // 2] = (65535, 0, 0)
    rgb16[:, W // 2 :] = 0x8080
    gray16 = np.empty((H, W), np.uint16)
    gray16[:, : W // 2] = 0x4000
    gray16[:, W // 2 :] = 0xFFFF
    gray = np.empty((H, W), np.uint8)
    gray[:, : W // 2] = 50
    gray[:, W // 2 :] = 200

    cmyk = Image.new("CMYK", (W, H), (0, 255, 255, 0))  # red
    cmyk.paste((255, 255, 0, 0), (W // 2, 0, W, H))  # blue

    gif = Image.fromarray(halves).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()
    noise = b"\x00\x13" + noise[2:]  # never a known magic number

    return {
        "valid.jpg": (valid_jpg, "ok"),
        "empty.jpg": (b"", "empty"),
        "text_named.jpg": (b"this is not an image, just some text saved with a .jpg name\n", "not_an_image"),
        "html_error_page.jpg": (b"<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n", "not_an_image"),
        "truncated.jpg": (big_jpg[: len(big_jpg) // 2], "truncated"),
        "truncated.png": (big_png[: len(big_png) // 2], "truncated"),
        "webp_named.jpg": (_cv_encode(".webp", halves, [cv2.IMWRITE_WEBP_QUALITY, 101]), "ok"),
        "gif_named.jpg": (_pil_encode(gif, "GIF"), "ok"),
        "png_named.jpg": (_cv_encode(".png", halves), "ok"),
        "alpha.png": (_cv_encode(".png", rgba), "ok"),
        "gray_alpha.png": (_pil_encode(la, "PNG"), "ok"),
        "palette_transparent.png": (_pil_encode(pal, "PNG", transparency=0), "ok"),
        "rgb16.png": (_cv_encode(".png", rgb16), "ok"),
        "gray16.png": (_cv_encode(".png", gray16), "ok"),
        "gray.jpg": (_cv_encode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95]), "ok"),
        "cmyk.jpg": (_pil_encode(cmyk, "JPEG", quality=95), "ok"),
        "bitmap.bmp": (_cv_encode(".bmp", halves), "ok"),
        "zero_padded.jpg": (valid_jpg + b"\x00" * 512, "ok"),
        "exif_rotated.jpg": (_exif_rotated(), "ok"),
        "tiny_4x4.png": (_cv_encode(".png", np.full((4, 4, 3), 128, np.uint8)), "too_small"),
        "random_bytes.png": (noise, "not_an_image"),
        "corrupt_data.jpg": (_corrupt_jpeg(seed), "ok"),  # decodes to garbage: see GARBAGE
        # PNG signature and IEND end, garbage between: neither OpenCV nor Pillow can decode it.
        "corrupt_header.png": (b"\x89PNG\r\n\x1a\n" + noise[:500] + b"\x00\x00\x00\x00IEND\xaeB`\x82", "unreadable"),
    }


def write_broken_files(folder: str | Path, seed: int = 0) -> dict[str, str]:
    """Write one file of each kind into ``folder``; returns {filename: "ok" or the expected skip reason}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    outcomes = {}
    for name, (data, outcome) in broken_file_bytes(seed).items():
        write_bytes(folder / name, data)
        outcomes[name] = outcome
    return outcomes
