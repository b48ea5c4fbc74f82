"""Security: what the HTTP API lets a client read, what loads pickles, what is written to disk."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_server import ROOT, call, file_data, upload

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
def test_endpoints_read_only_uploaded_files(app_server, server_image, api, make):
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
def test_file_route_serves_nothing_outside_gradio_cache(app_server, path):
    import httpx

    answer = httpx.get(f"{app_server.url}/gradio_api/file={path.format(root=ROOT)}", timeout=10)
    assert answer.status_code in (403, 404)
    assert "root:" not in answer.text


def test_no_endpoint_takes_a_model(app_server):
    """Models come from the command line only: no API parameter can name or upload one."""
    import httpx

    info = httpx.get(app_server.url + "/gradio_api/info", timeout=10).json()
    names = {p["parameter_name"] for e in info["named_endpoints"].values() for p in e["parameters"]}
    assert names == {"image", "video", "frame", "face_threshold", "label_threshold", "blur", "track"}


# ------------------------------------------------------------------------------------------ models


class Touch:
    """Unpickling this creates `path`: a test that it never exists proves that nothing unpickled it."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def pickle_that_touches(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Touch(marker)))
    return path


def test_classifier_weights_load_from_safetensors_only(tiny_classifier, tmp_path):
    from maskdet.classifier import MaskClassifier

    folder = tiny_classifier.save_pretrained(tmp_path / "clf")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    pickle_that_touches(folder / "pytorch_model.bin", marker)
    with pytest.raises(FileNotFoundError, match=r"pickle \.bin weights are refused"):
        MaskClassifier.from_pretrained(folder)
    assert not marker.exists()


def test_hub_detectors_load_from_onnx_only(tmp_path, monkeypatch):
    """A hub repo (here: already in the local cache) that holds only a pickled detector.pt is refused."""
    from huggingface_hub import constants
    from test_classifier import make_hub_cache

    from maskdet.detector import resolve_detector

    marker = tmp_path / "unpickled"
    pickle_that_touches(tmp_path / "repo" / "detector.pt", marker)
    make_hub_cache(tmp_path / "hub", "someone/faces", tmp_path / "repo")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="ONNX only"):
        resolve_detector("someone/faces")
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ a server of its own

SPY = """
import os, socket

LOG = os.environ["MASKDET_NET_LOG"]
LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")


def _note(what):
    with open(LOG, "a") as f:
        f.write(repr(what) + "\\n")


_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL:
        _note(address)
        raise OSError("network blocked by the test")
    return _connect(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL and host is not None:
        _note(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
"""


@pytest.fixture(scope="module")
def spied_server(tmp_path_factory):
    """app.py with a socket spy (any look-up or connection beyond 127.0.0.1 is logged) and its own TMPDIR."""
    import os

    from app_server import start_server

    folder = tmp_path_factory.mktemp("spied")
    (folder / "spy").mkdir()
    (folder / "spy" / "sitecustomize.py").write_text(SPY)
    (folder / "tmp").mkdir()
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder / "spy"), os.environ.get("PYTHONPATH")])),
        "MASKDET_NET_LOG": str(folder / "net.log"),
        "TMPDIR": str(folder / "tmp"),
        "GRADIO_TEMP_DIR": "",  # unset: app.py makes a folder of its own
    }
    server = start_server(folder, env=env)
    yield server, folder
    from app_server import stop_server

    stop_server(server)


def test_server_contacts_nothing_beyond_localhost_and_shares_nothing(spied_server):
    import httpx
    from app_server import scene_frames, write_video

    server, folder = spied_server
    image = folder / "a.png"
    cv2.imwrite(str(image), np.full((96, 128, 3), 120, np.uint8))
    video = write_video(folder / "v.mp4", scene_frames(6, (160, 120)), fps=10)
    assert call(server.url, "detect_image", [file_data(upload(server.url, image)), 0.3, 0.0, False])[0] == "complete"
    assert call(server.url, "detect_video", [file_data(upload(server.url, video)), 0.3, 0.0, False, True])[0] == (
        "complete"
    )
    assert call(server.url, "model_info", [])[0] == "complete"
    page = httpx.get(server.url + "/", timeout=30)
    config = httpx.get(server.url + "/config", timeout=30).json()
    assert page.status_code == 200 and "fonts.googleapis" not in page.text
    assert config.get("analytics_enabled") is False and not config.get("share_url")
    assert not (folder / "net.log").exists(), (folder / "net.log").read_text()
    assert "Running on public URL" not in server.log()  # Gradio prints this line only when it shares


def test_shutdown_deletes_every_temporary_file(spied_server):
    """Uploads, outputs, examples and the app's work folder live in TMPDIR; SIGTERM leaves it empty."""
    from app_server import stop_server

    server, folder = spied_server
    assert any((folder / "tmp").iterdir())  # the server has been writing there
    assert stop_server(server) == 0
    assert list((folder / "tmp").iterdir()) == []
