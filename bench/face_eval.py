"""Faces across a room: every face-detector choice side by side on the same frames, in one table.

    python bench/face_eval.py [--faces fer2013|ferplus] [--n 0] [--sizes 24,32-64,96-200] [--faceless 200]
                              [--detectors blazeface,blazeface-full,blazeface-room,blazeface-both,blazeface-wide,haar]
                              [--seed 0] [--json PATH] [--fit]

Faces: FER-2013 validation faces (``val/<label>/`` for each of the model's labels) or FER+ validation faces
(``--faces ferplus``) whose crowd majority is happy, neutral or sad and one of the model's labels. Each face is
pasted once per size band (``--sizes``: a side drawn uniformly in the band; one number is that exact side)
into a 640x360 frame, on a generated background (the synthetic generator's) at a place drawn once per face, so
the bands differ only in size. Every detector runs on every frame; a face is found when a detection's box
centre lies on the pasted square. The largest such detection is cut as the runtime cuts it
(``crop_rule(spec.face_crop, face.found_by or detector.name)``, eyes levelled unless ``--upright``) and
classified by the runtime's classifier and decision rule; the score is the balanced accuracy over the model's
labels on the faces found in that band.

False faces: ``--faceless`` frames without a face, the generator's backgrounds plus clutter that fools
detectors (hands, posters with two dark dots, heads seen from behind), all drawn from ``--seed``: every
detection there is false. The real clip (``--clip``, by default the shared face clip when it is there): the
share of its frames in which a detector finds at least one face (the issue's target: 85%).

Detect cost: the median ms of ``detect`` on a 640x360 frame at ``--threads`` (1), all detectors in interleaved
rounds (each round gives every detector the same frame, cycling through face and faceless frames); per frame of
a stream, for a detector that searches far only every ``--detect-every`` frames (``blazeface-wide``), the mean
of one whole search and the searches between; and that per-frame cost's ratio to short-range BlazeFace. Found,
false faces and the clip count each detector's whole search on every frame.

``--fit`` also prints, per detector model, the median square (side, centre offset) that reproduces the
pasted crops, in that model's reference units: the numbers ``spec.CANONICAL`` holds.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, FER2013_VAL, FERPLUS, interleaved, p50_p90_ms, print_table, time_calls
from edge_runtime.config import FaceSettings

DETECTORS = "blazeface,blazeface-full,blazeface-room,blazeface-both,blazeface-wide,haar"  # faces.detect's
FERPLUS_KEEP = ("happy", "neutral", "sad")  # FER+ faces whose majority is one of these (and a model label)
SHORT_RANGE = "blazeface"  # the cost ratio's reference


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)])) if len(y) else float("nan")


@dataclass(frozen=True)
class Band:
    """Pasted face sides from ``lo`` to ``hi`` px, both included."""

    lo: int
    hi: int

    @property
    def name(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


def parse_sizes(text: str) -> list[Band]:
    bands = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            band = Band(int(lo), int(hi or lo))
        except ValueError:
            raise argparse.ArgumentTypeError(f"size band {part!r} is not N or LO-HI") from None
        if not 8 <= band.lo <= band.hi:
            raise argparse.ArgumentTypeError(f"size band {part!r}: need 8 <= LO <= HI")
        bands.append(band)
    return bands


@dataclass
class Source:
    """One face image (RGB) with its label index and the model's decision on the image itself."""

    label: int
    rgb: np.ndarray
    crop_pred: int


@dataclass
class Placed:
    """A face pasted into a frame at (x0, y0) with side s."""

    frame: np.ndarray
    x0: int
    y0: int
    s: int


@dataclass
class Tally:
    found: dict[str, list[bool]] = field(default_factory=dict)  # band -> per face
    pred: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # band -> (label, prediction) found
    false_faces: int = 0
    clip_hits: int = 0
    fit: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)  # found_by -> (k, dx, dy)


