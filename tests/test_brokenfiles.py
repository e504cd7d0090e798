"""read_image on every kind of awkward file a real data set has (testkit/brokenfiles.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.io.imageio import decode_bytes, read_image
from testkit.brokenfiles import CONTENT, GARBAGE, broken_file_bytes, write_broken_files

REASONS = {"empty", "not_an_image", "truncated", "unreadable", "too_small"}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    return folder, write_broken_files(folder)


def test_every_kind_is_written(broken):
    folder, outcomes = broken
    assert {p.name for p in folder.iterdir()} == set(outcomes)
    assert set(outcomes.values()) == {"ok"} | REASONS
    for kind in (
        "valid.jpg",
        "empty.jpg",
        "text_named.jpg",
        "truncated.jpg",
        "truncated.png",
        "webp_named.jpg",
        "gif_named.jpg",
        "alpha.png",
        "rgb16.png",
        "gray.jpg",
        "cmyk.jpg",
        "tiny_4x4.png",
        "random_bytes.png",
        "corrupt_data.jpg",
        "corrupt_header.png",
    ):
        assert kind in outcomes
    assert set(CONTENT) | GARBAGE == {n for n, o in outcomes.items() if o == "ok"}


def test_bytes_are_deterministic():
    a, b = broken_file_bytes(0), broken_file_bytes(0)
    assert {n: d for n, (d, _) in a.items()} == {n: d for n, (d, _) in b.items()}


def test_file_names_do_not_give_the_format_away(broken):
    folder, _ = broken
    assert (folder / "webp_named.jpg").read_bytes()[8:12] == b"WEBP"
    assert (folder / "gif_named.jpg").read_bytes()[:3] == b"GIF"
    assert (folder / "png_named.jpg").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "truncated.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert (folder / "corrupt_data.jpg").read_bytes()[-2:] == b"\xff\xd9"


@pytest.mark.parametrize("name", sorted(broken_file_bytes(0)))
def test_read_image_outcome(broken, name):
    folder, outcomes = broken
    img, reason = read_image(folder / name)
    expected = outcomes[name]
    if expected != "ok":
        assert img is None and reason == expected
        return
    assert reason is None, f"{name}: skipped as {reason}"
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    if name in GARBAGE:
        return  # decodes (libjpeg only warns), content meaningless: it must just not crash
    assert img.shape[:2] == (48, 64), f"{name}: {img.shape}"
    for fx, fy, colour, tol in CONTENT[name]:
        px = img[int(fy * img.shape[0]), int(fx * img.shape[1])].astype(int)
        assert np.abs(px - np.array(colour)).max() <= tol, f"{name} at ({fx:.2f},{fy:.2f}): {px} != {colour}"


def test_grey_decodes_to_equal_channels(broken):
    folder, _ = broken
    for name in ("gray.jpg", "gray16.png", "gray_alpha.png"):
        img, _ = read_image(folder / name)
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]), name


def test_decode_bytes_matches_read_image(broken):
    folder, outcomes = broken
    for name in outcomes:
        a, ra = read_image(folder / name)
        b, rb = decode_bytes((folder / name).read_bytes())
        assert ra == rb and (a is None) == (b is None) and (a is None or np.array_equal(a, b)), name


def test_missing_file_is_a_reason_not_an_exception(tmp_path):
    assert read_image(tmp_path / "nope.jpg") == (None, "unreadable")
    assert read_image(tmp_path) == (None, "unreadable")  # a folder named like a file
