"""Images per second of the input pipeline alone and of training, side by side, so a starved model shows.

    python bench/train_throughput.py [--data DIR] [--image-size 256] [--batches 20]

Without --data it draws a synthetic data set in a temporary folder. Both numbers come from the same run
on the same files, so their ratio holds even on a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, time_calls, time_each


def _rate(ds, batches: int) -> float:
    """Images per second drawn from ``ds`` over ``batches`` batches, after one untimed (thread pools, first
    decode)."""
    it = iter(ds)
    sizes: list[int] = []
    seconds = time_each(lambda _: sizes.append(int(next(it)[0].shape[0])), range(batches + 1), warmup=1)
    return sum(sizes[1:]) / sum(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--arch", default="origin")
    args = ap.parse_args()
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()
    from train.config import TrainConfig
    from train.data import scan
    from train.model import build_model
    from train.pipeline import make_dataset
    from train.trainer import make_spec

    tmp = None
    data = args.data
    if data is None:
        from testkit.synthetic import write_dataset

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
    fit_s = time_calls(lambda: model.fit(ds, steps_per_epoch=args.batches, epochs=1, verbose=0), runs=1)[0]
    train_rate = args.batches * args.batch_size / fit_s
    rows.append(("training (pipeline + step)", train_rate))
    print(
        f"\n{args.arch} {args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, "
        f"{args.batches} batches, {len(paths)} files from {data}"
    )
    table = [[name, rate, rate / train_rate] for name, rate in rows]
    print_table(["stage", "images/s", "vs training (x)"], table, ["", ".0f", ".1f"])
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