# --- faces -------------------------------------------------------------------------------------------------


def fer2013_faces(clf, labels: list[str], n: int) -> list[Source]:
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.decision import label_index
    from edge_runtime.model.preprocess import region_pixels

    out = []
    for label, name in enumerate(labels):
        folder = FER2013_VAL / name
        if not folder.is_dir():
            sys.exit(f"face_eval: no {folder} for the model's label {name!r}")
        files = sorted(folder.iterdir())
        for f in files[:n] if n else files:
            rgb, _ = read_image(f)
            if rgb is None:
                continue
            p_crop = clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0]
            out.append(Source(label, rgb, label_index(p_crop, clf.info.threshold)))
    return out


def ferplus_faces(clf, labels: list[str], n: int) -> list[Source]:
    """FER+ valid faces by crowd majority (``train.sources``' reading of the votes: ``Source.hard``)."""
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.decision import label_index
    from train.sources import FERPLUS_NAMES, FERPLUS_VOTES, load_ferplus

    words = [FERPLUS_NAMES.get(w, w) for w in FERPLUS_VOTES]  # every expression its own class: the true majority
    src = load_ferplus(FERPLUS / "valid.csv", words, clf.spec, name="ferplus-valid")  # pixels: the whole image
    majority = src.hard()
    out = []
    for label, name in enumerate(labels):
        if name not in FERPLUS_KEEP:
            continue
        idx = np.flatnonzero(majority == words.index(name))
        for i in idx[:n] if n else idx:
            rgb, _ = read_image(Path(src.files[i]))
            if rgb is None:
                continue
            p_crop = clf.classify(src.pixels[i][None])[0]
            out.append(Source(label, rgb, label_index(p_crop, clf.info.threshold)))
    return out


def paste(src: Source, band: Band, b: int, i: int, seed: int, size: tuple[int, int]) -> Placed:
    """Face ``i`` in band ``b``: its background and place (as a share of the free room) are drawn per face, the
    side per face and band."""
    from testkit.synthetic import background

    fw, fh = size
    rng = np.random.default_rng((seed, 1, i))
    frame = np.clip(background(rng, size), 0, 255).astype(np.uint8)
    u, v = rng.random(2)
    s = int(np.random.default_rng((seed, 2, b, i)).integers(band.lo, band.hi + 1))
    x0, y0 = int(round(u * (fw - s))), int(round(v * (fh - s)))
    shrink = s < src.rgb.shape[0]
    frame[y0 : y0 + s, x0 : x0 + s] = cv2.resize(
        src.rgb, (s, s), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return Placed(frame, x0, y0, s)


# --- faceless frames ---------------------------------------------------------------------------------------


def _paint(canvas: np.ndarray, mask: np.ndarray, colour) -> None:
    """In place: ``colour`` where ``mask`` (uint8, drawn by OpenCV) is set, with a soft edge."""
    m = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.0)[..., None]
    canvas *= 1.0 - m
    canvas += m * np.asarray(colour, np.float32)


def _ellipse(shape, centre, axes, angle: float) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    c = (int(round(centre[0])), int(round(centre[1])))
    cv2.ellipse(mask, c, (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), angle, 0, 360, 255, -1)
    return mask


def _hand(canvas: np.ndarray, rng: np.random.Generator, skin) -> None:
    """An open hand: a palm, four fingers and a thumb, turned at random."""
    h, w = canvas.shape[:2]
    size = float(rng.uniform(30, 140))
    cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    turn = float(rng.uniform(-60, 60))
    t = math.radians(turn)
    up, side = np.array([math.sin(t), -math.cos(t)]), np.array([math.cos(t), math.sin(t)])
    palm = np.array([cx, cy])
    mask = _ellipse(canvas.shape, palm, (0.36 * size, 0.42 * size), turn)
    for k in range(4):
        lift = (0.62 - 0.06 * abs(k - 1.5)) * size
        centre = palm + up * lift + side * (k - 1.5) * 0.19 * size
        mask |= _ellipse(canvas.shape, centre, (0.08 * size, 0.26 * size), turn + float(rng.uniform(-8, 8)))
    thumb = palm + side * 0.45 * size + up * 0.05 * size
    mask |= _ellipse(canvas.shape, thumb, (0.08 * size, 0.22 * size), turn + 40)
    _paint(canvas, mask, skin)


