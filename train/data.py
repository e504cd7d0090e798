"""Find, check and split a data set: a folder of class subfolders, every file checked before training.

Splits are stratified and seeded, and made on content hashes so no image (or byte-identical copy of it)
lands in two splits: unlike the origin notebooks' take/skip on a reshuffling dataset, which leaks.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.io.imageio import MAX_PIXELS, decode_bytes


class DataError(ValueError):
    """A data set that cannot be trained on; the message is shown to the user as one line."""


@dataclass(frozen=True)
class Sample:
    path: str
    label: int
    sha1: str


@dataclass
class DataReport:
    """What was found, what was skipped and why, and which files were copies of each other."""

    root: str
    classes: list[str]
    found: dict[str, int] = field(default_factory=dict)
    usable: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    label_conflicts: int = 0
    removed_overlap: int = 0

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "classes": self.classes,
            "found": self.found,
            "usable": self.usable,
            "skipped": self.skipped,
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped_files[:1000]],
            "duplicates_dropped": self.duplicates,
            "label_conflicts_dropped": self.label_conflicts,
            "removed_overlap_with_eval": self.removed_overlap,
        }

    def summary(self) -> str:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        return (
            f"{self.root}: "
            + ", ".join(f"{c} {self.usable.get(c, 0)}/{self.found.get(c, 0)}" for c in self.classes)
            + f" usable; skipped: {skipped}; duplicates dropped {self.duplicates}"
        )


def discover_classes(root: Path, classes: list[str] | None = None) -> list[str]:
    """Class names are the subfolder names, sorted (so happy=0, sad=1 as in the origin documents)."""
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        missing = [c for c in classes if c not in present]
        if missing:
            raise DataError(
                f"class folder(s) {', '.join(missing)} not found in {root} (found: {', '.join(present) or 'none'})"
            )
        present = sorted(classes)
    if len(present) < 2:
        raise DataError(f"{root} needs at least two class subfolders (found: {', '.join(present) or 'none'})")
    return present


def _check_file(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[str | None, str | None]:
    """(sha1 of the content, None) for a usable image, (None, reason) otherwise."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, "unreadable"
    img, reason = decode_bytes(data, max_pixels)
    if img is None:
        return None, reason
    return hashlib.sha1(data).hexdigest(), None


def scan(
    root: str | Path, classes: list[str] | None = None, workers: int | None = None, max_pixels: int = MAX_PIXELS
) -> tuple[list[Sample], DataReport]:
    """Decode every file once (in parallel: OpenCV releases the GIL) and keep the usable ones."""
    root = Path(root)
    names = discover_classes(root, classes)
    report = DataReport(root=str(root), classes=names)
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(names):
        found = sorted(p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith("."))
        report.found[name] = len(found)
        files += [(p, label) for p in found]
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        checked = list(pool.map(lambda f: _check_file(f[0], max_pixels), files))
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    skipped: Counter[str] = Counter()
    for (path, label), (sha1, reason) in zip(files, checked):
        if sha1 is None:
            skipped[reason or "unreadable"] += 1
            report.skipped_files.append((str(path), reason or "unreadable"))
            continue
        by_hash[sha1].append(Sample(str(path.resolve()), label, sha1))
    samples = []
    for group in by_hash.values():
        if len({s.label for s in group}) > 1:
            report.label_conflicts += len(group)
            continue
        report.duplicates += len(group) - 1
        samples.append(group[0])
    samples.sort(key=lambda s: s.path)
    report.skipped = dict(skipped)
    for label, name in enumerate(names):
        report.usable[name] = sum(1 for s in samples if s.label == label)
    empty = [n for n in names if report.usable[n] == 0]
    if empty:
        raise DataError(f"class {', '.join(empty)} has no usable images in {root}")
    return samples, report


def stratified_split(samples: list[Sample], fractions: dict[str, float], seed: int) -> dict[str, list[Sample]]:
    """Split each class by the given fractions (the remainder is 'train'), the same way for the same seed.

    Order does not depend on the file system: samples are sorted by content hash before a seeded shuffle.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[Sample]] = {name: [] for name in ["train", *fractions]}
    for label in sorted({s.label for s in samples}):
        group = sorted((s for s in samples if s.label == label), key=lambda s: s.sha1)
        idx = rng.permutation(len(group))
        start = 0
        for name, frac in fractions.items():
            n = round(frac * len(group))
            if frac > 0 and len(group) >= 3:
                n = max(n, 1)
            out[name] += [group[i] for i in idx[start : start + n]]
            start += n
        out["train"] += [group[i] for i in idx[start:]]
    return out


def remove_overlap(train: list[Sample], others: list[list[Sample]]) -> tuple[list[Sample], int]:
    """Drop training samples whose content also appears in an evaluation split (FER has such copies)."""
    held_out = {s.sha1 for group in others for s in group}
    kept = [s for s in train if s.sha1 not in held_out]
    return kept, len(train) - len(kept)


def fingerprint(samples: list[Sample]) -> str:
    """A short content fingerprint of a split: the same files with the same labels give the same value."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: (s.sha1, s.label)):
        h.update(f"{s.sha1}:{s.label}\n".encode())
    return h.hexdigest()[:16]
