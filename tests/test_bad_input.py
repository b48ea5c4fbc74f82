"""Every bad-input case of the README table on every surface: the library, detect_video.py and the HTTP API.

One row per case: what `load_image` / `open_source` raise, what detect_video.py exits with and prints, and
what /detect_image, /detect_frame and /detect_video answer. OK means it is processed (the input is odd,
not bad); a string is a regex the error must match. The README's "Bad input and faults" table is this one.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import httpx
import pytest
from app_server import MAX_UPLOAD_MB, MAX_VIDEO_SECONDS, call, file_data, upload
from bad_inputs import IMAGES, VIDEOS
from video_samples import BlobDetector

import detect_video
from maskdet import video_cli
from maskdet.app import MAX_VIDEO_PIXELS
from maskdet.io.images import load_image
from maskdet.pipeline import Pipeline
from maskdet.video import LimitError, open_source

OK = "ok"
EMPTY, TEXT = r"is empty \(0 bytes\)", r"is not a readable image \(not JPEG, PNG"
NO_FRAME = r"its video stream has no frame that decodes"
NOT_VIDEO = r"not a video, or cut short or corrupt: FFmpeg says Invalid data"

# case: (library, (detect_video.py exit status, stderr), /detect_image and /detect_frame, /detect_video)
EXPECTED = {
    "0-byte file": (EMPTY, (2, "the file is empty: 0 bytes"), EMPTY, "the file is empty: 0 bytes"),
    "text renamed .jpg": (TEXT, (2, NO_FRAME), TEXT, NO_FRAME),
    "truncated JPEG": ("corrupt or truncated", (0, OK), "corrupt or truncated", OK),  # FFmpeg shows what it has
    "truncated PNG": ("corrupt or truncated", (2, NO_FRAME), "corrupt or truncated", NO_FRAME),
    "decompression bomb (20000x20000 PNG)": ("decompression bomb", (2, NO_FRAME), "decompression bomb", NO_FRAME),
    "1x1 image": ("at least 8x8", (2, "1x1 frames; at least 8x8"), "at least 8x8", "1x1 frames; at least 8x8"),
    "16-bit PNG": (OK, (0, OK), OK, OK),
    "CMYK JPEG": (OK, (0, OK), OK, OK),
    "grayscale": (OK, (0, OK), OK, OK),
    "RGBA": (OK, (0, OK), OK, OK),
    "animated GIF": (OK, (0, OK), OK, OK),  # the first frame
    "0-byte video": ("the file is empty: 0 bytes", (2, "the file is empty"), EMPTY, "the file is empty: 0 bytes"),
    "text renamed .mp4": (NOT_VIDEO, (2, NOT_VIDEO), TEXT, NOT_VIDEO),
    "video with no frames": (NO_FRAME, (2, NO_FRAME), TEXT, NO_FRAME),
    "truncated mp4": (NOT_VIDEO, (2, NOT_VIDEO), TEXT, NOT_VIDEO),
    "audio-only file": ("no video stream, only audio", (2, "no video stream, only audio"), TEXT, "only audio"),
    "video over the duration limit (15 s)": (
        r"is 15\.0 s long, over the limit of 10 s",
        (0, OK),  # no limit on the command line: long videos are what it is for
        TEXT,
        r"This video 'long\.mp4' is 15\.0 s long, over the limit of 10 s\. Trim or resize it",
    ),
    "video over the frame-size limit (4000x2200)": (
        r"is 4000x2200, over the limit of 8,294,400 pixels",
        (0, OK),
        TEXT,
        r"This video 'huge\.avi' is 4000x2200, over the limit",
    ),
}
CASES = {**IMAGES, **VIDEOS}


def test_every_case_has_a_row():
    assert set(EXPECTED) == set(CASES)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bad")
    return {name: make(folder) for name, make in CASES.items()}


def outcome(fn) -> str:
    """OK, or the error's message."""
    try:
        fn()
    except (ValueError, FileNotFoundError) as e:
        return str(e)
    return OK


def check(got: str, expected: str) -> None:
    if expected == OK:
        assert got == OK, got
    else:
        assert got != OK and re.search(expected, got), got


def library(name: str, path) -> str:
    if name in IMAGES:
        return outcome(lambda: load_image(path))

    def read_all():
        with open_source(path, max_seconds=MAX_VIDEO_SECONDS, max_pixels=MAX_VIDEO_PIXELS) as src:
            assert sum(1 for _ in src) >= 1

    return outcome(read_all)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_library(name, inputs):
    check(library(name, inputs[name]), EXPECTED[name][0])


