"""Distributed training on the CPU: two logical devices (mirrored), and two worker processes (multiworker)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_train_args

ROOT = Path(__file__).resolve().parents[1]
ARGS = tiny_train_args(epochs=1, batch_size=8, augment=False)


def _hs_train(args, env_extra, **kw):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "train.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.distributed
def test_mirrored_strategy_over_two_logical_cpus(tiny_data, tmp_path):
    proc = _hs_train(
        ["--data", str(tiny_data), "--out", str(tmp_path / "m"), "--distribute", "mirrored", *ARGS],
        {"HS_LOGICAL_CPUS": "2"},
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert _metrics(tmp_path / "m")["replicas"] == 2  # the batch was really split over two devices
    assert (tmp_path / "m" / "model.keras").is_file()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.distributed
def test_multiworker_strategy_with_two_local_workers(tiny_data, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    # Each worker gets its own --out (as on two machines), so what each one wrote can be told apart.
    procs = [
        _hs_train(
            ["--data", str(tiny_data), "--out", str(tmp_path / f"mw{i}"), "--distribute", "multiworker", *ARGS],
            {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multiworker training did not finish")
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-1500:] for o in outs)
    assert (tmp_path / "mw0" / "model.keras").is_file()
    assert _metrics(tmp_path / "mw0")["replicas"] == 2  # one replica per worker, gradients all-reduced
    assert not (tmp_path / "mw1").exists(), "only the chief (worker 0) writes a run folder"


def test_multiworker_without_tf_config_is_a_clear_error(tiny_data, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.cli",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "x"),
            "--distribute",
            "multiworker",
            *ARGS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("hs-train: error: --distribute multiworker needs TF_CONFIG")
