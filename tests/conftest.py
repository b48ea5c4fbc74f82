"""Shared fixtures: offline settings, tiny models built from config, generated images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # train.py, app.py, detect_video.py are importable scripts

# Offline before anything imports huggingface_hub / ultralytics / gradio.
os.environ.setdefault("MASKDET_HOME", str(ROOT / ".pytest_cache" / "maskdet-home"))
from maskdet._env import configure_offline  # noqa: E402

configure_offline()


@pytest.fixture(scope="session")
def tiny_classifier():
    """An untrained timm classifier built from config: tiny and fast."""
    from maskdet.classifier import MaskClassifier

    return MaskClassifier.create("mobilenetv3_small_050", img_size=64)


@pytest.fixture(scope="session")
def tiny_detector():
    """An untrained YOLOv8n from its YAML (no download)."""
    from maskdet.detector import FaceDetector

    return FaceDetector.from_config("yolov8n.yaml")


@pytest.fixture
def frame() -> np.ndarray:
    """A 480x640 BGR frame with some structure."""
    rng = np.random.default_rng(0)
    img = np.full((480, 640, 3), 120, np.uint8)
    img[100:300, 200:400] = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    return img


class StubDetector:
    """Returns fixed boxes, remembers what it was asked."""

    def __init__(self, boxes, scores=None):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores = np.full(len(self.boxes), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
        self.calls = []

    def detect(self, frame, conf=0.35, iou=0.5, imgsz=640, zoom=None, flip=False):
        from maskdet.results import Faces

        self.calls.append({"shape": frame.shape, "conf": conf, "iou": iou, "imgsz": imgsz, "zoom": zoom, "flip": flip})
        keep = self.scores >= conf
        return Faces(self.boxes[keep], self.scores[keep])


class StubClassifier:
    """Labels a crop by its mean colour channel (B -> 0, G -> 1, R -> 2); remembers the crops."""

    label_names = ("with_mask", "without_mask", "mask_worn_incorrectly")

    def __init__(self):
        self.crops = []
        self.calls = 0

    def classify(self, crops):
        self.calls += 1
        self.crops = [c.copy() for c in crops]
        means = np.array([c.reshape(-1, 3).mean(0) for c in crops], np.float32)
        probs = (means + 1e-6) / (means + 1e-6).sum(1, keepdims=True)
        return probs.argmax(1), probs


@pytest.fixture
def stub_detector():
    return StubDetector


@pytest.fixture
def stub_classifier():
    return StubClassifier()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """One app server for the whole test session (the API, bad-input, security and browser tests share it).

    Defined here, not imported into each test module: an imported fixture is a new one per module.
    """
    from app_server import start_server, stop_server

    server = start_server(tmp_path_factory.mktemp("app"))
    yield server
    stop_server(server)


SERVER_FIXTURES = {"app_server", "spied_server"}  # fixtures that start app.py as a real HTTP server


def pytest_collection_modifyitems(items):
    """Tests that use a server fixture are `server` tests (left out of `make test-fast`), in whichever file."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
