"""atomic_path: a finished output replaces only what is ours to replace, and a failed block changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_runtime.io.atomic import OutputRefused, atomic_path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_file_replaces_a_file_and_a_failed_block_leaves_the_old_one(tmp_path):
    final = tmp_path / "model.keras"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert final.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.keras"]
    with atomic_path(final) as tmp:
        tmp.write_bytes(b"new")
    assert final.read_bytes() == b"new" and os.listdir(tmp_path) == ["model.keras"]


def test_a_folder_we_wrote_before_is_replaced_whole(tmp_path):
    final = tmp_path / "saved_model"
    final.mkdir()
    (final / "saved_model.pb").write_bytes(b"old")
    (final / "stale.bin").write_bytes(b"from the old export")
    with atomic_path(final, folder_marker="saved_model.pb") as tmp:
        tmp.mkdir()
        (tmp / "saved_model.pb").write_bytes(b"new")
    assert _tree(final) == {"saved_model.pb": b"new"}
    assert os.listdir(tmp_path) == ["saved_model"], "no temporary or old folder is left beside it"


@pytest.mark.parametrize("marker", [None, "saved_model.pb"])
def test_somebody_elses_folder_is_refused_before_the_block_runs(tmp_path, marker):
    final = tmp_path / "saved_model"
    final.mkdir()
    (final / "thesis.tex").write_bytes(b"precious")
    ran = False
    with pytest.raises(OutputRefused, match=r"is a folder.*will not be replaced"):
        with atomic_path(final, folder_marker=marker) as tmp:
            ran = True
            tmp.mkdir()
    assert not ran and _tree(final) == {"thesis.tex": b"precious"} and os.listdir(tmp_path) == ["saved_model"]


def test_a_marker_that_is_a_link_or_a_folder_does_not_count(tmp_path):
    for kind in ("link", "folder"):
        final = tmp_path / kind / "saved_model"
        final.mkdir(parents=True)
        (final / "notes.txt").write_bytes(b"keep")
        if kind == "link":
            (final / "saved_model.pb").symlink_to(final / "notes.txt")
        else:
            (final / "saved_model.pb").mkdir()
        with pytest.raises(OutputRefused), atomic_path(final, folder_marker="saved_model.pb") as tmp:
            tmp.mkdir()
        assert (final / "notes.txt").read_bytes() == b"keep"


def test_a_link_is_never_replaced(tmp_path):
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"keep")
    final = tmp_path / "out.bin"
    final.symlink_to(target)
    with pytest.raises(OutputRefused, match="symbolic link"), atomic_path(final) as tmp:
        tmp.write_bytes(b"new")
    assert final.is_symlink() and target.read_bytes() == b"keep"