def _poster(canvas: np.ndarray, rng: np.random.Generator, skin) -> None:
    """A rectangle (paper or skin coloured, with a border) with two dark dots where eyes would be."""
    h, w = canvas.shape[:2]
    pw = float(rng.uniform(40, 160))
    ph = pw * float(rng.uniform(1.0, 1.5))
    x0, y0 = int(rng.uniform(-pw / 4, w - pw * 0.75)), int(rng.uniform(-ph / 4, h - ph * 0.75))
    fill = skin if rng.random() < 0.4 else rng.uniform(150, 250, 3)
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (x0, y0), (int(x0 + pw), int(y0 + ph)), 255, -1)
    _paint(canvas, mask, np.asarray(fill, np.float32) * 0.7)
    border = max(2, int(pw * 0.05))
    mask[:] = 0
    cv2.rectangle(mask, (x0 + border, y0 + border), (int(x0 + pw) - border, int(y0 + ph) - border), 255, -1)
    _paint(canvas, mask, fill)
    dark = rng.uniform(0, 60, 3)
    r = pw * float(rng.uniform(0.05, 0.1))
    ey = y0 + ph * float(rng.uniform(0.3, 0.42))
    for ex in (0.32, 0.68):
        _paint(canvas, _ellipse(canvas.shape, (x0 + pw * ex, ey), (r, r * 0.8), 0), dark)


def _back_of_head(canvas: np.ndarray, rng: np.random.Generator, skin, hair) -> None:
    """A head from behind: shoulders, neck, a skin oval (ears, nape) mostly under hair."""
    h, w = canvas.shape[:2]
    width = float(rng.uniform(30, 150))
    cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    clothes = rng.uniform(0, 255, 3)
    _paint(canvas, _ellipse(canvas.shape, (cx, cy + 1.3 * width), (1.2 * width, 0.6 * width), 0), clothes)
    neck = np.zeros((h, w), np.uint8)
    cv2.rectangle(neck, (int(cx - 0.25 * width), int(cy)), (int(cx + 0.25 * width), int(cy + 0.95 * width)), 255, -1)
    _paint(canvas, neck, np.asarray(skin, np.float32) * 0.85)
    _paint(canvas, _ellipse(canvas.shape, (cx, cy), (0.5 * width, 0.65 * width), 0), skin)
    cover = float(rng.uniform(0.55, 0.85))  # how far down the hair reaches
    hair_cy = cy - 0.65 * width + cover * 0.65 * width
    _paint(canvas, _ellipse(canvas.shape, (cx, hair_cy), (0.54 * width, cover * 0.7 * width + 2), 0), hair)


def faceless(i: int, seed: int, size: tuple[int, int]) -> np.ndarray:
    """Faceless frame ``i``: a generated background with 2-5 pieces of clutter, blurred and noisy like the
    generator's scenes (RGB uint8)."""
    from testkit.synthetic import background, random_face, render_scene

    rng = np.random.default_rng((seed, 3, i))
    canvas = background(rng, size)
    for _ in range(int(rng.integers(2, 6))):
        look = random_face(rng, "happy", 0.0, 0.0, 1.0)  # only its skin and hair colours
        kind = int(rng.integers(3))
        if kind == 0:
            _hand(canvas, rng, look.skin)
        elif kind == 1:
            _poster(canvas, rng, look.skin)
        else:
            _back_of_head(canvas, rng, look.skin, look.hair)
    return render_scene(rng, [], size, canvas)


# --- measuring ---------------------------------------------------------------------------------------------


def measure(p: Placed, face) -> tuple[float, float, float]:
    """(side, dx, dy) of the placed crop in the face's reference units, offsets in its levelled frame."""
    from edge_runtime.faces.align import reference

    x, y, length, angle = reference(face, align=True)
    ex, ey = p.x0 + p.s / 2.0 - x, p.y0 + p.s / 2.0 - y
    c, s = math.cos(angle), math.sin(angle)
    return p.s / length, (c * ex + s * ey) / length, (-s * ex + c * ey) / length


def on_face(p: Placed, faces: list) -> list:
    """The detections whose box centre lies on the pasted face."""
    return [
        f
        for f in faces
        if p.x0 <= f.box[0] + f.box[2] / 2 <= p.x0 + p.s and p.y0 <= f.box[1] + f.box[3] / 2 <= p.y0 + p.s
    ]


def classify_found(p: Placed, src: Source, band: str, det, clf, t: Tally, align: bool, fit: bool) -> None:
    """Detect on the frame; when the face is found, cut its largest detection as the runtime does and classify."""
    from edge_runtime.faces.align import face_region
    from edge_runtime.model.decision import label_index
    from edge_runtime.model.preprocess import to_model_pixels
    from edge_runtime.model.spec import crop_rule

    hits = on_face(p, det.detect(p.frame, "RGB"))
    t.found[band].append(bool(hits))
    if not hits:
        return
    face = max(hits, key=lambda f: f.box[2] * f.box[3])
    model = face.found_by or det.name
    if fit:
        t.fit.setdefault(model, []).append(measure(p, face))
    px = to_model_pixels(face_region(p.frame, face, crop_rule(clf.spec.face_crop, model), align), clf.spec, "RGB")
    t.pred[band].append((src.label, label_index(clf.classify(px[None])[0], clf.info.threshold)))


def clip_frames(path: Path):
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame  # BGR
    finally:
        cap.release()


