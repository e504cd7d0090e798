"""Label changes of tracked faces, worked out from the per-frame records every sink already gets.

Several outputs (the live panel's counts, MQTT events, snapshots) care about "face 3 turned happy", not
about each frame; each keeps its own ``LabelChanges`` so none depends on another's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge_runtime.results import FaceResult


@dataclass(frozen=True)
class Change:
    """A tracked face got a new label; ``previous`` is None when the face has just appeared."""

    track: int
    label: str
    previous: str | None
    result: FaceResult


class LabelChanges:
    """Remembers each visible track's label; faces that leave the frame are forgotten."""

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}

    def update(self, results: Iterable[FaceResult]) -> list[Change]:
        seen: dict[int, str] = {}
        changes: list[Change] = []
        for r in results:
            track, label = r.track, r.label
            seen[track] = label
            previous = self.labels.get(track)
            if previous != label:
                changes.append(Change(track, label, previous, r))
        self.labels = seen
        return changes
