"""The app in a real browser: Playwright driving Debian's Chromium (`.ci/run` installs it).

Screenshots go to artifacts/browser/ (gitignored) so a failing run can be looked at.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_server import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "browser"
CAMERA_SIZE = (320, 240)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# What covers the top of an output picture, where `draw` puts the count banner (and where label chips and
# icon buttons used to sit): labels, buttons and links whose boxes overlap its top fifth. A video player's
# own controls run along its bottom edge and are not counted.
COVERING = """sel => {
  const media = document.querySelector(sel + ' img, ' + sel + ' video');
  if (!media) return null;
  const m = media.getBoundingClientRect();
  const r = {left: m.left, right: m.right, top: m.top, bottom: m.top + m.height / 5};
  return [...document.querySelectorAll('label, button, a, .icon-button-wrapper')]
    .filter(e => !e.contains(media) && getComputedStyle(e).visibility !== 'hidden')
    .map(e => [e.tagName + '.' + e.className, e.getBoundingClientRect()])
    .filter(([, b]) => b.width > 0 && b.height > 0 && b.right > r.left && b.left < r.right && b.bottom > r.top
                       && b.top < r.bottom)
    .map(([name, b]) => `${name} at ${Math.round(b.left)},${Math.round(b.top)}`);
}"""
IMAGE_READY = (
    "sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0 ? "
    "[i.src, i.naturalWidth, i.naturalHeight] : null; }"
)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A Y4M file for Chromium's fake camera (it loops it at its own size)."""
    h, w = frames[0].shape[:2]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    from app_server import scene_frames

    return write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", scene_frames(10, CAMERA_SIZE))


@pytest.fixture(scope="module")
def browser(camera_file):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    args = [
        *CHROME_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}",
    ]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield browser
        browser.close()


def open_app(browser, url: str, **context):
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(60_000)
    page.goto(url, wait_until="domcontentloaded")  # never "networkidle": Gradio keeps connections open
    page.wait_for_selector("#image-input")
    return page


def page_width(page) -> tuple[int, int]:
    return tuple(page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]"))


def test_upload_an_image_and_see_the_annotated_result(browser, app_server, tmp_path):
    from maskdet.data.scenes import example_scene

    photo = tmp_path / "street.jpg"
    cv2.imwrite(str(photo), example_scene(3, 480, 360))
    page = open_app(browser, app_server.url, viewport={"width": 1280, "height": 900})
    page.locator("#image-input input[type=file]").set_input_files(str(photo))  # an upload runs detection
    result = page.wait_for_function(IMAGE_READY, arg="#image-output img").json_value()
    assert result[1:] == [480, 360]  # the annotated picture, at the photo's size
    page.get_by_text("wearing a mask correctly").wait_for()
    counts = page.locator("#image-counts").inner_text()
    assert "faces" in counts
    n = int(counts.split()[0])
    assert n > 0  # the test detector finds boxes at the default 0.35 threshold
    page.locator("#faces-table").get_by_text("face conf.").wait_for()
    assert page.evaluate(COVERING, "#image-output") == []  # no chip or button over the banner and labels
    page.locator("#image-csv-file a[download='maskdet_faces.csv']").wait_for()  # downloads
    page.locator("#image-json-file a[download='maskdet_result.json']").wait_for()
    page.screenshot(path=str(SHOTS / "image_desktop.png"), full_page=True)
    page.context.close()


def test_every_tab_fits_a_phone_screen(browser, app_server):
    page = open_app(browser, app_server.url, viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True)
    page.get_by_role("button", name="Detect masks").wait_for()
    page.locator("button.gallery-item").first.click()  # an example runs at once
    page.get_by_text("wearing a mask correctly").wait_for()
    widths = {}
    for tab in ("Image", "Webcam", "Video", "About"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(600)
        widths[tab] = page_width(page)
        page.screenshot(path=str(SHOTS / f"phone_{tab.lower()}.png"), full_page=True)
    assert all(scroll <= inner for scroll, inner in widths.values()), widths  # no sideways scrolling
    assert "mobilenetv3_small_050" in page.locator("#about").inner_text()  # the About tab names the models
    page.context.close()


def test_webcam_tab_streams_annotated_frames_from_a_fake_camera(browser, app_server):
    page = open_app(browser, app_server.url, viewport={"width": 1280, "height": 900}, permissions=["camera"])
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam button.capture-button, #webcam button[aria-label='capture photo']").first.click()
    seen: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 3 and time.monotonic() < deadline:
        frame = page.evaluate(IMAGE_READY, "#webcam-output img")
        if frame:
            seen[frame[0]] = (frame[1], frame[2])
        page.wait_for_timeout(150)
    page.screenshot(path=str(SHOTS / "webcam.png"), full_page=True)
    assert len(seen) >= 3, f"annotated frames seen: {len(seen)}"  # a stream, not one snapshot
    assert set(seen.values()) == {CAMERA_SIZE}  # frames from the fake camera, at its size
    assert page.evaluate(COVERING, "#webcam-output") == []
    assert page.locator("#webcam-note").inner_text() == ""  # a camera is there: no warning
    page.get_by_text("Frame JSON").click()  # the stream's JSON output: counts, people and FPS per frame
    page.locator("#webcam-json").get_by_text("num_faces").wait_for()
    assert "fps" in page.locator("#webcam-json").inner_text()
    page.context.close()


def test_video_tab_plays_the_annotated_video(browser, app_server, tmp_path):
    from app_server import scene_frames, write_video

    clip = write_video(tmp_path / "street.mp4", scene_frames(10, (160, 120)), fps=10)
    page = open_app(browser, app_server.url, viewport={"width": 1280, "height": 900})
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-input input[type=file]").set_input_files(str(clip))
    page.locator("#video-input video").wait_for()
    page.locator("#video-button").click()
    size = page.wait_for_function(
        "() => { const v = document.querySelector('#video-output video'); "
        "return v && v.readyState >= 2 && v.videoWidth ? [v.videoWidth, v.videoHeight, v.duration] : null; }"
    ).json_value()
    assert size[:2] == [160, 120] and size[2] == pytest.approx(1.0, abs=0.15)  # the browser decodes the H.264
    page.locator("#video-summary").get_by_text("10 frames").wait_for()
    assert page.evaluate(COVERING, "#video-output") == []
    page.screenshot(path=str(SHOTS / "video.png"), full_page=True)

    # A failed run: the last run's video, summary, plot and downloads go, and the error says why.
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    page.locator("#video-input button[aria-label='Clear']").first.click()
    page.locator("#video-input input[type=file]").set_input_files(str(broken))
    page.wait_for_timeout(1000)
    page.locator("#video-button").click()
    page.get_by_text("Cannot read this video").first.wait_for()
    assert page.locator("#video-output video").count() == 0
    assert page.locator("#video-summary").inner_text().strip() == ""
    assert page.locator("#video-csv a, #video-json-file a").count() == 0
    assert "10 frames" not in page.content()
    page.screenshot(path=str(SHOTS / "video_failed.png"), full_page=True)
    page.context.close()


def test_webcam_tab_says_when_there_is_no_camera(browser, app_server):
    """A second Chromium without the fake camera (none here, nor on CI): the tab says so, not a blank box."""
    bare = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=CHROME_ARGS)
    try:
        page = open_app(bare, app_server.url, viewport={"width": 1280, "height": 900})
        page.get_by_role("tab", name="Webcam").click()
        page.locator("#webcam-note").get_by_text("No camera found").wait_for()
        page.screenshot(path=str(SHOTS / "webcam_no_camera.png"), full_page=True)
    finally:
        bare.close()
