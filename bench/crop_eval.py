"""The crop on real faces: eyes levelled or upright, and the crop's size, on SFEW and on the stage clip.

    python bench/crop_eval.py [MODEL] [--margins 0.03,0.1,0.2] [--n 0] [--no-clip] [--json out.json]

SFEW val faces (films: tilted, turned, dark) are whole aligned crops, so each is first classified whole, as
in training; then the runtime's default detector runs on it and the largest face it finds is cut as hs-run
cuts it (``Pipeline.pixels``: the detector's measured crop rule), levelled (``--align``) or upright, at the
model's own margin and at each of ``--margins`` (beside the whole images of the faces it finds, the same
faces). SFEW's faces fill their pictures, so an upright square larger than the picture is cut at its edges:
the upright rows differ little by margin there. ``face_clip.mp4`` runs through the whole pipeline
(detector, cut, tracker) for each setting, scored against ``face_clip_labels.tsv``. A margin larger than the
model's cuts a larger square (more of the head, and of a neighbour's face in an audience).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FACE_CLIP, FACE_CLIP_LABELS, SFEW, print_table
from bench.wild_eval import clip_tally, cut_scores, detected, folder_faces, score_probs


def sfew_rows(model: Path, margins: list[float | None], n: int) -> list[list[object]]:
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.classifier import ModelOptions, load_classifier
    from edge_runtime.model.preprocess import region_pixels

    faces = folder_faces(SFEW / "val")
    if n:
        faces = [f for g in ("happy", "neutral", "sad", "other") for f in [x for x in faces if x[1] == g][:n]]
    clf = load_classifier(model)
    whole: dict[str, np.ndarray] = {}
    for f, _ in faces:
        rgb, _ = read_image(f)
        if rgb is not None:
            whole[str(f)] = clf.classify(region_pixels(rgb, None, clf.spec, "RGB")[None])[0]
    read = [(f, g) for f, g in faces if str(f) in whole]
    rows: list[list[object]] = [
        [
            "whole image (as trained)",
            "-",
            "-",
            len(read),
            *_cells(score_probs(clf, [whole[str(f)] for f, _ in read], [g for _, g in read])),
        ]
    ]
    cuts = detected(read)  # the faces the detector finds: the same in every setting, only the cut differs
    row = score_probs(clf, [whole[frame.source] for frame, _, _ in cuts], [g for *_, g in cuts])
    rows.append(["whole image, the faces the detector finds", "-", "-", len(cuts), *_cells(row)])
    for margin in margins:
        for align in (True, False):
            row = cut_scores(model, cuts, align, model_options=ModelOptions(margin=margin))
            rows.append(
                ["detector + cut", _margin(clf, margin), "levelled" if align else "upright", len(cuts), *_cells(row)]
            )
    return rows


def clip_rows(model: Path, margins: list[float | None]) -> list[list[object]]:
    from edge_runtime.config import RunConfig
    from edge_runtime.io.sources import open_source
    from edge_runtime.model.classifier import ModelOptions
    from edge_runtime.run.build import build_classifier, build_pipeline

    rows = []
    for margin in margins:
        for align in (True, False):
            cfg = RunConfig.from_flat(
                model=str(model), source=str(FACE_CLIP), align=align, model_options=ModelOptions(margin=margin)
            )
            clf = build_classifier(cfg)
            pipe = build_pipeline(cfg, clf, [])
            source = open_source(None, str(FACE_CLIP))
            try:
                got = clip_tally([result.to_dict() for result in pipe.stream(source)])
            finally:
                source.close()
            rows.append(
                [
                    _margin(clf, margin),
                    "levelled" if align else "upright",
                    got["clip_face_frames"],
                    got["clip_happy->happy"],
                    got["clip_neutral->sad"],
                    got["clip_not_sad->sad"],
                ]
            )
    return rows


def _margin(clf, margin: float | None) -> str:
    return f"{clf.spec.face_crop.margin:g} (model's)" if margin is None else f"{margin:g}"


def _cells(row: dict) -> list[object]:
    return [
        row.get("hs_bal"),
        row.get("happy_recall"),
        row.get("neutral->sad"),
        row.get("neutral->happy"),
        row.get("ece"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, default=None, help="a .tflite model (default: the packaged one)")
    ap.add_argument("--margins", default="0.1,0.2", help="margins to try besides the model's own")
    ap.add_argument("--n", type=int, default=0, help="SFEW faces per group (0: all)")
    ap.add_argument("--no-clip", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from edge_runtime.model.classifier import resolve_model

    model = args.model or resolve_model(None)
    if not model.is_file():
        sys.exit(f"crop_eval: model not found: {model}")
    if not SFEW.is_dir():
        sys.exit(f"crop_eval: no SFEW data at {SFEW}")
    try:
        margins: list[float | None] = [None, *(float(m) for m in args.margins.split(",") if m)]
    except ValueError:
        sys.exit(f"crop_eval: --margins takes numbers separated by commas, not {args.margins!r}")
    head = [
        "crop",
        "margin",
        "eyes",
        "faces",
        "happy vs sad bal.acc",
        "happy recall",
        "neutral->sad",
        "neutral->happy",
        "ECE",
    ]
    print(f"SFEW val, {model.name}:")
    print_table(
        head,
        sfew_rows(model, margins, args.n),
        ["", "", "", "d", ".3f", ".3f", ".3f", ".3f", ".3f"],
        json_path=args.json,
    )
    if not args.no_clip and FACE_CLIP.is_file() and FACE_CLIP_LABELS.is_file():
        print(f"\n{FACE_CLIP.name} through the pipeline, {model.name}:")
        print_table(
            ["margin", "eyes", "face-frames", "happy->happy", "neutral->sad", "not_sad->sad"],
            clip_rows(model, margins),
            ["", "", "d", ".3f", ".3f", ".3f"],
        )


if __name__ == "__main__":
    main()
