"""Swap the model without losing the camera (``systemctl reload hs-run``: SIGHUP).

A request only sets a flag (a signal handler must not load models). Between two frames the loop calls
``poll``: the first poll after a request starts a thread that reads the settings again (the config file and
the command line), loads the model they name beside the running one, and checks it on a blank picture;
a later poll swaps it in. The camera, the outputs and the tracks stay as they are; frames already being
analysed finish on the old model, and every result names the model that made it. A model or config file
that fails is refused in one log line, and the old model keeps running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import fields, replace

import numpy as np

from edge_runtime.config import RunConfig
from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.model.classifier import Classifier
from edge_runtime.run.build import build_classifier
from edge_runtime.run.pipeline import Lane, Pipeline

Log = Callable[[str], None]
LIVE = ("model", "model_options")  # what a reload changes; everything else needs a restart


class Reloader:
    """Owned by the run's loop; ``request`` may be called from a signal handler."""

    def __init__(
        self, current: RunConfig, settings: Callable[[], RunConfig], log: Log, wanted: threading.Event | None = None
    ) -> None:
        """``wanted``: the flag a request sets (a signal handler may set it directly)."""
        self.current, self.settings, self.log = current, settings, log
        self._wanted = wanted or threading.Event()
        self._thread: threading.Thread | None = None
        self._ready: tuple[RunConfig, Classifier] | None = None

    def request(self) -> None:
        self._wanted.set()

    @property
    def busy(self) -> bool:
        """A request not yet applied or refused."""
        return self._wanted.is_set() or self._thread is not None

    def poll(self, pipeline: Pipeline) -> None:
        """Between frames: start a requested load, or swap in a loaded model."""
        if self._thread is not None and not self._thread.is_alive():
            self._thread = None
            if self._ready is not None:
                cfg, clf = self._ready
                self._ready = None
                self._swap(pipeline, cfg, clf)
        if self._thread is None and self._wanted.is_set():
            self._wanted.clear()
            detector_name = pipeline.detector.name if pipeline.detector else None
            roi = pipeline.classifier.spec.face_crop.roi
            self._thread = threading.Thread(
                target=self._load, args=(detector_name, roi), name="model-reload", daemon=True
            )
            self._thread.start()

    def _load(self, detector_name: str | None, roi: str) -> None:
        try:
            cfg = self.settings()
            clf = build_classifier(replace(self.current, model=cfg.model, model_options=cfg.model_options))
            check_model(clf, roi)
        except (RuntimeFailure, OSError, ValueError) as exc:
            self.log(f"reload refused: {first_line(exc)}; still running {self._running()}")
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not end the thread with a traceback, nor the run
            self.log(
                f"reload refused: internal error {type(exc).__name__}: {first_line(exc)}; still running "
                f"{self._running()}"
            )
            return
        restart = [f.name for f in fields(RunConfig) if f.name not in LIVE and _differs(cfg, self.current, f.name)]
        if restart:
            self.log(f"reload: {', '.join(restart)} changed in the settings; they take effect at the next start")
        self._ready = (cfg, clf)

    def _swap(self, pipeline: Pipeline, cfg: RunConfig, clf: Classifier) -> None:
        old = pipeline.classifier.ident
        lanes = [Lane(clf, pipeline.lanes[0].detector)]
        lanes += [Lane(clf.twin(1), lane.detector) for lane in pipeline.lanes[1:]]
        pipeline.swap(lanes)
        self.current = replace(self.current, model=cfg.model, model_options=cfg.model_options)
        self.log(f"reloaded: model {clf.ident} (labels {','.join(clf.info.labels)}), was {old}")

    def _running(self) -> str:
        return str(self.current.model or "the packaged default")


def _differs(a: RunConfig, b: RunConfig, name: str) -> bool:
    return bool(getattr(a, name) != getattr(b, name))


def check_model(clf: Classifier, roi: str) -> None:
    """A model fit to swap in: it classifies what the running one does (faces or whole frames) and turns a
    blank picture into finite probabilities that sum to one."""
    if clf.spec.face_crop.roi != roi:
        raise RuntimeFailure(f"{clf.path.name} classifies {clf.spec.face_crop.roi}s; the running model, {roi}s")
    spec = clf.spec
    probs = clf.classify(np.zeros((1, spec.height, spec.width, spec.channels), np.uint8))
    if probs.shape != (1, len(clf.info.labels)) or not np.all(np.isfinite(probs)) or abs(probs.sum() - 1) > 1e-3:
        raise RuntimeFailure(f"{clf.path.name}: a blank picture gives {probs.tolist()}, not probabilities")
