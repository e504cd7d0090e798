"""--serve in a real browser: headless Chromium (Debian's chromium + chromium-driver) opens the page, the
<img> receives MJPEG frames (naturalWidth > 0, and it changes) and the panel shows a label. Screenshots go
to runs/headless-screens/ (ignored by git) for the notes. Skips with the reason when there is no browser.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from tests.runtime.headless_helpers import REPO, get, start_hs_run, stop, wait_for
from tests.runtime.helpers import FACE_CLIP
from tests.runtime.mjpeg_server import MjpegCamera

pytestmark = pytest.mark.timeout(90)
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = REPO / "runs" / "headless-screens"
LABELS = ("happy", "neutral", "sad", "uncertain")


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        pytest.skip("no /usr/bin/chromium or /usr/bin/chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hs-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,700",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is a reason to skip, said in full
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium did not start: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_page_shows_live_video_and_labels(browser):
    port = free_port()
    cam = None
    if FACE_CLIP.is_file():  # real faces: the screenshot shows boxes and labels
        source = ["--source", str(FACE_CLIP), "--loop"]
    else:
        cam = MjpegCamera(fps=15, size=(320, 240)).start()
        source = ["--source", cam.url, "--roi", "frame"]
    proc = start_hs_run(*source, "--serve", str(port), "--serve-token", "tok", "--duration", "60")
    try:
        wait_for(lambda: get(port, "/healthz?token=tok", timeout=1)[0] == 200, 30, "hs-run to serve")
        browser.get(f"http://127.0.0.1:{port}/?token=tok")
        width = wait_for(
            lambda: browser.execute_script("const v = document.getElementById('video'); return v.naturalWidth;"),
            20,
            "the <img> to receive a frame",
        )
        assert width > 0
        label = wait_for(
            lambda: next(
                (t for t in browser.find_element("id", "faces").text.split() if t in LABELS),
                None,
            ),
            20,
            "a label in the panel",
        )
        assert label in LABELS
        assert browser.find_element("id", "state").text == "live"
        status = json.loads(get(port, "/status.json?token=tok")[1])
        assert status["viewers"] >= 1 and status["counts"]  # the page's stream counts as a viewer
        encoded = json.loads(get(port, "/status.json?token=tok")[1])["frames"]
        assert encoded > 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        wait_for(lambda: float(browser.find_element("id", "fps").text) > 0, 10, "an FPS figure")
        browser.save_screenshot(str(SHOTS / "live-view.png"))
        assert (SHOTS / "live-view.png").stat().st_size > 5000
    finally:
        code, _out, err = stop(proc)
        if cam is not None:
            cam.stop()
    assert code == 130, err


def test_page_without_token_is_refused(browser):
    port = free_port()
    cam = MjpegCamera(fps=10).start()
    proc = start_hs_run("--source", cam.url, "--roi", "frame", "--serve", str(port), "--serve-token", "tok")
    try:
        wait_for(lambda: get(port, "/healthz?token=tok", timeout=1)[0] == 200, 30, "hs-run to serve")
        browser.get(f"http://127.0.0.1:{port}/")
        assert "token required" in browser.find_element("tag name", "body").text
    finally:
        stop(proc)
        cam.stop()
