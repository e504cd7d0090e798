"""A training loop for MultiWorkerMirroredStrategy, where Keras 3's ``fit`` fails on PerReplica values
(keras-team/keras#20585). One step per global batch, losses averaged over the global batch, and the same
RunState callback as ``fit`` so checkpoints, early stopping and resume behave alike."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from .callbacks import RunState
from .metrics import output_labels


def _per_example_loss(y, p, num_classes: int):
    if num_classes == 2:
        return keras.losses.binary_crossentropy(tf.reshape(tf.cast(y, p.dtype), (-1, 1)), p)
    return keras.losses.sparse_categorical_crossentropy(y, p)


def correct_count(y, p, num_classes: int, threshold: float):
    """How many predictions are right, by the same decision rule (and threshold) as the device's."""

    def labels(out: np.ndarray) -> np.ndarray:
        return output_labels(out, num_classes, threshold)

    pred = tf.numpy_function(labels, [tf.stop_gradient(p)], tf.int64, stateful=False)
    return tf.reduce_sum(tf.cast(tf.equal(pred, tf.cast(y, tf.int64)), tf.float32))


def fit_distributed(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    epochs: int,
    initial_epoch: int,
    global_batch: int,
    num_classes: int,
    class_weight: dict[int, float] | None,
    state: RunState,
    threshold: float,
    verbose: int = 1,
) -> None:
    """Train ``model`` (built and compiled in ``strategy.scope()``) and report each epoch to ``state``."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dist_train = strategy.experimental_distribute_dataset(train_ds.with_options(options))
    dist_val = strategy.experimental_distribute_dataset(val_ds.with_options(options))
    weights = tf.constant([class_weight.get(c, 1.0) if class_weight else 1.0 for c in range(num_classes)], tf.float32)
    optimizer = model.optimizer

    def train_step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            per_example = _per_example_loss(y, p, num_classes) * tf.gather(weights, y)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss * global_batch, correct_count(y, p, num_classes, threshold), tf.cast(tf.shape(y)[0], tf.float32)

    def eval_step(x, y):
        p = model(x, training=False)
        return (
            tf.reduce_sum(_per_example_loss(y, p, num_classes)),
            correct_count(y, p, num_classes, threshold),
            tf.cast(tf.shape(y)[0], tf.float32),
        )

    @tf.function
    def run(step, x, y):
        out = strategy.run(step, args=(x, y))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out]

    state.set_model(model)
    for epoch in range(initial_epoch, epochs):
        sums = {"train": [0.0, 0.0, 0.0], "val": [0.0, 0.0, 0.0]}
        for name, data, step in (("train", dist_train, train_step), ("val", dist_val, eval_step)):
            for x, y in data:
                for i, v in enumerate(run(step, x, y)):
                    sums[name][i] += float(v)
        loss, correct, n = sums["train"]
        vloss, vcorrect, vn = sums["val"]
        logs = {
            "accuracy": correct / max(n, 1),
            "loss": loss / max(n, 1),
            "val_accuracy": vcorrect / max(vn, 1),
            "val_loss": vloss / max(vn, 1) if vn else math.inf,
        }
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
        state.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
