"""Images per second of the input pipeline alone and of training, side by side, so a starved model shows.

    python bench/train_throughput.py [--data DIR] [--image-size 256] [--batches 20]

Without --data it draws a synthetic data set in a temporary folder. Both numbers come from the same run
on the same files, so their ratio holds even on a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.tfenv import quiet_tensorflow

quiet_tensorflow()


def _rate(ds, batches: int) -> float:
    it = iter(ds)
    next(it)  # warm-up: thread pools, first decode
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
        n += int(x.shape[0])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--arch", default="origin")
    args = ap.parse_args()

    from train.config import TrainConfig
    from train.data import scan
    from train.model import build_model
    from train.pipeline import make_dataset
    from train.trainer import make_spec

    tmp = None
    data = args.data
    if data is None:
        from train.synthetic import write_dataset

        tmp = tempfile.TemporaryDirectory()
        data = Path(tmp.name)
        write_dataset(data, n_per_class=(args.batches + 2) * args.batch_size // 2 + 1, size=128, seed=0)
    samples, _ = scan(data)
    paths, labels = [s.path for s in samples], [s.label for s in samples]
    spec = make_spec(TrainConfig(data=str(data), out="", image_size=args.image_size, channels=args.channels))
    rows = []
    for augment in (False, True):
        ds = make_dataset(paths, labels, spec, args.batch_size, shuffle=True, augment=augment).repeat()
        rows.append((f"input pipeline{' + augmentation' if augment else ''}", _rate(ds, args.batches)))
    model = build_model(args.image_size, args.channels, len(set(labels)), args.arch)
    model.compile("adam", "binary_crossentropy" if len(set(labels)) == 2 else "sparse_categorical_crossentropy")
    ds = make_dataset(paths, labels, spec, args.batch_size, shuffle=True, augment=True).repeat()
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # compile the step function
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=args.batches, epochs=1, verbose=0)
    train_rate = args.batches * args.batch_size / (time.perf_counter() - t0)
    rows.append(("training (pipeline + step)", train_rate))
    print(
        f"\n{args.arch} {args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, "
        f"{args.batches} batches, {len(paths)} files from {data}"
    )
    print(f"{'stage':<36}{'images/s':>10}{'vs training':>13}")
    for name, rate in rows:
        print(f"{name:<36}{rate:>10.0f}{rate / train_rate:>12.1f}x")
    pipe = rows[1][1]
    print(
        "verdict: "
        + (
            "input pipeline keeps up (training is compute-bound)"
            if pipe > 1.2 * train_rate
            else "STARVED: the input pipeline limits training"
        )
    )
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
