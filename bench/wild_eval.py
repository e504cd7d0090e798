"""Score model files on every development source and on the stage clip, through the runtime, side by side.

    python bench/wild_eval.py [MODEL ...] [--no-clip] [--json out.json]

With no MODEL: the packaged default beside the previous binary model. Each model is scored on
- FER+ valid (majority of the 10 votes, ties dropped), SFEW val, and the NHFI hold-out (the same seeded
  10% that ``hs-train --source nhfi=...`` keeps out), each face classified whole as in training;
- SFEW val and the NHFI hold-out again as the device sees them (rows ``..._device``): the default detector
  runs on each picture and the largest face it finds is cut as ``hs-run`` cuts it (its crop rule, eyes
  levelled). These are the numbers a camera gets; the whole pictures are framed unlike a camera's crop
  (SFEW's are taller than wide, NHFI's hold more than the face);
- ``face_clip.mp4`` through ``hs-run`` (detector, crop, tracker) against ``face_clip_labels.tsv``.
Rows: happy vs sad balanced accuracy and happy recall (by score), how neutral faces and faces of other
expressions are labelled, expected calibration error of the top label, and on the clip the share of
face-frames labelled as a person would allow.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, FACE_CLIP, FACE_CLIP_LABELS, FERPLUS, MODELS, NHFI, SFEW, print_table
from train.sources import FERPLUS_NOISE, FERPLUS_VOTES

EXPRESSIONS = (*FERPLUS_VOTES, *FERPLUS_NOISE)  # the vote file's columns, in its order
GROUP = {"happiness": "happy", "sadness": "sad", "neutral": "neutral"}  # everything else: 'other'
GROUPS = ("happy", "neutral", "sad", "other")


def ferplus_valid() -> list[tuple[Path, str]]:
    """FER+ valid faces and their majority group (ties and 'unknown'/'not a face' majorities dropped)."""
    out = []
    with (FERPLUS / "valid.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            votes = np.array([int(row[k]) for k in EXPRESSIONS])
            top = np.flatnonzero(votes == votes.max())
            if len(top) != 1 or EXPRESSIONS[top[0]] in ("unknown", "not_face"):
                continue
            out.append((FERPLUS / "valid" / row["file"], GROUP.get(EXPRESSIONS[top[0]], "other")))
    return out


def folder_faces(root: Path) -> list[tuple[Path, str]]:
    return [
        (f, d.name if d.name in GROUPS[:3] else "other")
        for d in sorted(p for p in root.iterdir() if p.is_dir())
        for f in sorted(d.iterdir())
        if f.is_file()
    ]


def nhfi_holdout(fraction: float = 0.1, seed: int = 0) -> list[tuple[Path, str]]:
    """The hold-out ``hs-train --source nhfi=...`` keeps out (``train.sources.holdout_mask``): same files."""
    from train.sources import holdout_mask

    faces = folder_faces(NHFI)
    mask = holdout_mask(np.array([GROUPS.index(g) for _, g in faces]), fraction, seed)
    return [f for f, held in zip(faces, mask, strict=True) if held]


def crop_scores(clf, faces: list[tuple[Path, str]]) -> dict:
    """The runtime's probabilities for each whole face image, and the source_metrics of them."""
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.preprocess import region_pixels

    probs, groups = [], []
    for f, g in faces:
        rgb, _ = read_image(f)
        if rgb is None:
            continue
        probs.append(clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0])
        groups.append(g)
    return score_probs(clf, probs, groups)


def detected(faces: list[tuple[Path, str]]) -> list:
    """(frame, face, group) for each picture where the default detector finds a face: the largest one, as
    ``hs-run`` would find it (a whole search: the pictures are unrelated)."""
    from edge_runtime.config import RunConfig
    from edge_runtime.io.imageio import read_image
    from edge_runtime.io.sources import Frame
    from edge_runtime.run.build import build_classifier, build_pipeline

    cfg = RunConfig.from_flat(source="x", threads=1)
    pipe = build_pipeline(cfg, build_classifier(cfg), [])
    out = []
    for i, (path, group) in enumerate(faces):
        rgb, _ = read_image(path)
        if rgb is None:
            continue
        frame = Frame(rgb, i, 0.0, str(path), order="RGB", clock=float(i))
        found = [f for f in pipe.faces(frame, pipe.lanes[0], True) if f is not None]
        if found:
            out.append((frame, max(found, key=lambda f: f.box[2] * f.box[3]), group))
    return out


def cut_scores(model: Path, cuts: list, align: bool = True, **options) -> dict:
    """``detected``'s faces cut as ``hs-run`` cuts them for ``model`` (its crop rule; eyes levelled or
    not) and scored like whole pictures."""
    from edge_runtime.config import RunConfig
    from edge_runtime.run.build import build_classifier, build_pipeline

    cfg = RunConfig.from_flat(model=str(model), source="x", threads=1, align=align, **options)
    pipe = build_pipeline(cfg, build_classifier(cfg), [])
    probs = [pipe.classifier.classify(pipe.pixels(frame, face)[None])[0] for frame, face, _ in cuts]
    return score_probs(pipe.classifier, probs, [g for *_, g in cuts])


