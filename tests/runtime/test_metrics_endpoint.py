"""/metrics: the Prometheus text the web view serves, parsed with the official client library's parser and
checked against what was fed; the token; escaping; series that stay bounded; scrapes during a busy feed."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from edge_runtime.outputs.live import LiveStatus
from edge_runtime.outputs.metrics import BUCKETS, MAX_LABELS, MAX_STAGES, Metrics, escape_label, number
from edge_runtime.outputs.web import WebSink
from edge_runtime.results import FaceResult, FrameResult
from tests.runtime.headless_helpers import REPO, get

pytestmark = pytest.mark.timeout(60)
parser = pytest.importorskip("prometheus_client.parser")

SECONDS = {"detect": 0.002, "preprocess": 0.0003, "infer": 0.004, "postprocess": 0.00005}


def record(i: int, labels: tuple[str, ...] = ("happy", "sad"), seconds: dict[str, float] | None = None) -> FrameResult:
    faces = tuple(
        FaceResult((10 + 50 * n, 10, 40, 40), label, 0.9, {"happy": 0.5, "sad": 0.5}, n + 1)
        for n, label in enumerate(labels)
    )
    return FrameResult(i, time.time(), "test", faces, seconds=dict(SECONDS if seconds is None else seconds))


def parse(text: str) -> tuple[dict[str, Any], dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """(families by name, sample values by (sample name, sorted labels))."""
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    return families, samples


class FakeSource:
    state = "reconnecting"
    reconnects = 3
    dropped = 7


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_values_match_what_was_fed():
    clock = Clock()
    m = Metrics(
        FakeSource(),
        labels=("happy", "sad"),
        write_errors=lambda: 2,
        model_file="happysad_int8.tflite",
        model_version="0.2.0",
        clock=clock,
    )
    for i in range(5):
        m.emit(record(i), None)
        clock.now += 0.1  # 10 frames a second on the run's own clock
    clock.now -= 0.1
    families, samples = parse(m.render(viewers=1))

    assert samples[("hs_frames_total", ())] == 5
    assert samples[("hs_faces_total", ())] == 10
    assert samples[("hs_labels_total", (("label", "happy"),))] == 5
    assert samples[("hs_labels_total", (("label", "sad"),))] == 5
    assert samples[("hs_labels_total", (("label", "uncertain"),))] == 0  # every model label is a series from start
    assert samples[("hs_faces_in_view", ())] == 2
    assert samples[("hs_fps", ())] == pytest.approx(10.0)
    assert samples[("hs_uptime_seconds", ())] == pytest.approx(0.4)
    assert samples[("hs_source_reconnects_total", ())] == 3
    assert samples[("hs_source_dropped_frames_total", ())] == 7
    assert samples[("hs_source_up", ())] == 0  # reconnecting
    assert samples[("hs_write_errors_total", ())] == 2
    assert samples[("hs_stream_viewers", ())] == 1
    assert samples[("hs_model_info", (("file", "happysad_int8.tflite"), ("version", "0.2.0")))] == 1

    kinds = {name: f.type for name, f in families.items()}
    assert kinds["hs_frames"] == kinds["hs_labels"] == kinds["hs_source_reconnects"] == "counter"
    assert kinds["hs_stage_seconds"] == "histogram" and kinds["hs_fps"] == "gauge"
    assert all(f.documentation for f in families.values())  # every family has its HELP line

    for stage, seconds in SECONDS.items():
        buckets = [
            (float(dict(s.labels)["le"]), s.value)
            for s in families["hs_stage_seconds"].samples
            if s.name == "hs_stage_seconds_bucket" and s.labels["stage"] == stage
        ]
        assert [b for b, _ in buckets] == [*BUCKETS, math.inf]
        counts = [n for _, n in buckets]
        assert counts == sorted(counts), counts  # cumulative
        assert counts[-1] == samples[("hs_stage_seconds_count", (("stage", stage),))] == 5  # +Inf = count
        assert all(n == (5 if le >= seconds else 0) for le, n in buckets), (stage, buckets)
        assert samples[("hs_stage_seconds_sum", (("stage", stage),))] == pytest.approx(5 * seconds)


def test_nothing_fed_yet_and_no_source():
    text = Metrics().render()
    _, samples = parse(text)
    assert samples[("hs_frames_total", ())] == 0 and samples[("hs_fps", ())] == 0
    assert samples[("hs_source_reconnects_total", ())] == 0 and samples[("hs_source_up", ())] == 1
    assert samples[("hs_write_errors_total", ())] == 0
    assert samples[("hs_stage_seconds_count", (("stage", "infer"),))] == 0
    assert "hs_model_info" not in text and "hs_stream_viewers" not in text
    assert text.endswith("\n") and "_total_total" not in text


def test_model_info_follows_the_results_model_unless_given():
    """Without model_file, hs_model_info is the newest result's ``model`` (name#hash), so a reload shows."""
    import dataclasses

    if "model" not in {f.name for f in dataclasses.fields(FrameResult)}:
        pytest.skip("FrameResult carries no model name")
    m = Metrics()
    assert "hs_model_info" not in m.render()
    for name in ("a.tflite#1a2b3c4d", "b.tflite#5e6f7a8b"):
        m.emit(dataclasses.replace(record(0), model=name), None)
        _, samples = parse(m.render())
        infos = [k for k in samples if k[0] == "hs_model_info"]
        file, _, version = name.partition("#")
        assert infos == [("hs_model_info", (("file", file), ("version", version)))], infos
    given = Metrics(model_file="c.tflite", model_version="9")
    given.emit(dataclasses.replace(record(0), model="a.tflite#1a2b3c4d"), None)
    assert 'hs_model_info{file="c.tflite",version="9"} 1' in given.render()


