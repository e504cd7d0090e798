"""An output is never an input: --save or --json naming the source, the model, the detector model or an image
of the source folder (by any path: a hard link too) is refused in one line and nothing is changed."""

from __future__ import annotations

import hashlib
import os
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from tests.runtime.helpers import fixture_models, write_video

pytestmark = pytest.mark.timeout(120)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str):
    return CliRunner().invoke(app, [*args, "--headless", "--roi", "frame"])


def test_save_or_json_onto_the_source_video_is_refused(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=6)
    model = fixture_models()["int8"]
    before = digest(video)
    for opt in ("--save", "--json"):
        r = run("--model", str(model), "--source", str(video), opt, str(video))
        assert r.exit_code == 2 and f"{opt} {video} is the --source file" in r.output, r.output
        assert digest(video) == before


def test_json_onto_the_model_by_a_hard_link_is_refused(tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(fixture_models()["int8"], model)
    link = tmp_path / "out.jsonl"
    os.link(model, link)
    video = write_video(tmp_path / "v.avi", frames=4)
    before = digest(model)
    r = run("--model", str(model), "--source", str(video), "--json", str(link))
    assert r.exit_code == 2 and "is the --model file" in r.output, r.output
    assert digest(model) == before


def test_output_onto_an_image_of_the_source_folder_is_refused(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 32, 3), 80 * i, np.uint8))
    target = folder / "1.png"
    before = digest(target)
    r = run("--model", str(fixture_models()["int8"]), "--source", str(folder), "--json", str(target))
    assert r.exit_code == 2 and "is the --source file" in r.output, r.output
    assert digest(target) == before


def test_a_new_output_file_still_works(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=4)
    r = run("--model", str(fixture_models()["int8"]), "--source", str(video), "--json", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0, r.output
