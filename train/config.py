"""Every setting of a training run in one dataclass, saved as config.json for exact reproduction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    data: str
    out: str
    epochs: int = 10
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # constant | cosine
    image_size: int = 256
    channels: int = 3
    arch: str = "origin"
    dropout: float = 0.0
    weight_decay: float = 0.0
    augment: bool = True
    augment_strength: float = 1.0
    class_weight: str = "auto"  # auto (balanced when classes differ in size) | none
    patience: int = 5
    classes: list[str] | None = None
    val_data: str | None = None
    test_data: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    roi: str = "face"  # how the device should cut regions for this model: face | frame
    margin: float = 0.15
    threshold: float = 0.5
    uncertain_band: float = 0.0
    distribute: str = "none"
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
