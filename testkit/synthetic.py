"""An offline synthetic happy/sad face data set and demo video, drawn entirely by code.

The faces are shaded like real ones (skin oval with a soft edge, hair on top, dark eye sockets under
eyebrows, a lighter nose bridge and cheeks, a darker mouth) so that OpenCV's Haar frontal-face cascade
finds most of them, and the expression lives in the mouth curve (up = happy, down = sad), the eyebrows
(inner ends raised = sad) and the cheeks (raised = happy), so a small CNN can learn it.

    python -m testkit.synthetic data --out data --n 300
    python -m testkit.synthetic video --out data/demo.mp4
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("happy", "sad")

# Skin tones (RGB), light to dark; hair colours (RGB).
_SKIN = np.array(
    [[236, 200, 170], [224, 177, 140], [198, 145, 105], [170, 120, 85], [141, 94, 62], [105, 70, 48], [80, 54, 38]],
    np.float32,
)
_HAIR = np.array(
    [[25, 20, 18], [50, 35, 25], [90, 60, 35], [140, 100, 60], [190, 160, 110], [120, 50, 25], [150, 150, 150]],
    np.float32,
)


@dataclass(frozen=True)
class Face:
    """One face in a scene: identity (skin, hair, proportions) and pose/expression (centre, width, tilt, label).

    ``cx, cy`` is the face centre and ``width`` the skin oval's width, in pixels; ``tilt`` in degrees
    (positive = counter-clockwise); ``smile`` in [-1, 1] is the mouth curve (>0 happy, <0 sad).
    """

    cx: float
    cy: float
    width: float
    label: str = "happy"
    tilt: float = 0.0
    smile: float = 0.8
    skin: tuple[float, float, float] = (224.0, 177.0, 140.0)
    hair: tuple[float, float, float] = (40.0, 30.0, 22.0)
    hair_style: int = 0  # 0 short, 1 long, 2 bald, 3 fringe
    aspect: float = 1.3  # oval height / width
    eye_dx: float = 0.38
    eye_y: float = -0.22
    mouth_w: float = 0.32
    mouth_open: bool = False
    glasses: bool = False
    light_angle: float = 0.0  # direction the light comes from, radians
    light_strength: float = 0.15

    def box(self) -> tuple[int, int, int, int]:
        """Axis-aligned (x, y, w, h) of the skin oval after tilt: the ground-truth face box."""
        a, b = self.width / 2, self.width / 2 * self.aspect
        t = math.radians(self.tilt)
        hw = math.sqrt((a * math.cos(t)) ** 2 + (b * math.sin(t)) ** 2)
        hh = math.sqrt((a * math.sin(t)) ** 2 + (b * math.cos(t)) ** 2)
        return int(round(self.cx - hw)), int(round(self.cy - hh)), int(round(2 * hw)), int(round(2 * hh))


def random_face(rng: np.random.Generator, label: str, cx: float, cy: float, width: float, tilt: float = 0.0) -> Face:
    """A face with a random identity and an expression drawn for ``label``."""
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, not {label!r}")
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.9, 1.08, 3) + rng.normal(0, 6, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    happy = label == "happy"
    smile = float(rng.uniform(0.6, 1.0)) * (1 if happy else -1)
    return Face(
        cx=cx,
        cy=cy,
        width=width,
        label=label,
        tilt=tilt,
        smile=smile,
        skin=tuple(np.clip(skin, 40, 250).tolist()),
        hair=tuple(np.clip(hair, 10, 230).tolist()),
        hair_style=int(rng.choice(4, p=[0.4, 0.3, 0.1, 0.2])),
        aspect=float(rng.uniform(1.22, 1.38)),
        eye_dx=float(rng.uniform(0.34, 0.41)),
        eye_y=float(rng.uniform(-0.27, -0.17)),
        mouth_w=float(rng.uniform(0.26, 0.38)),
        mouth_open=bool(happy and rng.random() < 0.4),
        glasses=bool(rng.random() < 0.12),
        light_angle=float(rng.uniform(0, 2 * math.pi)),
        light_strength=float(rng.uniform(0.0, 0.3)),
    )


# ---------------------------------------------------------------------------------------------------
# Drawing


def _roi(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding rows/columns where mask is non-zero (drawing only touches small parts of a patch)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _blend(img: np.ndarray, mask: np.ndarray, color, strength: float = 1.0) -> None:
    """In place: img = img * (1 - m) + color * m, with m = mask * strength (mask float 0..1)."""
    r = _roi(mask)
    if r is None:
        return
    sub = img[r]
    sub += (mask[r] * strength)[..., None] * (np.asarray(color, np.float32) - sub)


def _shade(img: np.ndarray, mask: np.ndarray, factor: float) -> None:
    """In place: multiply by ``factor`` where mask is 1 (darken < 1, lighten > 1)."""
    r = _roi(mask)
    if r is None:
        return
    img[r] *= (1.0 + (factor - 1.0) * mask[r])[..., None]


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask, (0, 0), max(sigma, 0.3)) if sigma > 0.3 else mask


def _face_patch(face: Face) -> tuple[np.ndarray, np.ndarray]:
    """The face drawn upright on a square patch centred on the face: (RGB float32, alpha float32)."""
    a = face.width / 2.0  # half width: one face unit in pixels
    b = a * face.aspect
    size = int(math.ceil(2 * b * 1.35)) + 4
    c = size / 2.0
    img = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)
    skin = np.asarray(face.skin, np.float32)
    hair = np.asarray(face.hair, np.float32)

    def P(u: float, v: float) -> tuple[int, int]:
        return int(round(c + u * a)), int(round(c + v * a))

    def L(x: float) -> int:
        return max(1, int(round(x * a)))

    def new() -> np.ndarray:
        return np.zeros((size, size), np.float32)

    # Hair behind the head (long hair falls to the shoulders).
    if face.hair_style != 2:
        m = new()
        if face.hair_style == 1:
            cv2.ellipse(m, P(0, 0.05 * face.aspect), (L(1.22), L(1.25 * face.aspect)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
            cv2.rectangle(m, P(-1.22, 0.1), P(1.22, 1.3 * face.aspect), 1.0, -1)
        else:
            cv2.ellipse(m, P(0, -0.12 * face.aspect), (L(1.12), L(1.05 * face.aspect)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        _blend(img, m, hair)
        np.maximum(alpha, m, out=alpha)

    # Neck and ears.
    m = new()
    cv2.rectangle(m, P(-0.45, 0.5 * face.aspect), P(0.45, 1.35 * face.aspect), 1.0, -1)
    _blend(img, m, skin * 0.72)
    np.maximum(alpha, m, out=alpha)
    m = new()
    for s in (-1, 1):
        cv2.ellipse(m, P(s * 0.97, -0.05), (L(0.14), L(0.26)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _blend(img, m, skin * 0.88)
    np.maximum(alpha, m, out=alpha)

    # Skin oval, with a slightly narrower jaw.
    oval = new()
    cv2.ellipse(oval, P(0, 0), (L(1.0), L(face.aspect)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _blend(img, oval, skin)
    np.maximum(alpha, oval, out=alpha)
    # Rounded shading: darker towards the edge of the oval (the face is a curved surface).
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r2 = ((xx - c) / a) ** 2 + ((yy - c) / b) ** 2
    img *= (1.0 - 0.28 * np.clip(r2, 0, 1.2) ** 2 * oval)[..., None]

    # Hair on top of the forehead.
    front = None
    if face.hair_style != 2:
        m = new()
        if face.hair_style == 3:  # fringe
            cv2.ellipse(m, P(0, -0.92 * face.aspect), (L(1.02), L(0.5)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        else:
            cv2.ellipse(m, P(0, -1.02 * face.aspect), (L(1.0), L(0.42)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
            cv2.ellipse(m, P(-0.45, -0.85 * face.aspect), (L(0.6), L(0.3)), -20, 0, 360, 1.0, -1, cv2.LINE_AA)
        front = m = _soft(m, a * 0.03) * oval
        _blend(img, m, hair)
    else:
        m = new()
        cv2.ellipse(m, P(0, -0.9 * face.aspect), (L(0.6), L(0.3)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        _shade(img, _soft(m, a * 0.15) * oval, 1.1)

    happy = face.smile > 0
    s_abs = abs(face.smile)
    ey, ex = face.eye_y, face.eye_dx

    # Eye sockets: the darkest broad band of a face (what Haar's first features look for).
    m = new()
    for s in (-1, 1):
        cv2.ellipse(m, P(s * ex, ey - 0.04), (L(0.27), L(0.17)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _shade(img, _soft(m, a * 0.08), 0.55)
    # Cheeks: lighter, raised when smiling.
    m = new()
    cy_cheek = 0.22 - (0.1 * s_abs if happy else -0.03)
    for s in (-1, 1):
        cv2.ellipse(m, P(s * 0.5, cy_cheek), (L(0.26), L(0.2)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _shade(img, _soft(m, a * 0.1) * oval, 1.12 + (0.06 * s_abs if happy else 0.0))
    # Nose bridge: lighter between the eyes, side shadows, darker nostrils.
    m = new()
    cv2.rectangle(m, P(-0.08, ey - 0.1), P(0.08, 0.28), 1.0, -1)
    _shade(img, _soft(m, a * 0.05), 1.18)
    m = new()
    cv2.line(m, P(0.13, ey + 0.1), P(0.16, 0.3), 1.0, L(0.05), cv2.LINE_AA)
    _shade(img, _soft(m, a * 0.04), 0.8)
    m = new()
    for s in (-1, 1):
        cv2.ellipse(m, P(s * 0.09, 0.36), (L(0.06), L(0.035)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _shade(img, _soft(m, a * 0.02), 0.5)

    # Sheen: forehead, nose ridge and cheekbones catch the light (strongest on dark skin).
    m = new()
    cv2.ellipse(m, P(0, -0.72), (L(0.45), L(0.2)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.line(m, P(0, ey), P(0, 0.22), 1.0, L(0.09), cv2.LINE_AA)
    for s in (-1, 1):
        cv2.ellipse(m, P(s * 0.5, cy_cheek - 0.04), (L(0.18), L(0.12)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    sheen = float(np.clip(150 - np.mean(skin), 10, 90)) * 0.55
    m = _soft(m, a * 0.08) * oval
    if front is not None:
        m *= 1.0 - front
    img += (m * sheen)[..., None]

    # Eyes: sclera, iris, pupil; narrower (squinting) when smiling.
    open_h = 0.085 * (1 - 0.35 * s_abs if happy else 1.0)
    sclera, iris = new(), new()
    for s in (-1, 1):
        cv2.ellipse(sclera, P(s * ex, ey), (L(0.16), L(open_h)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        cv2.circle(iris, P(s * ex, ey), L(min(0.075, open_h + 0.01)), 1.0, -1, cv2.LINE_AA)
    # Seen from a distance an eye is darker than the skin around it, whatever the skin tone.
    lum = float(np.mean(skin))
    white = np.minimum(np.array([225, 222, 215], np.float32), skin * 1.05 + 25) if lum < 150 else (225, 222, 215)
    _blend(img, _soft(sclera, a * 0.01), white, 0.85)
    _blend(img, _soft(iris * sclera, a * 0.01), (35, 25, 20), 0.95)
    m = new()  # upper eyelid line
    for s in (-1, 1):
        cv2.ellipse(m, P(s * ex, ey), (L(0.17), L(open_h + 0.01)), 0, 180, 360, 1.0, L(0.03), cv2.LINE_AA)
    _blend(img, _soft(m, a * 0.01), (30, 22, 18), 0.9)

    # Eyebrows: sad raises the inner ends; happy arches them a little.
    m = new()
    brow_y = ey - 0.24
    for s in (-1, 1):
        inner = (s * (ex - 0.2), brow_y - (0.13 * s_abs if not happy else -0.02))
        mid = (s * ex, brow_y - (0.04 if happy else 0.03 * s_abs))
        outer = (s * (ex + 0.22), brow_y + (0.02 if happy else 0.05 * s_abs))
        pts = np.array([P(*inner), P(*mid), P(*outer)], np.int32)
        cv2.polylines(m, [pts], False, 1.0, L(0.07), cv2.LINE_AA)
    brow_col = hair * 0.7 if face.hair_style != 2 else skin * 0.4
    _blend(img, _soft(m, a * 0.02), brow_col, 0.9)

    if face.glasses:
        m = new()
        for s in (-1, 1):
            cv2.ellipse(m, P(s * ex, ey), (L(0.24), L(0.17)), 0, 0, 360, 1.0, L(0.035), cv2.LINE_AA)
        cv2.line(m, P(-ex + 0.24, ey), P(ex - 0.24, ey), 1.0, L(0.03), cv2.LINE_AA)
        _blend(img, m, (20, 20, 25), 0.9)

    # Mouth: a parabola; corners above the centre = smile, below = frown.
    my, mw = 0.68, face.mouth_w * (1.12 if happy else 1.0)
    curve = 0.26 * face.smile  # centre drop relative to the corners
    xs = np.linspace(-mw, mw, 25)
    ys = my + curve * (1 - (xs / mw) ** 2) - curve * 0.5
    upper = np.array([P(x, y) for x, y in zip(xs, ys)], np.int32)
    m = new()
    if face.mouth_open:
        ys2 = ys + 0.05 + 0.12 * (1 - (xs / mw) ** 2) * s_abs
        lower = np.array([P(x, y) for x, y in zip(xs[::-1], ys2[::-1])], np.int32)
        cv2.fillPoly(m, [np.concatenate([upper, lower])], 1.0, cv2.LINE_AA)
        _blend(img, _soft(m, a * 0.01), np.minimum(np.array([70, 20, 25], np.float32), skin * 0.3), 0.95)
        t = new()
        cv2.polylines(t, [upper + np.array([0, L(0.03)], np.int32)], False, 1.0, L(0.05), cv2.LINE_AA)
        _blend(img, t * m, (235, 230, 220), 0.9)
    else:
        cv2.polylines(m, [upper], False, 1.0, L(0.07), cv2.LINE_AA)
        lips = np.minimum(np.array([120, 45, 50], np.float32), skin * 0.4)  # visible on every skin tone
        _blend(img, _soft(m, a * 0.02), lips, 0.9)
    # Shadow under the lower lip and soft dimples at the mouth corners.
    m = new()
    cv2.ellipse(m, P(0, my + 0.2 - (0.03 if happy else 0)), (L(mw * 0.6), L(0.05)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    _shade(img, _soft(m, a * 0.04), 0.85)

    # Directional light across the face.
    if face.light_strength > 0:
        d = (math.cos(face.light_angle) * (xx - c) + math.sin(face.light_angle) * (yy - c)) / (2 * b)
        img *= (1.0 + face.light_strength * d)[..., None]

    np.clip(img, 0, 255, out=img)
    alpha = _soft(alpha, a * 0.02)
    return img, alpha


def draw_face(canvas: np.ndarray, face: Face) -> None:
    """Draw ``face`` (tilted) onto an RGB float32 canvas in place."""
    patch, alpha = _face_patch(face)
    n = patch.shape[0]
    if face.tilt:
        rot = cv2.getRotationMatrix2D((n / 2.0, n / 2.0), face.tilt, 1.0)
        patch = cv2.warpAffine(patch, rot, (n, n), flags=cv2.INTER_LINEAR, borderValue=0)
        alpha = cv2.warpAffine(alpha, rot, (n, n), flags=cv2.INTER_LINEAR, borderValue=0)
    x0 = int(round(face.cx - n / 2.0))
    y0 = int(round(face.cy - n / 2.0))
    H, W = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + n, W), min(y0 + n, H)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    p = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    m = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None]
    region = canvas[cy0:cy1, cx0:cx1]
    region *= 1.0 - m
    region += p * m


def background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A varied RGB float32 background of (width, height): plain, gradient, shapes or texture."""
    w, h = size
    kind = rng.choice(["plain", "gradient", "shapes", "texture"], p=[0.2, 0.3, 0.3, 0.2])
    c1 = rng.uniform(20, 235, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = c1
    if kind in ("gradient", "shapes"):
        c2 = rng.uniform(20, 235, 3).astype(np.float32)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = math.cos(ang) * xx / w + math.sin(ang) * yy / h
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = c1 + (c2 - c1) * t[..., None]
    if kind == "shapes":
        for _ in range(int(rng.integers(3, 12))):
            col = rng.uniform(0, 255, 3).tolist()
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(max(w, h) // 20 + 1, max(w, h) // 4 + 2))
            k = rng.integers(3)
            if k == 0:
                cv2.circle(img, (x, y), r, col, -1, cv2.LINE_AA)
            elif k == 1:
                cv2.rectangle(img, (x, y), (x + r, y + int(r * rng.uniform(0.3, 2))), col, -1)
            else:
                cv2.line(
                    img,
                    (x, y),
                    (int(rng.integers(0, w)), int(rng.integers(0, h))),
                    col,
                    int(rng.integers(1, max(2, r // 4))),
                    cv2.LINE_AA,
                )
    elif kind == "texture":
        small = rng.uniform(-1, 1, (max(2, h // 16), max(2, w // 16), 1)).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        img = img + float(rng.uniform(15, 45)) * tex[..., None] + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.float32)


def _finish(rng: np.random.Generator, img: np.ndarray, jpeg: bool = True) -> np.ndarray:
    """Global lighting, camera blur and noise, and sometimes a JPEG round trip; returns RGB uint8."""
    h, w = img.shape[:2]
    # Lighting: brightness/contrast and a soft gradient over the whole frame.
    gain = float(rng.uniform(0.75, 1.2))
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = 1.0 + float(rng.uniform(0, 0.25)) * (
        (math.cos(ang) * (xx - w / 2) + math.sin(ang) * (yy - h / 2)) / max(w, h)
    )
    img = img * (gain * grad)[..., None] + float(rng.uniform(-15, 15))
    sigma = float(rng.uniform(0.3, 1.2)) * max(h, w) / 160.0
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, float(rng.uniform(0, 7)), img.shape).astype(np.float32)
    out: np.ndarray = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if jpeg and rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG (built without JPEG support?)")
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)  # RGB stays RGB: the channels are just carried
        if decoded is None:
            raise RuntimeError("OpenCV could not decode a JPEG it just encoded")
        out = decoded
    return out


def make_face(
    rng: np.random.Generator,
    label: str,
    size: int,
    *,
    max_tilt: float = 15.0,
    scale: tuple[float, float] = (0.38, 0.68),
) -> np.ndarray:
    """A ``size`` x ``size`` RGB uint8 image of one drawn ``label`` ("happy"/"sad") face.

    The face width is ``scale`` x size (the oval plus hair fills roughly 60-95% of the frame), placed
    with some jitter and tilted by up to ``max_tilt`` degrees, on a random background with random
    lighting, blur, noise and JPEG artefacts.
    """
    bg = background(rng, (size, size))
    width = float(rng.uniform(*scale)) * size
    jitter = (size - width) * 0.18
    cx = size / 2 + float(rng.uniform(-jitter, jitter))
    cy = size / 2 + float(rng.uniform(-jitter, jitter)) + width * 0.08
    tilt = float(rng.uniform(-max_tilt, max_tilt)) if max_tilt > 0 else 0.0
    draw_face(bg, random_face(rng, label, cx, cy, width, tilt))
    return _finish(rng, bg)


def render_scene(
    rng: np.random.Generator, faces: list[Face], size: tuple[int, int], bg: np.ndarray | None = None
) -> np.ndarray:
    """One RGB uint8 frame of (width, height) ``size`` with ``faces`` drawn on ``bg`` (or a random background)."""
    canvas = (background(rng, size) if bg is None else bg).astype(np.float32, copy=True)
    for face in faces:
        draw_face(canvas, face)
    h, w = canvas.shape[:2]
    canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), 0.7 * max(w, h) / 640.0), dtype=np.float32)  # no copy
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * 3.0 + 0.5
    np.clip(canvas, 0, 255, out=canvas)
    return canvas.astype(np.uint8)


# ---------------------------------------------------------------------------------------------------
# Data set and video writers


def write_dataset(
    out_dir: str | Path, n_per_class: int = 300, size: int = 128, seed: int = 0, classes: tuple[str, ...] = CLASSES
) -> dict[str, int]:
    """Write ``out_dir/<class>/<class>_NNNNN.{png,jpg}``; deterministic for ``seed``. Returns counts."""
    from edge_runtime.io.atomic import write_bytes

    out = Path(out_dir)
    counts: dict[str, int] = {}
    for ci, label in enumerate(classes):
        if label not in CLASSES:
            raise ValueError(f"unknown class {label!r}; can draw {CLASSES}")
        rng = np.random.default_rng([seed, ci])
        for i in range(n_per_class):
            img = make_face(rng, label, size)
            ext = ".jpg" if i % 3 == 2 else ".png"
            params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
            ok, buf = cv2.imencode(ext, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise RuntimeError(f"could not encode {ext}")
            write_bytes(out / label / f"{label}_{i:05d}{ext}", buf.tobytes())
        counts[label] = n_per_class
    return counts


def _smooth_path(rng: np.random.Generator, n: int, lo: float, hi: float, knots: int = 4) -> np.ndarray:
    """A smooth random curve of n samples within [lo, hi] (cosine interpolation between random knots)."""
    k = rng.uniform(lo, hi, knots + 1)
    t = np.linspace(0, knots, n)
    i = np.minimum(t.astype(int), knots - 1)
    f = (1 - np.cos((t - i) * math.pi)) / 2
    return k[i] * (1 - f) + k[i + 1] * f


def video_frames(n_frames: int = 150, size: tuple[int, int] = (640, 360), seed: int = 0, n_faces: int | None = None):
    """Yield (RGB uint8 frame, truth) for a synthetic clip.

    truth = {"frame": i, "faces": [{"box": [x, y, w, h], "label": "happy"|"sad", "smile": -1..1}]}; the
    mouth eases between expressions over ~9 frames, so frames with |smile| < 0.3 are ambiguous.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    n_faces = n_faces or int(rng.integers(1, 3))
    bg = background(rng, size)
    tracks = []
    for j in range(n_faces):
        lo, hi = (j / n_faces) * w, ((j + 1) / n_faces) * w
        width = _smooth_path(rng, n_frames, 0.18 * h, 0.4 * h)
        margin = 0.5 * width.max() + 4
        xs = _smooth_path(rng, n_frames, lo + margin, max(lo + margin, hi - margin))
        ys = _smooth_path(rng, n_frames, 0.42 * h, 0.58 * h)
        tilt = _smooth_path(rng, n_frames, -10, 10)
        # Expression switches every 1-3 seconds, and the mouth eases between the two.
        switches = np.cumsum(rng.integers(30, 90, size=n_frames // 30 + 2))
        state = np.array([(np.searchsorted(switches, f, side="right") + j) % 2 for f in range(n_frames)])
        target = np.where(state == 0, 1.0, -1.0) * rng.uniform(0.6, 1.0)
        smile = np.convolve(np.pad(target, (4, 4), mode="edge"), np.ones(9) / 9, mode="valid")
        ident = random_face(rng, "happy", 0, 0, 100)
        tracks.append((ident, xs, ys, width, tilt, smile))
    for f in range(n_frames):
        faces, truth = [], []
        for ident, xs, ys, width, tilt, smile in tracks:
            label = "happy" if smile[f] > 0 else "sad"
            face = replace(
                ident,
                cx=float(xs[f]),
                cy=float(ys[f]),
                width=float(width[f]),
                tilt=float(tilt[f]),
                smile=float(smile[f]),
                label=label,
                mouth_open=ident.mouth_open and smile[f] > 0.4,
            )
            faces.append(face)
            truth.append({"box": list(face.box()), "label": label, "smile": round(float(smile[f]), 3)})
        yield render_scene(rng, faces, size, bg=bg), {"frame": f, "faces": truth}


def write_video(
    path: str | Path, n_frames: int = 150, size: tuple[int, int] = (640, 360), fps: int = 30, seed: int = 0
) -> list[dict]:
    """Write a synthetic clip (mp4v for .mp4, MJPG otherwise) atomically; returns per-frame ground truth."""
    from edge_runtime.io.atomic import atomic_path

    path = Path(path)
    fourcc = cv2.VideoWriter.fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    truth: list[dict] = []
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), fourcc, float(fps), tuple(size))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write video {path}")
        try:
            for frame, t in video_frames(n_frames, size, seed):
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                truth.append(t)
        finally:
            writer.release()
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m testkit.synthetic", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="write a happy/sad image folder")
    d.add_argument("--out", default="data")
    d.add_argument("--n", type=int, default=300, help="images per class")
    d.add_argument("--size", type=int, default=128)
    d.add_argument("--seed", type=int, default=0)
    v = sub.add_parser("video", help="write a demo video with ground truth beside it (.json)")
    v.add_argument("--out", default="data/demo.mp4")
    v.add_argument("--frames", type=int, default=150)
    v.add_argument("--width", type=int, default=640)
    v.add_argument("--height", type=int, default=360)
    v.add_argument("--fps", type=int, default=30)
    v.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "data":
        counts = write_dataset(args.out, n_per_class=args.n, size=args.size, seed=args.seed)
        print(f"wrote {sum(counts.values())} images to {args.out}: {counts}")
    else:
        from edge_runtime.io.atomic import write_json

        truth = write_video(
            args.out, n_frames=args.frames, size=(args.width, args.height), fps=args.fps, seed=args.seed
        )
        gt = Path(args.out).with_suffix(".json")
        write_json(gt, truth)
        print(f"wrote {len(truth)} frames to {args.out} (ground truth {gt})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
