"""Pick the tf.distribute strategy: one device, all local devices (mirrored), or many machines."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from .config import Distribute

if TYPE_CHECKING:  # TensorFlow is imported where a strategy is made, so ``is_chief`` needs none
    import tensorflow as tf

STRATEGIES = tuple(d.value for d in Distribute)


def split_cpu(n: int) -> None:
    """Expose the CPU as ``n`` logical devices (lets MirroredStrategy be tested without GPUs).

    Must run before TensorFlow initialises its devices; later calls are ignored.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        pass


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """``mirrored``: MirroredStrategy over local GPUs (else the logical CPUs); ``multiworker``: one replica
    group per machine in ``TF_CONFIG``, collective all-reduce between them."""
    import tensorflow as tf

    if kind not in STRATEGIES:
        raise ValueError(f"--distribute must be one of {', '.join(STRATEGIES)}")
    n = int(os.environ.get("HS_LOGICAL_CPUS", "0") or 0)
    if n > 1:
        split_cpu(n)
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if "TF_CONFIG" not in os.environ:
        raise ValueError("--distribute multiworker needs TF_CONFIG describing the cluster and this worker")
    tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def tf_config() -> dict:
    """The cluster description in ``TF_CONFIG`` ({} when unset); a clear ValueError when it is not JSON."""
    try:
        return json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc


def is_chief() -> bool:
    """Only the chief (worker 0, or a single machine) writes the run folder's files."""
    cfg = tf_config()
    task = cfg.get("task", {})
    kind = task.get("type", "worker")
    return kind == "chief" or (
        kind == "worker" and int(task.get("index", 0)) == 0 and "chief" not in cfg.get("cluster", {})
    )


def writes_run_folder(kind: str) -> bool:
    """Whether this process writes the run folder: always, except a non-chief worker of a multiworker run."""
    return kind != Distribute.multiworker.value or is_chief()
