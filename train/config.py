"""Every setting of a training run in one dataclass, saved as config.json for exact reproduction.

The dataclass is the one source of each setting's default: ``hs-train`` takes its option defaults from
it and builds it from its parameters by field name (``from_options``), so no option is written twice.
The choices of the enumerated settings are the Enums below (the CLI shows and checks them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum, IntEnum, StrEnum
from pathlib import Path, PurePath
from typing import Any

from edge_runtime.io.imageio import MAX_PIXELS
from edge_runtime.model.spec import FaceCrop, PreprocessSpec


class Arch(StrEnum):
    origin = "origin"  # the origin documents' CNN
    compact = "compact"  # small, batch-normalised, for 48-96 px grey faces


class LrSchedule(StrEnum):
    constant = "constant"
    cosine = "cosine"


class Roi(StrEnum):
    face = "face"  # the device cuts a face box with its detector
    frame = "frame"  # the device feeds the whole frame


class Distribute(StrEnum):
    none = "none"
    mirrored = "mirrored"
    multiworker = "multiworker"


class ClassWeight(StrEnum):
    auto = "auto"  # balanced when classes differ in size
    none = "none"


class Channels(IntEnum):
    grey = 1
    rgb = 3


@dataclass
class TrainConfig:
    data: str = "data"
    out: str = "runs/latest"
    epochs: int = 10
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = LrSchedule.constant.value
    image_size: int = 256
    channels: int = Channels.rgb.value
    arch: str = Arch.origin.value
    dropout: float = 0.0
    weight_decay: float = 0.0
    width: float = 1.0  # compact net: filters and dense units scaled by this
    label_smoothing: float = 0.0
    ema_momentum: float = 0.0  # 0: off; else the EMA of the weights is what is validated and saved
    augment: bool = True
    augment_strength: float = 1.0
    random_erasing: float = 0.0  # probability per image of one erased rectangle (augmentation)
    flip_average: bool = False  # the device averages P of the crop and its mirror (recorded in the model)
    class_weight: str = ClassWeight.auto.value
    patience: int = 5
    classes: list[str] | None = None
    val_data: str | None = None
    test_data: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    roi: str = Roi.face.value
    margin: float = 0.15
    threshold: float = 0.5
    uncertain_band: float = 0.0
    distribute: str = Distribute.none.value
    sources: list[str] | None = None  # --source: labelled sources trained at once (train.wild)
    fold: str | None = None  # --source: the class every other expression counts as (e.g. neutral)
    workers: int = 1  # --source: threads that augment batches
    max_pixels: int = MAX_PIXELS  # an image declaring more is skipped (counted) before decoding
    finish: bool = False  # --source: make the model of a cut-short run from its last epoch's checkpoint
    source_cache: str | None = None  # --source: the loaded sources kept in (or read from) this .npz
    init_from: str | None = None  # --source: start from this .keras model's weights (fine-tuning)
    cache: bool = False
    resume: bool = False
    deterministic: bool = True
    verbose: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TrainConfig:
        """The config of the options named like its fields (others, e.g. ``quiet``, are ignored), with
        Enum members, paths and comma-separated class lists turned into config.json's plain values."""
        return cls(**{f.name: plain_value(f.name, options[f.name]) for f in fields(cls) if f.name in options})


def make_spec(cfg: TrainConfig) -> PreprocessSpec:
    """The preprocessing a run's model carries (size, colour, crop rule): one place for hs-train's two paths."""
    return PreprocessSpec.for_size(cfg.image_size, cfg.channels, face_crop=FaceCrop(roi=cfg.roi, margin=cfg.margin))


def defaults() -> TrainConfig:
    """Every field at its default: where ``hs-train`` takes its option defaults from."""
    return TrainConfig()


def plain_value(name: str, value: Any) -> Any:
    """A CLI value as config.json stores it: Enum -> its value, path -> str, "a, b" classes -> [a, b]."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if name == "classes" and isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()] or None
    return value