def note(text: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.0f} s] {text}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--model", default=None, help="a .tflite file or a packaged model's name (default: the packaged default)"
    )
    ap.add_argument("--faces", choices=("fer2013", "ferplus"), default="fer2013", help="validation faces to paste")
    ap.add_argument("--n", type=int, default=0, help="faces per class (0: all)")
    ap.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes("24,32-64,96-200"),
        help="face sides (px): N or LO-HI, comma-separated",
    )
    ap.add_argument(
        "--acc-from", type=int, default=32, help="classifier columns for the bands whose smallest side is at least this"
    )
    ap.add_argument("--faceless", type=int, default=200, help="frames without a face (false faces)")
    ap.add_argument("--clip", default=str(FACE_CLIP), help="a video of real faces ('none': skip); skipped when absent")
    ap.add_argument("--detectors", default=DETECTORS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame", default="640x360")
    ap.add_argument("--threads", type=int, default=1, help="detector threads (OpenCV's too, for Haar)")
    ap.add_argument("--rounds", type=int, default=60, help="timing rounds (one detect per detector each)")
    ap.add_argument("--detect-width", type=int, default=FaceSettings.detect_width, help="as hs-run's --detect-width")
    ap.add_argument("--detect-every", type=int, default=FaceSettings.detect_every, help="as hs-run's --detect-every")
    ap.add_argument("--upright", action="store_true", help="cut faces without levelling the eyes (hs-run --no-align)")
    ap.add_argument("--margin", type=float, default=None, help="override the model's crop margin")
    ap.add_argument("--fit", action="store_true", help="also print the measured crop rule per detector model")
    ap.add_argument("--json", type=Path, default=None, help="also write the table's rows here")
    args = ap.parse_args()

    from edge_runtime.errors import RuntimeFailure
    from edge_runtime.faces.detect import open_detector
    from edge_runtime.model.classifier import ModelOptions, load_classifier, resolve_model

    size = tuple(int(v) for v in args.frame.split("x"))
    assert len(size) == 2
    too_big = [b.name for b in args.sizes if b.hi > min(size)]
    if too_big:
        sys.exit(f"face_eval: size band {too_big[0]} does not fit a {args.frame} frame")
    data = FERPLUS / "valid.csv" if args.faces == "ferplus" else FER2013_VAL
    if not data.exists():
        sys.exit(f"face_eval: {data} not found")
    cv2.setNumThreads(args.threads)
    t0 = time.perf_counter()
    try:
        model = resolve_model(args.model)
        clf = load_classifier(model, ModelOptions(margin=args.margin))
        names = args.detectors.split(",")
        dets = {
            name: open_detector(name, None, args.threads, args.detect_width, wide_every=args.detect_every)
            for name in names
        }
    except RuntimeFailure as exc:
        sys.exit(f"face_eval: {exc}")
    labels = list(clf.info.labels)
    faces = (ferplus_faces if args.faces == "ferplus" else fer2013_faces)(clf, labels, args.n)
    if not faces:
        sys.exit(f"face_eval: no {args.faces} face with one of the labels {', '.join(labels)}")
    y = np.array([f.label for f in faces])
    crops = balanced_accuracy(y, np.array([f.crop_pred for f in faces]))
    per_class = ", ".join(f"{name} {int((y == i).sum())}" for i, name in enumerate(labels) if (y == i).any())
    crop = clf.spec.face_crop
    print(
        f"model {model.name} ({', '.join(labels)}): crops of {crop.detector} + margin {crop.margin}, input "
        f"{clf.spec.height}x{clf.spec.width}x{clf.spec.channels}; {len(y)} {args.faces} val faces ({per_class}) "
        f"pasted at {', '.join(b.name for b in args.sizes)} px into {args.frame} frames; the images themselves: "
        f"bal.acc {crops:.4f}"
    )
    note(f"{len(faces)} faces read", t0)

    bands = [b.name for b in args.sizes]
    tally = {name: Tally(found={b: [] for b in bands}, pred={b: [] for b in bands}) for name in names}
    for b, band in enumerate(args.sizes):
        for i, src in enumerate(faces):
            p = paste(src, band, b, i, args.seed, size)
            for name, det in dets.items():
                classify_found(p, src, band.name, det, clf, tally[name], not args.upright, args.fit)
        note(f"band {band.name} px done", t0)
    for i in range(args.faceless):
        frame = faceless(i, args.seed, size)
        for name, det in dets.items():
            tally[name].false_faces += len(det.detect(frame, "RGB"))
    note(f"{args.faceless} faceless frames done", t0)
    clip = None if args.clip.lower() == "none" else Path(args.clip)
    clip_n = 0
    if clip is not None and clip.is_file():
        for frame in clip_frames(clip):
            clip_n += 1
            for name, det in dets.items():
                tally[name].clip_hits += bool(det.detect(frame, "BGR"))
        note(f"clip: {clip_n} frames done", t0)
    elif clip is not None:
        print(f"clip {clip} not found: no clip column", file=sys.stderr)

    # Detect cost: frames of every band and faceless ones, the same frame for every detector in a round.
    timing = [
        paste(faces[j], band, b, j, args.seed, size).frame
        for j in range(min(3, len(faces)))
        for b, band in enumerate(args.sizes)
    ]
    timing += [faceless(j, args.seed, size) for j in range(3)]
    for det in dets.values():
        for frame in timing[:3]:
            det.detect(frame, "RGB")  # untimed: first invokes

    def timed(det, frames, far: bool = True):
        def once() -> float:
            frame = next(frames)
            return time_calls(lambda: det.detect(frame, "RGB", far), 1)[0]

        return once

    # a detector that searches far only every Nth frame: its frames between are timed too (far=False)
    every = {n: d.traits.far_every for n, d in dets.items() if d.traits.far_every > 1}
    calls = {n: timed(d, itertools.cycle(timing)) for n, d in dets.items()}
    calls |= {f"{n} between": timed(dets[n], itertools.cycle(timing), far=False) for n in every}
    secs = interleaved(calls, args.rounds, alternate=True)
    ms = {name: p50_p90_ms(s)[0] for name, s in secs.items()}
    per_frame = {n: (ms[n] + (k - 1) * ms[f"{n} between"]) / k for n, k in every.items()}
    note(f"timing: {args.rounds} rounds done", t0)

    acc_bands = [b.name for b in args.sizes if b.lo >= args.acc_from]
    header = [
        "detector",
        *(f"found {b} px %" for b in bands),
        "false faces / faceless frame",
        "clip frames with a face %",
        f"detect ms p50 ({args.frame}, {args.threads} thread{'s' if args.threads > 1 else ''})",
        "ms per frame of a stream",
        "x short range",
        *(f"bal.acc {b} px" for b in acc_bands),
    ]
    rows = []
    for name in names:
        t = tally[name]
        row: list[object] = [name, *(100 * float(np.mean(t.found[b])) for b in bands)]
        row.append(t.false_faces / args.faceless if args.faceless else None)
        row.append(100 * t.clip_hits / clip_n if clip_n else None)
        row.append(ms[name])
        row.append(per_frame.get(name, ms[name]))
        row.append(per_frame.get(name, ms[name]) / ms[SHORT_RANGE] if SHORT_RANGE in ms else None)
        for b in acc_bands:
            yp = np.array(t.pred[b]).reshape(-1, 2)
            row.append(balanced_accuracy(yp[:, 0], yp[:, 1]) if len(yp) else None)
        rows.append(row)
    formats = ["", *[".1f"] * len(bands), ".3f", ".1f", ".2f", ".2f", ".2f", *[".4f"] * len(acc_bands)]
    meta = {
        "model": model.name,
        "labels": labels,
        "faces": args.faces,
        "faces_per_class": {name: int((y == i).sum()) for i, name in enumerate(labels)},
        "images_bal_acc": crops,
        "sizes": bands,
        "frame": args.frame,
        "faceless": args.faceless,
        "clip": str(clip) if clip_n else None,
        "clip_frames": clip_n,
        "threads": args.threads,
        "rounds": args.rounds,
        "seed": args.seed,
        "align": not args.upright,
        "found_counts": {n: {b: int(np.sum(tally[n].found[b])) for b in bands} for n in names},
    }
    print_table(header, rows, formats, json_path=args.json, meta=meta)
    print(
        f"found: a detection centred on the pasted face, of {len(faces)} per band; false faces: detections per "
        f"frame on {args.faceless} faceless frames; clip: frames of {clip.name if clip_n and clip else '-'} with "
        f"at least one face (target 85%); detect ms: a whole search; per frame of a stream: with the far search "
        f"every --detect-every frames ({', '.join(f'{n} {k}' for n, k in every.items()) or 'none here'}); x short "
        f"range: per frame / {SHORT_RANGE}'s; bal.acc: the classifier on the "
        "faces found, cut as hs-run cuts them"
    )
    if args.fit:
        print("\nmeasured crop rule (median over faces found; spread = (p75 - p25) / median of the side):")
        fits: dict[str, list[tuple[float, float, float]]] = {}
        for t in tally.values():
            for model_name, f in t.fit.items():
                fits.setdefault(model_name, []).extend(f)
        fit_rows = []
        for model_name, f in fits.items():
            a = np.array(f)
            k, dx, dy = np.median(a, axis=0)
            q25, q75 = np.percentile(a[:, 0], (25, 75))
            fit_rows.append([model_name, f"CropRule(scale={k:.3f}, dx={dx:+.3f}, dy={dy:+.3f})", (q75 - q25) / k])
        print_table(["detector model", "crop rule", "spread"], fit_rows, ["", "", ".3f"])


if __name__ == "__main__":
    main()
