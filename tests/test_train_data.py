import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from train.config import TrainConfig
from train.data import DataError, scan, stratified_split
from train.trainer import prepare_splits


def _write(path: Path, value: int, size: int = 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((size, size, 3), value, np.uint8)
    img[value % size, :, :] = 255 - value  # make every image's bytes unique
    cv2.imwrite(str(path), img)


def test_every_broken_file_kind_is_decoded_or_skipped_and_counted(tmp_path):
    from testkit.brokenfiles import write_broken_files

    expected = write_broken_files(tmp_path / "happy")
    for i in range(5):
        _write(tmp_path / "sad" / f"{i}.png", 10 + i)
    samples, report = scan(tmp_path)
    want_skips: dict[str, int] = {}
    for outcome in expected.values():
        if outcome != "ok":
            want_skips[outcome] = want_skips.get(outcome, 0) + 1
    assert report.skipped == want_skips
    ok_names = {n for n, o in expected.items() if o == "ok"}
    kept = {Path(s.path).name for s in samples if s.label == 0}
    assert kept | {n for n in ok_names if n not in kept} == ok_names  # no skipped file was kept
    assert report.usable["happy"] + report.duplicates >= len(ok_names) - 1
    assert report.usable["sad"] == 5


def test_training_runs_on_broken_files_without_crashing(tmp_path, tiny_data):
    from testkit.brokenfiles import write_broken_files
    from train.trainer import train

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    write_broken_files(data / "sad")
    metrics = train(
        TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, image_size=24, verbose=0, augment=False)
    )
    assert metrics["splits"]["train"]["n"] > 0
    report = (tmp_path / "run" / "data_report.json").read_text()
    assert "truncated" in report and "not_an_image" in report


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "not found"),
        ({"happy": 2}, "at least two class"),
        ({"happy": 2, "sad": 0}, "no usable images"),
    ],
)
def test_bad_data_folders_are_clear_errors(tmp_path, layout, message):
    root = tmp_path / "d"
    if layout:
        root.mkdir()
    for cls, n in layout.items():
        (root / cls).mkdir()
        for i in range(n):
            _write(root / cls / f"{i}.png", 30 + i)
    with pytest.raises(DataError, match=message):
        scan(root)


def test_classes_option_selects_a_subset_and_rejects_unknown(tmp_path):
    for cls in ("happy", "neutral", "sad"):
        for i in range(3):
            _write(tmp_path / cls / f"{i}.png", 40 + 3 * ("happy", "neutral", "sad").index(cls) + i)
    samples, report = scan(tmp_path, ["sad", "happy"])
    assert report.classes == ["happy", "sad"] and {s.label for s in samples} == {0, 1}
    with pytest.raises(DataError, match="angry"):
        scan(tmp_path, ["happy", "angry"])


def _dataset(tmp_path, n_happy=40, n_sad=20):
    for i in range(n_happy):
        _write(tmp_path / "happy" / f"h{i}.png", i, 24)
    for i in range(n_sad):
        _write(tmp_path / "sad" / f"s{i}.png", 100 + i, 24)
    return scan(tmp_path)[0]


def test_splits_are_stratified_disjoint_and_deterministic(tmp_path):
    samples = _dataset(tmp_path)
    a = stratified_split(samples, {"val": 0.1, "test": 0.2}, seed=3)
    b = stratified_split(list(reversed(samples)), {"val": 0.1, "test": 0.2}, seed=3)
    assert a == b  # file order does not matter, only the seed
    hashes = [{s.sha1 for s in a[k]} for k in ("train", "val", "test")]
    assert not (hashes[0] & hashes[1]) and not (hashes[0] & hashes[2]) and not (hashes[1] & hashes[2])
    assert sum(len(h) for h in hashes) == len(samples)
    assert [sum(s.label == c for s in a["test"]) for c in (0, 1)] == [8, 4]
    assert stratified_split(samples, {"val": 0.1, "test": 0.2}, seed=4) != a


