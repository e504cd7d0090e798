"""Per-stage timings (p50/p90 over a bounded window, so weeks of running use constant memory) and FPS."""

from __future__ import annotations

import time

import numpy as np

STAGES = ("capture", "detect", "preprocess", "infer", "postprocess", "output")


class StageStats:
    """Durations in seconds per stage, the most recent ``window`` of each kept in a ring buffer."""

    def __init__(self, stages: tuple[str, ...] = STAGES, window: int = 2048) -> None:
        self.stages = stages
        self._buf = {s: np.zeros(window, np.float64) for s in stages}
        self._n = dict.fromkeys(stages, 0)
        self.window = window
        self.frames = 0
        self.started = time.perf_counter()
        self._last_report = self.started
        self.ended: float | None = None

    def stop(self) -> None:
        """Freeze the clock, so FPS reported later is the run's own."""
        self.ended = time.perf_counter()

    def add(self, stage: str, seconds: float) -> None:
        i = self._n[stage]
        self._buf[stage][i % self.window] = seconds
        self._n[stage] = i + 1

    def percentiles(self, stage: str) -> tuple[float, float] | None:
        """(p50, p90) in milliseconds, or None when the stage never ran."""
        n = min(self._n[stage], self.window)
        if n == 0:
            return None
        p50, p90 = np.percentile(self._buf[stage][:n], (50, 90))
        return float(p50) * 1e3, float(p90) * 1e3

    def fps(self) -> float:
        elapsed = (self.ended or time.perf_counter()) - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def report(self) -> str:
        parts = [f"{self.frames} frames, {self.fps():.1f} FPS"]
        for s in self.stages:
            p = self.percentiles(s)
            if p is not None:
                parts.append(f"{s} p50 {p[0]:.2f} / p90 {p[1]:.2f} ms")
        return "; ".join(parts)

    def due(self, every: float) -> bool:
        """True once every ``every`` seconds (for --stats)."""
        now = time.perf_counter()
        if now - self._last_report >= every:
            self._last_report = now
            return True
        return False
