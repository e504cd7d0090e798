"""Decode image files by their content, never by their extension, and say why one is unusable.

Training and the device decode files through this one function, so both see the same pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".jfif", ".pgm", ".ppm"}
MIN_SIDE = 8
# An image is refused before decoding when its header declares more pixels than this: a few hundred bytes
# of PNG can declare 100000x100000 and ask the decoder for 30 GB. 50 megapixels is a 8660x5773 photo.
MAX_PIXELS = 50_000_000

# Reasons a file is skipped; the data report counts them by these names.
EMPTY, NOT_IMAGE, TRUNCATED, UNREADABLE, TOO_SMALL = "empty", "not_an_image", "truncated", "unreadable", "too_small"
TOO_LARGE = "too_large"


def sniff_format(data: bytes) -> str | None:
    """The real format from the magic bytes (files in the wild lie about their extension)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] in (b"P2", b"P3", b"P5", b"P6"):
        return "pnm"
    return None


def declared_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) as the file's header declares them, read without decoding; None where the header
    cannot be read here (the decoder then decides)."""
    try:
        if fmt == "png" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if fmt == "gif":
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if fmt == "bmp":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if fmt == "webp":
            return _webp_size(data)
        if fmt == "jpeg":
            return _jpeg_size(data)
        if fmt == "pnm":
            fields = data[2:200].split()
            return int(fields[0]), int(fields[1])
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The first start-of-frame marker's size (a walk over the marker segments)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _is_truncated(data: bytes, fmt: str) -> bool:
    """A cut file decodes to grey bands without an error, so look for the end marker ourselves.

    JPEG: an EOI marker must follow the last start-of-scan (phones append data after EOI, and an EXIF
    thumbnail's EOI sits before the main scan). PNG: the IEND chunk must be present.
    """
    if fmt == "jpeg":
        return data.find(b"\xff\xd9", max(data.rfind(b"\xff\xda"), 0)) == -1
    if fmt == "png":
        return b"IEND" not in data[-4096:]
    return False


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    """Any decoded array (grey, BGR, BGRA, 16-bit) as 8-bit RGB; alpha is composited onto white."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        bgr = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        img = np.rint(bgr).astype(np.uint8)
    rgb: np.ndarray = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return rgb


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    """GIF and other formats OpenCV lacks; Pillow is optional (installed with the train extra)."""
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            rgba = np.asarray(im.convert("RGBA"))
    except Exception:  # noqa: BLE001 - any decoder failure means "unreadable"
        return None
    return _to_rgb8(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def decode_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """(RGB uint8 image, None), or (None, reason) for a file that cannot be used as it is; an image whose
    header declares more than ``max_pixels`` is refused before any decoding (``too_large``)."""
    if len(data) == 0:
        return None, EMPTY
    fmt = sniff_format(data)
    if fmt is None:
        return None, NOT_IMAGE
    size = declared_size(data, fmt)
    if size is not None and size[0] * size[1] > max_pixels:
        return None, TOO_LARGE
    if _is_truncated(data, fmt):
        return None, TRUNCATED
    img = None
    if fmt != "gif":
        buf = np.frombuffer(data, dtype=np.uint8)
        # A JPEG has no alpha or 16-bit data; IMREAD_COLOR also applies its EXIF orientation (phone photos).
        try:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR if fmt == "jpeg" else cv2.IMREAD_UNCHANGED)
        except cv2.error:  # OpenCV's own size limit or a decoder assertion: the file is unusable, not a bug
            img = None
        if img is not None and img.ndim == 3 and img.shape[2] == 4 and fmt == "jpeg":
            img = img[:, :, :3]
    rgb = _to_rgb8(img) if img is not None else _decode_with_pillow(data)
    if rgb is None:
        return None, UNREADABLE
    if min(rgb.shape[:2]) < MIN_SIDE:
        return None, TOO_SMALL
    return rgb, None


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """Decode a file from disk; an unreadable path is a reason, not an exception."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None, UNREADABLE
    return decode_bytes(data, max_pixels)


def is_image_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