def test_label_values_are_escaped():
    name = 'we"ird\\model\nname.tflite'
    text = Metrics(model_file=name, model_version="v\\1").render()
    assert 'file="we\\"ird\\\\model\\nname.tflite"' in text
    _, samples = parse(text)
    assert samples[("hs_model_info", (("file", name), ("version", "v\\1")))] == 1
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert [number(x) for x in (5, 0.25, 1.0, math.inf, 1e-4, True)] == ["5", "0.25", "1", "+Inf", "0.0001", "1"]


def test_series_stay_bounded():
    """Labels only from the model's set (else 'other'); at most MAX_LABELS without it; at most MAX_STAGES."""
    fixed = Metrics(labels=("happy", "sad"))
    free = Metrics()
    for i in range(200):
        odd = {f"stage{i}": 0.001, "infer": 0.002}
        fixed.emit(record(i, (f"label{i}", "happy"), odd), None)
        free.emit(record(i, (f"label{i}",), odd), None)
    _, samples = parse(fixed.render())
    labels = {dict(k[1])["label"]: v for k, v in samples.items() if k[0] == "hs_labels_total"}
    assert labels == {"happy": 200, "sad": 0, "uncertain": 0, "other": 200}
    _, samples = parse(free.render())
    labels = {dict(k[1])["label"]: v for k, v in samples.items() if k[0] == "hs_labels_total"}
    assert len(labels) == MAX_LABELS + 1 and labels["other"] == 200 - MAX_LABELS
    for m in (fixed, free):
        _, samples = parse(m.render())
        stages = {dict(k[1])["stage"] for k in samples if k[0] == "hs_stage_seconds_count"}
        assert len(stages) == MAX_STAGES and {"detect", "infer"} <= stages
        assert samples[("hs_stage_seconds_count", (("stage", "infer"),))] == 200
    weird = Metrics()
    weird.emit(record(0, seconds={"infer": float("nan"), "detect": -1.0}), None)  # skipped; clamped to 0
    _, samples = parse(weird.render())
    assert samples[("hs_stage_seconds_count", (("stage", "infer"),))] == 0
    assert samples[("hs_stage_seconds_bucket", (("le", "0.0001"), ("stage", "detect")))] == 1


def test_scrapes_during_a_busy_feed_are_consistent():
    """The sink thread writes while scrapes read: every scrape is one moment (frames = each stage's count,
    faces = 2 x frames) and the counts never go down."""
    m = Metrics(labels=("happy", "sad"))
    done = threading.Event()
    n = 3000

    def feed() -> None:
        for i in range(n):
            m.emit(record(i), None)
        done.set()

    t = threading.Thread(target=feed)
    t.start()
    last, scrapes = -1.0, 0
    while True:
        finished = done.is_set()  # read before the scrape: the scrape after the last frame ends the loop
        _, samples = parse(m.render())
        frames = samples[("hs_frames_total", ())]
        assert frames >= last
        assert samples[("hs_faces_total", ())] == 2 * frames
        for stage in SECONDS:
            assert samples[("hs_stage_seconds_count", (("stage", stage),))] == frames
        last, scrapes = frames, scrapes + 1
        if finished:
            break
    t.join()
    assert last == n and scrapes >= 1


class Web:
    def __init__(self, token: str | None) -> None:
        self.status = LiveStatus(lambda: "live")
        self.metrics = Metrics(labels=("happy", "sad"))
        self.sink = WebSink("127.0.0.1:0", self.status, lambda m: None, token=token, metrics=self.metrics)
        self.port = self.sink.server.port

    def feed(self, n: int) -> None:
        for i in range(n):
            for s in (self.status, self.metrics, self.sink):
                s.emit(record(i), None)

    def close(self) -> None:
        self.sink.close(True)


def test_metrics_endpoint_behind_the_token():
    w = Web(token="s3cret")
    try:
        w.feed(4)
        assert get(w.port, "/metrics")[0] == 401
        assert get(w.port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        assert get(w.port, "/metrics?token=wrong")[0] == 401
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
        try:
            conn.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret"})
            resp = conn.getresponse()
            body = resp.read().decode()
            assert resp.status == 200
            assert resp.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        finally:
            conn.close()
        _, samples = parse(body)
        assert samples[("hs_frames_total", ())] == 4 and samples[("hs_stream_viewers", ())] == 0
    finally:
        w.close()


def test_without_a_collector_there_is_no_metrics_page():
    sink = WebSink("127.0.0.1:0", LiveStatus(lambda: "live"), lambda m: None)
    try:
        assert get(sink.server.port, "/metrics")[0] == 404
    finally:
        sink.close(True)


def test_the_runtime_does_not_need_the_client_library():
    code = (
        "import sys; import edge_runtime.outputs.metrics, edge_runtime.outputs.web, edge_runtime.outputs.services;"
        "sys.exit('prometheus_client' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0
