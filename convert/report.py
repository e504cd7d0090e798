"""The parity report: a printed table and conversion_report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_runtime.io.atomic import write_json

REPORT_FILE = "conversion_report.json"


def _f(v: Any, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(report: dict[str, Any]) -> str:
    """One row per model (Keras first): size, accuracy, balanced accuracy, per-class F1, ROC AUC, agreement."""
    labels = report["labels"]
    head = (
        ["model", "size KB", "acc", "bal.acc", "drop pt"]
        + [f"F1 {c}" for c in labels]
        + ["ROC AUC", "agree", "max|dp|", "runtime", "check"]
    )
    rows = [head]
    for name, m in report["models"].items():
        met = m["metrics"]
        rows.append(
            [
                name,
                _f(m.get("size_bytes") and m["size_bytes"] / 1024, "{:.1f}"),
                _f(met["accuracy"]),
                _f(met["balanced_accuracy"]),
                _f(m.get("balanced_accuracy_drop_points"), "{:+.2f}"),
            ]
            + [_f(met["f1"].get(c)) for c in labels]
            + [
                _f(met["roc_auc"]),
                _f(m.get("agreement")),
                _f(m.get("max_abs_prob_diff"), "{:.4f}"),
                m.get("min_runtime_version") or "-",
                m.get("check", "-"),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    for name, m in report["models"].items():
        if m.get("near_constant"):
            notes.append(f"ALARM {name}: {m['near_constant']}")
        if m.get("check") == "FAILED":
            notes.append(f"FAILED {name}: {m['check_reason']}; kept as {m['file']}")
    test = report["test"]
    cal = report.get("calibration")
    foot = [f"test split: {test['n']} images" + (f" ({test['skipped']} unusable skipped)" if test["skipped"] else "")]
    if report.get("flip_average"):
        foot.append("every score is the mean over each face and its mirror (flip_average), as the device runs it")
    if cal:
        foot.append(f"int8 calibration: {cal['used']} images from {cal['source']} (asked for {cal['requested']})")
    return "\n".join([*lines, "", *foot, *notes])


def write(report: dict[str, Any], out_dir: str | Path) -> Path:
    return write_json(Path(out_dir) / REPORT_FILE, report)