def score_probs(clf, probs: list[np.ndarray], groups: list[str]) -> dict:
    """One row of scores for faces of known groups from their probabilities, decided by the model's rule."""
    from edge_runtime.model.decision import decide_indices
    from train.source_metrics import expected_calibration_error, happy_sad

    labels = list(clf.info.labels)
    p, grp = np.asarray(probs, np.float64).reshape(len(probs), len(labels)), np.asarray(groups)
    said = decide_indices(p, clf.info.threshold, clf.info.uncertain_band)
    names = np.array([*labels, "uncertain"])[said]
    row: dict = {"n": len(grp)}
    known = np.isin(grp, labels)
    truth = np.array([labels.index(g) if g in labels else -1 for g in grp])
    hs = happy_sad(p[known], truth[known], labels)
    if hs:
        row.update({"hs_bal": hs["balanced_accuracy"], "happy_recall": hs["happy_recall"], "hs_auc": hs["roc_auc"]})
    row["ece"] = expected_calibration_error(p[known], truth[known]) if known.any() else float("nan")
    for g in ("neutral", "other"):
        m = grp == g
        if m.any():
            for lab in ("happy", "sad", "uncertain"):
                row[f"{g}->{lab}"] = float(np.mean(names[m] == lab))
    outs = [*labels, "uncertain"]
    present = [g for g in GROUPS if (grp == g).any()]
    row["confusion"] = {g: {o: int(np.sum((grp == g) & (names == o))) for o in outs} for g in present}
    return row


def clip_ranges() -> list[tuple[int, int, int, int, str]]:
    """``face_clip_labels.tsv``: (first frame, last frame, x_min, x_max, expected) per labelled range."""
    with FACE_CLIP_LABELS.open() as f:
        return [
            (int(r["start_frame"]), int(r["end_frame"]), int(r["x_min"]), int(r["x_max"]), r["expected"])
            for r in csv.DictReader(f, delimiter="\t")
        ]


def clip_scores(model: Path) -> dict:
    """hs-run on the clip; each face-frame in a labelled range and region checked against the label."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "edge_runtime.cli.hs_run",
            "--model",
            str(model),
            "--source",
            str(FACE_CLIP),
            "--headless",
            "--json",
            str(out),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return clip_tally(rows)


def clip_tally(rows: list[dict]) -> dict:
    """Rows of the clip (``FrameResult.to_dict()``, hs-run's JSON Lines): the face-frames in each labelled range
    and region, and the shares labelled happy (happy ranges) and sad (neutral and not-sad ranges)."""
    ranges = clip_ranges()
    tally: dict[str, list[str]] = {"happy": [], "neutral": [], "not_sad": []}
    frames_with_face = 0
    for row in rows:
        frames_with_face += bool(row.get("results"))
        for res in row.get("results", []):
            x, _, w, _ = res["box"]
            cx = x + w / 2
            for a, b, x0, x1, want in ranges:
                if a <= row["frame"] <= b and x0 <= cx <= x1:
                    tally[want].append(res["label"])
    share = lambda labs, lab: float(np.mean([v == lab for v in labs])) if labs else float("nan")  # noqa: E731
    return {
        "clip_happy->happy": share(tally["happy"], "happy"),
        "clip_neutral->sad": share(tally["neutral"], "sad"),
        "clip_not_sad->sad": share(tally["not_sad"], "sad"),
        "clip_face_frames": sum(len(v) for v in tally.values()),
        "clip_frames_with_face": frames_with_face / max(1, len(rows)),
    }


def evaluate(model: Path, clip: bool, found: dict[str, list]) -> dict[str, dict]:
    """``found``: ``detected`` faces by row name (``..._device``), searched once for every model scored."""
    from edge_runtime.model.classifier import load_classifier

    clf = load_classifier(model)
    out = {
        "ferplus_valid": crop_scores(clf, ferplus_valid()),
        "sfew_val": crop_scores(clf, folder_faces(SFEW / "val")),
        "nhfi_holdout": crop_scores(clf, nhfi_holdout()),
        **{name: cut_scores(model, cuts) for name, cuts in found.items()},
    }
    if clip:
        out["face_clip"] = clip_scores(model)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--no-clip", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not FERPLUS.is_dir():
        sys.exit(f"wild_eval: no data at {DATA}")
    models = args.models or [MODELS / "happysad_int8.tflite", MODELS / "happysad_wild_int8.tflite"]
    missing = [m for m in models if not m.is_file()]
    if missing:
        sys.exit(f"wild_eval: model not found: {missing[0]}")
    found = {"sfew_val_device": detected(folder_faces(SFEW / "val")), "nhfi_holdout_device": detected(nhfi_holdout())}
    results = {str(m): evaluate(m, not args.no_clip, found) for m in models}
    keys = sorted({(s, k) for r in results.values() for s, row in r.items() for k in row if k != "confusion"})
    rows = [[s, k, *(results[str(m)].get(s, {}).get(k) for m in models)] for s, k in keys]
    confusion = {
        str(m): {s: row["confusion"] for s, row in r.items() if "confusion" in row} for m, r in results.items()
    }
    names = [m.name for m in models]
    header = ["source", "metric", *(names if len(set(names)) == len(names) else map(str, models))]
    print_table(header, rows, json_path=args.json, meta={"models": [str(m) for m in models], "confusion": confusion})


if __name__ == "__main__":
    main()