def test_limits_are_limit_errors(inputs):
    with pytest.raises(LimitError):
        open_source(inputs["video over the duration limit (15 s)"], max_seconds=MAX_VIDEO_SECONDS)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_detect_video_script(name, inputs, monkeypatch, stub_classifier):
    monkeypatch.setattr(video_cli, "pipeline_from_args", lambda a: Pipeline(BlobDetector(), stub_classifier))
    monkeypatch.delenv("DISPLAY", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = detect_video.main(["--source", str(inputs[name]), "--no-display", "--quiet"])
    code, expected = EXPECTED[name][1]
    assert status == code, err.getvalue()
    assert "Traceback" not in err.getvalue()
    if expected == OK:
        assert json.loads(out.getvalue())["frames"] >= 1
    else:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        check(lines[0], expected)


def http(url: str, api: str, path) -> str:
    data = {
        "detect_image": lambda f: [f, 0.3, 0.0, False],
        "detect_frame": lambda f: [f, 0.3, 0.0, False, True],
        "detect_video": lambda f: [f, 0.3, 0.0, False, True],
    }[api](file_data(upload(url, path)))
    status, payload = call(url, api, data)
    assert status in ("complete", "error"), (status, payload)
    return OK if status == "complete" else str(payload)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_http_api(name, inputs, app_server):
    image_expected, video_expected = EXPECTED[name][2], EXPECTED[name][3]
    for api in ("detect_image", "detect_frame"):
        check(http(app_server.url, api, inputs[name]), image_expected)
    check(http(app_server.url, "detect_video", inputs[name]), video_expected)
    assert app_server.alive()


# ------------------------------------------------------------------------------------------ HTTP only


def test_uploads_over_the_cap_are_refused_before_any_handler(app_server, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * int((MAX_UPLOAD_MB + 0.5) * 1024 * 1024))
    with big.open("rb") as f:
        answer = httpx.post(app_server.url + "/gradio_api/upload", files={"files": f}, timeout=60)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text


WRONG_TYPES = [
    ("detect_image", ["IMAGE", "abc", 0.0, False], r"face_threshold must be a number in \[0, 1\], but got 'abc'"),
    ("detect_image", ["IMAGE", 0.3, [0.5], False], r"label_threshold must be a number in \[0, 1\], but got \[0\.5\]"),
    ("detect_image", ["IMAGE", 0.3, 0.0, "no"], r"blur must be true or false, but got 'no'"),
    ("detect_image", ["IMAGE", 7, 0.0, False], r"face_threshold must lie in \[0, 1\], but got 7"),
    ("detect_image", [123, 0.3, 0.0, False], r"valid dictionary or instance of ImageData"),
    ("detect_image", ["/etc/hostname", 0.3, 0.0, False], r"valid dictionary or instance of ImageData"),
    ("detect_image", [None, 0.3, 0.0, False], r"No image"),
    ("detect_image", ["IMAGE"], r"didn't receive enough input values \(needed: 4, got: 1\)"),
    ("detect_frame", ["IMAGE", 0.3, 0.0, False, "yes"], r"track must be true or false, but got 'yes'"),
    ("detect_video", ["IMAGE", 0.3, 0.0, 1, True], r"blur must be true or false, but got 1"),
    ("detect_video", [{"url": "http://example.com/v.mp4"}, 0.3, 0.0, False, True], r"meta"),
    ("detect_video", [None, 0.3, 0.0, False, True], r"No video"),
]


@pytest.mark.parametrize(("api", "data", "message"), WRONG_TYPES)
def test_wrong_types_on_the_api(app_server, inputs, api, data, message):
    image = file_data(upload(app_server.url, inputs["grayscale"]))
    data = [image if value == "IMAGE" else value for value in data]
    status, payload = call(app_server.url, api, data)
    assert status == "error" and re.search(message, str(payload)), payload


def test_files_over_the_library_size_cap(tmp_path):
    big = tmp_path / "big.jpg"
    with big.open("wb") as f:
        f.truncate(60_000_000)  # sparse: nothing is written
    with pytest.raises(ValueError, match=r"is 60,000,000 bytes, over the limit of 52,428,800"):
        load_image(big)


def test_detect_video_script_refuses_a_bad_flag_value(capsys):
    with pytest.raises(SystemExit) as e:
        detect_video.main(["--source", "x.mp4", "--face-threshold", "abc"])
    assert e.value.code == 2 and "argument --face-threshold: invalid float value: 'abc'" in capsys.readouterr().err


def test_a_cut_webm_over_http_is_annotated_up_to_the_cut(app_server, tmp_path):
    from video_samples import flat_frames, truncate
    from video_samples import write_video as write

    path = truncate(write(tmp_path / "cut.webm", flat_frames(40)), 0.5)
    uploaded = file_data(upload(app_server.url, path))
    status, outputs = call(app_server.url, "detect_video", [uploaded, 0.3, 0.0, False, True])
    assert status == "complete"
    summary = outputs[1]
    assert summary["stopped"] == "truncated" and 0 < summary["frames"] < 40
