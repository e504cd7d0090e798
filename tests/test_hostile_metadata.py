"""A model file's metadata is checked as strictly as the command line checks the same settings: a hostile or
damaged value is one line and exit 2, never a model that calls every face 'happy' or an internal error."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from convert.metadata import embed_model_info
from edge_runtime.cli.hs_run import app
from tests.runtime.helpers import FIXTURES, MODEL_FILES, model_info

GOOD = model_info().to_dict()


def _deep(n: int) -> dict:
    d: dict = {}
    for _ in range(n):
        d = {"x": d}
    return d


HOSTILE = {
    "threshold NaN": {"threshold": math.nan},
    "threshold inf": {"threshold": math.inf},
    "threshold 5": {"threshold": 5},
    "threshold -3": {"threshold": -3},
    "threshold text": {"threshold": "0.5"},
    "band NaN": {"uncertain_band": math.nan},
    "band negative": {"uncertain_band": -0.1},
    "duplicate labels": {"labels": ["happy", "happy"]},
    "labels a string": {"labels": "happy,sad"},
    "label with a newline": {"labels": ["happy\nhs-run: forged line", "sad"]},
    "200 KB labels": {"labels": ["h" * 100_000, "s" * 100_000]},
    "one label": {"labels": ["happy"]},
    "output unknown": {"output": "relu"},
    "nested 100000 deep": {"extra": _deep(100_000)},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_metadata_is_one_line_and_exit_2(case, tmp_path):
    bare = (FIXTURES / MODEL_FILES["bare"]).read_bytes()
    info = {**GOOD, **HOSTILE[case]}
    try:
        data = embed_model_info(bare, info)
    except (ValueError, RecursionError):  # json.dumps of 100,000 levels: write the bytes ourselves
        from convert.metadata import embed_metadata
        from edge_runtime.model.tflite_meta import MODEL_INFO_KEY

        raw = json.dumps(GOOD)[:-1] + ', "x": ' + '{"x": ' * 100_000 + "1" + "}" * 100_000 + "}"
        data = embed_metadata(bare, {MODEL_INFO_KEY: raw.encode()})
    model = tmp_path / "m.tflite"
    model.write_bytes(data)
    img = FIXTURES / "drawn_smiles.jpg"
    r = CliRunner().invoke(app, ["--model", str(model), "--source", str(img), "--headless", "--json", "-"])
    assert r.exit_code == 2, (case, r.output)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "metadata" in lines[0] and "internal error" not in lines[0], (case, r.output)
    assert "\nhs-run: forged" not in r.output


def test_good_metadata_still_runs(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(embed_model_info((FIXTURES / MODEL_FILES["bare"]).read_bytes(), GOOD))
    img = FIXTURES / "drawn_smiles.jpg"
    r = CliRunner().invoke(app, ["--model", str(model), "--source", str(img), "--headless", "--json", "-"])
    assert r.exit_code == 0, r.output
