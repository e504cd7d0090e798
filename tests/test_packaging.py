"""Two distributions from one repository: the device runtime's wheel holds the runtime and its models and
nothing of training; the workstation package holds train/ and convert/ and depends on the runtime."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(project: Path, out: Path) -> Path:
    """The wheel of a clean copy of ``project``: setuptools would ship whatever a stale build/lib holds."""
    src = out / "src"
    shutil.copytree(project, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*", "runs"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> tuple[set[str], dict[str, list[str]]]:
    """(file names, METADATA headers) of a wheel."""
    z = zipfile.ZipFile(wheel)
    names = set(z.namelist())
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    msg = Parser().parsestr(z.read(meta_name).decode())
    return names, {k: msg.get_all(k) or [] for k in ("Name", "Version", "Requires-Dist")}


@pytest.fixture(scope="module")
def runtime_wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT / "edge_runtime", tmp_path_factory.mktemp("runtime_wheel"))


def test_runtime_wheel_is_the_runtime_with_its_models_and_no_training(runtime_wheel):
    names, meta = wheel_metadata(runtime_wheel)
    assert meta["Name"] == ["happysad-edge-runtime"]
    for f in (
        "happysad_wild_int8.tflite",
        "happysad_wild_int8.json",
        "happysad_int8.tflite",
        "happysad_int8.json",
        "happysad_neutral_int8.tflite",
        "MODEL_CARD.md",
    ):
        assert f"edge_runtime/models/{f}" in names
    assert "edge_runtime/cli/hs_run.py" in names and "edge_runtime/__init__.py" in names
    assert not [n for n in names if n.startswith(("train/", "convert/", "tests/"))]
    assert not [n for n in names if n.endswith(("pyproject.toml", ".egg-info"))]
    requires = " ".join(meta["Requires-Dist"]).lower()
    assert "ai-edge-litert" in requires and "opencv-python-headless" in requires
    assert "tensorflow" not in requires and "keras" not in requires
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(runtime_wheel).read(entry).decode()
    assert "hs-run" in scripts and "hs-bench" in scripts and "hs-train" not in scripts


def test_workstation_wheel_depends_on_the_runtime_and_ships_no_runtime(tmp_path, runtime_wheel):
    names, meta = wheel_metadata(build_wheel(ROOT, tmp_path))
    assert meta["Name"] == ["happysad-edge"]
    assert any(n.startswith("train/") for n in names) and any(n.startswith("convert/") for n in names)
    assert not [n for n in names if n.startswith("edge_runtime/")]
    assert any(r.startswith("happysad-edge-runtime") for r in meta["Requires-Dist"])
    assert any(r.startswith("tensorflow") for r in meta["Requires-Dist"])
    assert meta["Version"] == wheel_metadata(runtime_wheel)[1]["Version"]  # one version, edge_runtime/__init__.py


def test_runtime_project_declares_only_runtime_dependencies():
    project = tomllib.loads((ROOT / "edge_runtime" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "happysad-edge-runtime"
    assert not [d for d in project["dependencies"] if d.split(">")[0].split("=")[0] in ("tensorflow", "keras")]


def test_runtime_tests_import_nothing_of_training():
    """tests/runtime must run where only the runtime is installed (a Pi, make pi-check): no module of it may
    import train, convert, TensorFlow or Keras, at the top or inside a test (make_fixtures.py is the one that
    does, on a workstation, once)."""
    import ast

    banned = {"train", "convert", "tensorflow", "keras", "tf_keras"}
    offenders = []
    for path in sorted((ROOT / "tests" / "runtime").glob("*.py")):
        if path.name == "make_fixtures.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in banned]
    assert not offenders, offenders
