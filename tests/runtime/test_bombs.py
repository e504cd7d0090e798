"""Decompression bombs: an image whose header declares more than 50 megapixels is skipped (counted, one
reason) before any decoding, in hs-run's image sources as in training's readers."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from edge_runtime.io.imageio import MAX_PIXELS, TOO_LARGE, declared_size, decode_bytes, read_image

pytestmark = pytest.mark.timeout(120)


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG that declares ``width`` x ``height`` grey pixels (its data is a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def test_header_bomb_is_refused_before_decoding():
    data = png_header_bomb(100_000, 100_000)
    assert len(data) < 120
    assert declared_size(data, "png") == (100_000, 100_000)
    assert decode_bytes(data) == (None, TOO_LARGE)
    assert decode_bytes(data, max_pixels=10**11)[1] != TOO_LARGE  # the limit is a parameter


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_declared_size_matches_real_files(ext):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    from edge_runtime.io.imageio import sniff_format

    data = buf.tobytes()
    assert declared_size(data, sniff_format(data)) == (53, 37)


def test_a_large_real_png_is_refused_without_decoding(tmp_path):
    big = np.zeros((8000, 7000), np.uint8)  # 56 megapixels, a few hundred KB as PNG
    ok, buf = cv2.imencode(".png", big)
    assert ok
    path = tmp_path / "big.png"
    path.write_bytes(buf.tobytes())
    assert 8000 * 7000 > MAX_PIXELS
    assert read_image(path) == (None, TOO_LARGE)


def test_hs_run_folder_skips_and_counts_the_bomb(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"a{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    (folder / "b_bomb.png").write_bytes(png_header_bomb(100_000, 100_000))
    cv2.imwrite(str(folder / "c.png"), np.full((40, 40, 3), 200, np.uint8))
    out = tmp_path / "o.jsonl"
    r = CliRunner().invoke(app, ["--source", str(folder), "--roi", "frame", "--headless", "--json", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and all(Path(row["source"]).name != "b_bomb.png" for row in rows)
    assert "internal error" not in r.output and "1 skipped" in r.output, r.output


def test_the_limit_is_an_option(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((40, 40, 3), 60, np.uint8))  # 1,600 pixels
    cv2.imwrite(str(folder / "b.png"), np.full((20, 20, 3), 90, np.uint8))  # 400 pixels
    out = tmp_path / "o.jsonl"
    r = CliRunner().invoke(
        app, ["--source", str(folder), "--roi", "frame", "--headless", "--json", str(out), "--max-pixels", "1000"]
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(row["source"]).name for row in rows] == ["b.png"] and "1 skipped" in r.output
