"""``--snapshot-dir DIR --snapshot-on LABEL``: a JPEG (and a JSON sidecar) when a tracked face turns to
LABEL and holds it for ``hold`` seconds; at most one every ``every`` seconds, once per turn of a face, and
the oldest snapshots are deleted beyond ``keep`` snapshots or ``max_bytes``, so weeks of running fit.

The image is drawn only while a face is holding the label (``needs_image``), not on every frame.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.errors import WriteFailed, first_line
from edge_runtime.io.atomic import OutputRefused, write_bytes, write_json
from edge_runtime.results import FaceResult, FrameResult

SIDE = ".json"
WRITER = "hs-run snapshot"  # the sidecar's own marker: only snapshots carrying it are ever pruned


def _stem_pattern(label: str) -> re.Pattern[str]:
    """The names this sink gives: date-time-milliseconds-track-label (a user's 'holiday-happy' never fits)."""
    return re.compile(rf"\d{{8}}-\d{{6}}-\d{{3}}-t\d+-{re.escape(label)}")


class SnapshotSink:
    def __init__(
        self,
        folder: str | Path,
        label: str,
        log: Callable[[str], None],
        hold: float = 1.0,
        every: float = 10.0,
        keep: int = 200,
        max_bytes: int = 100 << 20,
        crop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        picture_time: Callable[[FrameResult], float] | None = None,
    ) -> None:
        self.folder, self.label, self.log = Path(folder), label, log
        self.hold, self.every, self.keep, self.max_bytes, self.crop = hold, every, keep, max_bytes, crop
        self.clock = clock
        # How long a face held the label is measured on the pictures' own clock (a video file's media
        # time, decoded faster than real time), the rate limit on the wall clock (it protects the disk).
        self.picture_time = picture_time or record_time
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputRefused(f"--snapshot-dir {folder}: {first_line(exc)}") from None
        if not self.folder.is_dir():
            raise OutputRefused(f"--snapshot-dir {folder} is not a folder")
        try:  # a read-only mount is found now, not at the first snapshot hours later
            fd, probe = tempfile.mkstemp(prefix=".hs-run-", suffix=".probe", dir=self.folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputRefused(
                f"--snapshot-dir {folder}: cannot write there: {exc.strerror or first_line(exc)}"
            ) from None
        self.holding: dict[int, float] = {}  # track -> frame time it turned to the label
        self.done: set[int] = set()  # tracks already snapshotted during their current hold
        self._last_saved = -float("inf")
        self.saved = 0
        self._groups = self._existing()

    @property
    def needs_image(self) -> bool:
        return any(t not in self.done for t in self.holding) and self._rate_ok()

    @needs_image.setter
    def needs_image(self, value: bool) -> None:
        """Decided frame by frame, not set: the setter only makes this fit the ``Sink`` protocol."""

    def _rate_ok(self) -> bool:
        return self.clock() - self._last_saved >= self.every

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        now_t = self.picture_time(result)
        current = {f.track: f for f in result.faces if f.label == self.label}
        self.holding = {t: self.holding.get(t, now_t) for t in current}
        self.done &= set(current)
        if image is None or not self._rate_ok():
            return None
        for track, r in current.items():
            if track not in self.done and now_t - self.holding[track] >= self.hold:
                self._save(result, r, image, now_t - self.holding[track])
                self.done.add(track)
                break  # one per frame, and the rate limit holds back the rest
        return None

    def _save(self, result: FrameResult, face: FaceResult, image: np.ndarray, held: float) -> None:
        stamp = datetime.fromtimestamp(result.time)
        stem = f"{stamp:%Y%m%d-%H%M%S}-{stamp.microsecond // 1000:03d}-t{face.track}-{self.label}"
        files = [self.folder / f"{stem}.jpg"]
        sidecar: dict[str, Any] = {
            "writer": WRITER,
            "time": result.time,
            "frame": result.index,
            "source": result.source,
            "held_s": round(held, 2),
            "face": face.to_dict(),
            "image": files[0].name,
        }
        written: list[Path] = []
        try:
            written.append(write_bytes(files[0], _jpeg(image)))
            if self.crop:
                x, y, w, h = face.box
                crop = image[max(0, y) : y + h, max(0, x) : x + w]
                if crop.size:
                    files.append(self.folder / f"{stem}-face.jpg")
                    written.append(write_bytes(files[1], _jpeg(crop)))
                    sidecar["crop"] = files[1].name
            files.append(write_json(self.folder / f"{stem}{SIDE}", sidecar))
        except OSError as exc:
            for p in written:  # this snapshot's images, just written: none is left without its sidecar
                p.unlink(missing_ok=True)
            raise WriteFailed(f"cannot write a snapshot in {self.folder}: {first_line(exc)}") from None
        self._last_saved = self.clock()
        self.saved += 1
        self._groups.append(files)
        self._prune()

    def _existing(self) -> list[list[Path]]:
        """Snapshots this program wrote earlier (a restarted service), oldest first, so the cap counts them.

        Only a sidecar named as this sink names them and carrying its marker counts, and with it only the
        images it names: any other file in the folder is the user's and is never touched."""
        pattern = _stem_pattern(self.label)
        groups = []
        for side in sorted(self.folder.glob(f"*-{self.label}{SIDE}")):
            stem = side.name[: -len(SIDE)]
            if not pattern.fullmatch(stem) or not side.is_file():
                continue
            try:
                meta = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if not isinstance(meta, dict) or meta.get("writer") != WRITER:
                continue
            named = [meta.get("image"), meta.get("crop")]
            own = {f"{stem}.jpg", f"{stem}-face.jpg"}
            groups.append([side.with_name(n) for n in named if isinstance(n, str) and n in own] + [side])
        return groups

    def _prune(self) -> None:
        def size(group: list[Path]) -> int:
            return sum(p.stat().st_size for p in group if p.exists())

        total = sum(size(g) for g in self._groups)
        while self._groups and (len(self._groups) > self.keep or (self.max_bytes and total > self.max_bytes)):
            if len(self._groups) == 1 and len(self._groups) <= self.keep:
                break  # the newest stays, even if alone it is over the byte cap
            oldest = self._groups.pop(0)
            total -= size(oldest)
            for p in oldest:
                p.unlink(missing_ok=True)

    def close(self, ok: bool) -> None:
        if self.saved:
            self.log(f"snapshots: {self.saved} saved in {self.folder}")


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    if not ok:
        raise OSError("JPEG encoding failed")
    return bytes(buf.tobytes())


def record_time(result: FrameResult) -> float:
    """A result's wall-clock time: a live picture's own time."""
    return result.time