def test_byte_identical_copies_never_cross_splits(tmp_path):
    _dataset(tmp_path, 20, 20)
    (tmp_path / "val" / "happy").mkdir(parents=True)
    (tmp_path / "val" / "sad").mkdir(parents=True)
    shutil.copy(tmp_path / "happy" / "h0.png", tmp_path / "val" / "happy" / "copy.png")
    shutil.copy(tmp_path / "sad" / "s0.png", tmp_path / "val" / "sad" / "copy.png")
    shutil.copy(tmp_path / "happy" / "h1.png", tmp_path / "happy" / "h1_again.png")
    data = tmp_path / "data"
    data.mkdir()
    shutil.move(tmp_path / "happy", data / "happy")
    shutil.move(tmp_path / "sad", data / "sad")
    splits, _, reports = prepare_splits(TrainConfig(data=str(data), out="x", val_data=str(tmp_path / "val")))
    train_hashes = {s.sha1 for s in splits["train"]}
    assert not train_hashes & {s.sha1 for s in splits["val"]}
    assert reports["removed_from_train_as_copies_of_eval_images"] == 2
    assert reports["train_data"]["duplicates_dropped"] == 1


def test_the_origin_take_skip_split_leaks_and_ours_does_not():
    """The origin notebooks split with take/skip after shuffle(); each pass reshuffles, so the 'test' images
    seen during evaluation were partly trained on. Our split is made once, on file hashes."""
    import tensorflow as tf

    from train.data import Sample

    tf.random.set_seed(0)
    ds = tf.data.Dataset.range(100).shuffle(100)
    train, test = ds.take(70), ds.skip(70)
    seen_in_training = {int(x) for x in train}
    seen_in_testing = {int(x) for x in test}
    assert seen_in_training & seen_in_testing, "take/skip over a reshuffling dataset leaks"

    samples = [Sample(path=str(i), label=i % 2, sha1=f"{i:040x}") for i in range(100)]
    ours = stratified_split(samples, {"test": 0.3}, seed=0)
    ours_train = tf.data.Dataset.from_tensor_slices([int(s.path) for s in ours["train"]]).shuffle(100)
    ours_test = tf.data.Dataset.from_tensor_slices([int(s.path) for s in ours["test"]]).shuffle(100)
    trained_on = {int(x) for _ in range(3) for x in ours_train}  # three reshuffled epochs
    tested_on = {int(x) for _ in range(3) for x in ours_test}
    assert len(tested_on) == 30 and len(trained_on) == 70
    assert not trained_on & tested_on, "our split is made once, so no epoch can leak a test image into training"
    assert trained_on | tested_on == set(range(100))


def _pipeline_inputs(tiny_data, spec_size=24):
    from edge_runtime.model.spec import PreprocessSpec

    samples, _ = scan(tiny_data)
    return samples, PreprocessSpec.for_size(spec_size, 3)


def test_a_file_unreadable_after_the_scan_is_skipped_and_counted_not_a_black_image(tiny_data, tmp_path):
    from train.pipeline import SkippedFiles, make_dataset

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    samples, spec = _pipeline_inputs(data)
    gone, garbled = samples[0], samples[-1]
    Path(gone.path).unlink()  # deleted after the splits were made
    Path(garbled.path).write_bytes(b"not an image any more")
    skipped = SkippedFiles()
    ds = make_dataset([s.path for s in samples], [s.label for s in samples], spec, 8, skipped=skipped)
    for _ in range(2):  # two epochs: each file is counted once
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert len(y) == len(samples) - 2
    assert not (x.reshape(len(x), -1).max(axis=1) == 0).any(), "no black stand-in image is yielded"
    assert list(y) == [s.label for s in samples[1:-1]]
    assert skipped.files == {gone.path: "unreadable", garbled.path: "not_an_image"}
    assert skipped.by_reason() == {"unreadable": 1, "not_an_image": 1}


def test_jpeg_with_data_after_its_end_marker_is_not_called_truncated():
    from edge_runtime.io.imageio import decode_bytes

    ok, jpg = cv2.imencode(".jpg", np.full((32, 32, 3), 90, np.uint8))
    assert ok
    data = jpg.tobytes()
    img, reason = decode_bytes(data + b"SEFT" * 200)  # Samsung-style trailer
    assert reason is None and img.shape == (32, 32, 3)
    _, reason = decode_bytes(data[: len(data) // 2])
    assert reason == "truncated"


def test_a_decompression_bomb_is_skipped_and_counted_and_the_limit_is_an_option(tmp_path, tiny_data):
    from tests.runtime.test_bombs import png_header_bomb

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    (data / "happy" / "bomb.png").write_bytes(png_header_bomb(100_000, 100_000))
    samples, report = scan(data)
    assert report.skipped == {"too_large": 1}
    assert not any(s.path.endswith("bomb.png") for s in samples)
    with pytest.raises(DataError, match="no usable images"):  # the drawn faces are 48x48 = 2,304 pixels
        scan(data, max_pixels=100)
