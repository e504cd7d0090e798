"""A run's settings, grouped by the part of the runtime each group is for, and the single home of every
default: where frames come from (``InputSettings``), how faces are found (``FaceSettings``), the files a run
writes (``OutputSettings``), the device-service outputs (``ServiceSettings``), and ``RunConfig`` that holds
them with the model and the run's limits.

The command line and the TOML file use flat option names (``--json``, ``serve-fps``); ``RunConfig.from_flat``
sorts them into the groups, and ``flat_defaults`` gives the command line its defaults from here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from edge_runtime.faces.wide import EVERY as WIDE_EVERY
from edge_runtime.io.imageio import MAX_PIXELS
from edge_runtime.model.classifier import ModelOptions


def default_threads() -> int:
    """All cores, at most 4: XNNPACK gains nothing past that on a Pi-sized model."""
    return min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class InputSettings:
    """Where frames come from: exactly one of ``camera`` and ``source``."""

    camera: str | None = None  # 0, /dev/videoN, picam
    source: str | None = None  # a video file, image, folder, glob or stream URL
    width: int | None = None  # camera mode
    height: int | None = None
    fps: float | None = None
    reconnect: int | None = None  # attempts to (re)open a live source; None: forever
    loop: bool = False  # play a video file again at its end
    max_pixels: int = MAX_PIXELS  # an image declaring more is skipped before decoding (a decompression bomb)


@dataclass(frozen=True)
class FaceSettings:
    """How faces are found and cut."""

    detector: str | None = None  # blazeface[-full|-room|-both|-wide] or haar; None: faces.detect.DEFAULT
    detector_model: str | None = None  # a BlazeFace .tflite file given directly
    align: bool = True  # level the eyes before cutting the face (detectors with keypoints)
    frame_workers: bool = True  # with a detector that has twins, one worker per thread analyses whole frames
    detect_width: int = 320  # haar: the cascade searches a copy this wide
    detect_every: int = WIDE_EVERY  # a whole search every N frames: haar's (local between), blazeface-wide's wide one


@dataclass(frozen=True)
class OutputSettings:
    """The files (or stdout, or a window) a run writes its results to."""

    headless: bool = False  # no window
    json_out: str | None = None  # a file (appended), "-" for stdout
    json_max_mb: float = 100.0  # rotate the JSON file at this size (0: never)
    json_keep: int = 5  # rotated JSON files kept beside the live one
    save: str | None = None  # the annotated video


@dataclass(frozen=True)
class ServiceSettings:
    """What a device without a screen offers: a web view, MQTT events, snapshots."""

    serve: str | None = None  # [HOST:]PORT; the host defaults to 127.0.0.1
    serve_token: str | None = None
    serve_token_file: str | None = None
    serve_fps: float = 10.0  # most frames per second encoded for viewers (only while someone watches)
    serve_cert: str | None = None  # PEM certificate (chain) for HTTPS on --serve
    serve_key: str | None = None  # its PEM private key
    mqtt: str | None = None  # mqtt://[user:pass@]host[:port]/prefix, or mqtts:// for TLS
    mqtt_ca: str | None = None  # mqtts: CA bundle to trust instead of the system's
    mqtt_cert: str | None = None  # mqtts: client certificate (PEM), for brokers that ask for one
    mqtt_key: str | None = None  # mqtts: the client certificate's private key (PEM)
    ha_discovery: bool = True  # announce the device to Home Assistant (retained configs); off: remove them
    ha_prefix: str = "homeassistant"  # Home Assistant's discovery prefix
    device_name: str | None = None  # the device's name in Home Assistant; None: the host name
    mqtt_every: float = 30.0  # seconds between summaries
    mqtt_queue: int = 1000  # events kept while the broker is away (the oldest dropped beyond)
    snapshot_dir: str | None = None
    snapshot_on: str | None = None  # the label that triggers a snapshot
    snapshot_hold: float = 1.0  # seconds a face holds the label first
    snapshot_every: float = 10.0  # at most one snapshot per this many seconds
    snapshot_keep: int = 200  # snapshots kept (oldest deleted beyond)
    snapshot_max_mb: float = 100.0  # and at most this many MB of them (0: no byte cap)
    snapshot_crop: bool = False  # also save the face crop


GROUPS = {"input": InputSettings, "faces": FaceSettings, "outputs": OutputSettings, "services": ServiceSettings}


@dataclass(frozen=True)
class RunConfig:
    """Everything ``hs-run`` can be told: the model, the interpreter, the run's limits, and the groups."""

    model: str | None = None  # a .tflite file or a packaged model's name; None: the packaged default
    model_options: ModelOptions = field(default_factory=ModelOptions)  # labels, size, roi... from the command line
    threads: int = field(default_factory=default_threads)
    delegate: str | None = None
    max_frames: int | None = None
    duration: float | None = None
    stats: bool = False
    stats_every_s: float = 5.0
    input: InputSettings = field(default_factory=InputSettings)
    faces: FaceSettings = field(default_factory=FaceSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    services: ServiceSettings = field(default_factory=ServiceSettings)

    @classmethod
    def from_flat(cls, options: Mapping[str, Any] | None = None, **more: Any) -> RunConfig:
        """The config of flat option names (the command line's and the TOML file's); an unknown name is a
        ``TypeError``, as a misspelt keyword is."""
        flat = {**(options or {}), **more}
        unknown = set(flat) - set(flat_names())
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        groups = {
            attr: group(**{f.name: flat[f.name] for f in fields(group) if f.name in flat})
            for attr, group in GROUPS.items()
        }
        own = {f.name: flat[f.name] for f in fields(cls) if f.name in flat and f.name not in GROUPS}
        return cls(**own, **groups)

    def with_flat(self, **changes: Any) -> RunConfig:
        """A copy with some flat-named settings changed."""
        out = self
        for name, value in changes.items():
            attr = _group_of(name)
            if attr is None:
                out = replace(out, **{name: value})
            else:
                out = replace(out, **{attr: replace(getattr(out, attr), **{name: value})})
        return out


def _group_of(name: str) -> str | None:
    for attr, group in GROUPS.items():
        if name in {f.name for f in fields(group)}:
            return attr
    if name not in {f.name for f in fields(RunConfig)} or name in GROUPS:
        raise TypeError(f"unknown setting: {name}")
    return None


def flat_names() -> list[str]:
    """Every setting's flat name, as the command line spells it (with ``_``)."""
    own = [f.name for f in fields(RunConfig) if f.name not in GROUPS]
    return own + [f.name for group in GROUPS.values() for f in fields(group)]


def flat_defaults() -> dict[str, Any]:
    """Each flat setting's default (those with a plain default value)."""
    out: dict[str, Any] = {}
    for f in [*fields(RunConfig), *(f for g in GROUPS.values() for f in fields(g))]:
        if f.name not in GROUPS and f.default is not MISSING:
            out[f.name] = f.default
    return out
