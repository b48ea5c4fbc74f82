"""Security: what the HTTP API lets a client read, what loads pickles, what is written to disk."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from app_server import ROOT, app_server, call, file_data, upload  # noqa: F401

# ------------------------------------------------------------------------------------------ HTTP: files


@pytest.fixture(scope="module")
def server_image(tmp_path_factory):
    """An image outside Gradio's upload folder that a client must not get the server to read."""
    path = tmp_path_factory.mktemp("server") / "private.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 90, np.uint8))
    return path


@pytest.mark.parametrize(
    ("api", "make"),
    [
        ("detect_image", lambda p: [{"path": p}, 0.3, 0.0, False]),  # no meta: Gradio lets it through
        ("detect_image", lambda p: [file_data(p), 0.3, 0.0, False]),
        ("detect_frame", lambda p: [{"path": p}, 0.3, 0.0, False, True]),
        ("detect_video", lambda p: [file_data(p), 0.3, 0.0, False, True]),
        ("detect_video", lambda p: [{"video": {"path": p}}, 0.3, 0.0, False, True]),
    ],
)
def test_endpoints_read_only_uploaded_files(app_server, server_image, api, make):  # noqa: F811
    for path in (str(server_image), "/etc/hostname", str(ROOT / "maskdet" / "weights" / "detector.onnx")):
        status, message = call(app_server.url, api, make(path))
        assert status == "error"
        assert "not uploaded" in message or "meta" in message, message
    uploaded = upload(app_server.url, server_image)
    traversal = uploaded.rsplit("/", 2)[0] + "/../" + str(server_image)
    assert call(app_server.url, api, make(traversal))[0] == "error"


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "{root}/maskdet/weights/detector.pt"],
)
def test_file_route_serves_nothing_outside_gradio_cache(app_server, path):  # noqa: F811
    import httpx

    answer = httpx.get(f"{app_server.url}/gradio_api/file={path.format(root=ROOT)}", timeout=10)
    assert answer.status_code in (403, 404)
    assert "root:" not in answer.text


def test_no_endpoint_takes_a_model(app_server):  # noqa: F811
    """Models come from the command line only: no API parameter can name or upload one."""
    import httpx

    info = httpx.get(app_server.url + "/gradio_api/info", timeout=10).json()
    names = {p["parameter_name"] for e in info["named_endpoints"].values() for p in e["parameters"]}
    assert names == {"image", "video", "frame", "face_threshold", "label_threshold", "blur", "track"}
