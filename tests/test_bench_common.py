"""bench/common.py: the shared data paths, the timing loops and the one table format (in-process, instant)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from bench import common


def test_data_paths_sit_beside_the_repository():
    assert common.DATA == common.REPO.parent / "shared" / "data"
    assert common.FACE_CLIP == common.DATA / "video" / "face_clip.mp4"
    assert common.FACE_CLIP_LABELS.parent == common.FACE_CLIP.parent
    assert common.FER2013_VAL == common.DATA / "fer2013" / "val"
    assert all(p.parent == common.DATA for p in (common.FERPLUS, common.SFEW, common.NHFI, common.SEED_SCENES))
    assert common.HAPPYSAD_INT8.is_file()


def test_time_calls_leaves_the_warm_up_untimed():
    calls = []
    times = common.time_calls(lambda: calls.append(1), runs=5, warmup=3)
    assert len(calls) == 8 and len(times) == 5 and all(t >= 0 for t in times)


def test_time_each_passes_each_item_and_stops_with_them():
    seen = []
    times = common.time_each(seen.append, iter("abcd"), warmup=1)
    assert seen == list("abcd") and len(times) == 3
    assert common.time_each(seen.append, [], warmup=5) == []


def test_p50_p90_in_milliseconds():
    p50, p90 = common.p50_p90_ms([0.001 * i for i in range(1, 11)])
    assert p50 == pytest.approx(5.5) and p90 == pytest.approx(9.1)
    assert all(math.isnan(v) for v in common.p50_p90_ms([]))


def test_interleaved_rounds_one_of_each_per_round():
    order: list[str] = []
    work = {name: (lambda name=name: order.append(name) or name.upper()) for name in "abc"}
    got = common.interleaved(work, rounds=2)
    assert got == {"a": ["A", "A"], "b": ["B", "B"], "c": ["C", "C"]} and order == list("abcabc")
    order.clear()
    common.interleaved(work, rounds=3, alternate=True)
    assert order == list("abccbaabc")


def test_table_is_markdown_with_formatted_cells():
    out = io.StringIO()
    rows = [["int8", 41.23, 3, None], ["float32", np.float32(110.1), 12, "a|b"]]
    common.print_table(["kind", "size KB", "n", "note"], rows, ["", ".1f", "d"], file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "| kind    | size KB |   n | note |"
    assert lines[1] == "|---------|--------:|----:|------|"  # numbers right-aligned, text left
    assert lines[2] == "| int8    |    41.2 |   3 | -    |"
    assert lines[3].endswith(r"| a\|b |")  # a pipe in a cell is escaped, the row keeps its cells


def test_table_default_formats_and_bad_rows():
    assert (
        common.format_cell(0.12345) == "0.123" and common.format_cell(7) == "7" and common.format_cell(True) == "True"
    )
    assert common.format_cell(2.0, "d") == "2.0"  # a float where an integer was expected still prints
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        common.format_table(["a", "b", "c"], [[1, 2]])


def test_table_json_holds_the_rows_unformatted(tmp_path):
    path = tmp_path / "out.json"
    rows = [["int8", np.float64(41.234567), np.int64(3)]]
    common.print_table(["kind", "size KB", "n"], rows, [".1f"], json_path=path, meta={"run": "x"}, file=io.StringIO())
    data = json.loads(path.read_text())
    assert data == {
        "run": "x",
        "columns": ["kind", "size KB", "n"],
        "rows": [{"kind": "int8", "size KB": 41.234567, "n": 3}],
    }
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind
