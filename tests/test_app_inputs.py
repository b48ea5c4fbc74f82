"""The HTTP API's input checks in process: uploads only, strict types, data URLs (maskdet/app/inputs.py)."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import cv2
import gradio as gr
import numpy as np
import pytest

from maskdet.app.inputs import check_uploaded, flag, payload_path, read_image, threshold

REQUEST = SimpleNamespace(session_hash="abc")  # stands in for the gr.Request of an HTTP call


@pytest.fixture
def upload_dir(tmp_path, monkeypatch):
    folder = tmp_path / "gradio"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def png(path, value=90):
    cv2.imwrite(str(path), np.full((16, 16, 3), value, np.uint8))
    return path


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, None),
        ("/a/b.png", "/a/b.png"),
        ({"path": "/a/b.png", "meta": {"_type": "gradio.FileData"}}, "/a/b.png"),
        ({"video": {"path": "/a/v.mp4"}, "subtitles": None}, "/a/v.mp4"),
        ({"path": 12}, None),
        ({"url": "http://x/y.png"}, None),
    ],
)
def test_payload_path(payload, expected):
    assert payload_path(payload) == expected


def test_http_requests_may_only_name_uploaded_files(upload_dir, tmp_path):
    (upload_dir / "abc").mkdir()
    inside = png(upload_dir / "abc" / "in.png")
    outside = png(tmp_path / "secret.png")
    check_uploaded(str(inside), REQUEST)
    check_uploaded(str(outside), None)  # a direct Python call owns its paths
    for path in (outside, upload_dir / ".." / "secret.png", "/etc/hostname"):
        with pytest.raises(gr.Error, match="not uploaded to this app"):
            check_uploaded(str(path), REQUEST)
    (upload_dir / "link.png").symlink_to(outside)  # a link out of the folder counts as outside
    with pytest.raises(gr.Error, match="not uploaded"):
        read_image({"path": str(upload_dir / "link.png")}, REQUEST)
    assert read_image({"path": str(inside)}, REQUEST).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.35), (0.5, 0.5), (1, 1.0), ("abc", None), ("0.5", None), (True, None), ([1], None), (float("nan"), None)],
)
def test_threshold_takes_numbers_only(value, expected):
    if expected is None:
        with pytest.raises(gr.Error, match=r"face_threshold must be a number in \[0, 1\], but got"):
            threshold("face_threshold", value, 0.35)
    else:
        assert threshold("face_threshold", value, 0.35) == expected


@pytest.mark.parametrize(("value", "expected"), [(None, False), (True, True), (False, False), (np.bool_(True), True)])
def test_flag_takes_booleans(value, expected):
    assert flag("blur", value, False) is expected


@pytest.mark.parametrize("value", ["no", "false", 1, 0, {"a": 1}, [True]])
def test_flag_refuses_what_only_looks_boolean(value):
    with pytest.raises(gr.Error, match="blur must be true or false"):
        flag("blur", value, False)


def test_data_urls(tmp_path, monkeypatch):
    data = png(tmp_path / "x.png").read_bytes()
    good = "data:image/png;base64," + base64.b64encode(data).decode()
    assert read_image({"url": good}).shape == (16, 16, 3)
    for url, message in [
        ("data:image/png", "no ','"),
        ("data:image/png;base64,!!!!", "not valid base64"),
        ("data:image/png;base64,", "empty"),
    ]:
        with pytest.raises(gr.Error, match=message):
            read_image({"url": url})
    monkeypatch.setattr("maskdet.app.inputs.MAX_BYTES", 10)
    with pytest.raises(gr.Error, match="more than 10 bytes"):
        read_image({"url": good})
