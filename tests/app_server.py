"""A real `python app.py` server on 127.0.0.1 with tiny models, shared by the app and browser tests.

The detector is an untrained one-class YOLOv8n whose class bias is zeroed, so every box scores about
0.5: a face threshold of 0.3 finds many random "faces" and 0.9 finds none, which is what the tests
need to check that per-request thresholds reach the model. The classifier is an untrained timm model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_UPLOAD_MB = 2
MAX_VIDEO_SECONDS = 10


def tiny_detector_file(path: Path) -> Path:
    """Save an untrained 1-class YOLOv8n with zero class bias (scores ~0.5) as a .pt file."""
    import torch

    from maskdet._env import configure_ultralytics

    configure_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    yolo = YOLO("yolov8n.yaml")
    yolo.model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
    for branch in yolo.model.model[-1].cv3:
        torch.nn.init.constant_(branch[-1].bias, 0.0)
    yolo.save(str(path))
    return path


def tiny_classifier_folder(folder: Path) -> Path:
    from maskdet.classifier import MaskClassifier

    return MaskClassifier.create("mobilenetv3_small_050", img_size=64).save_pretrained(folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    fourcc = {".mp4": "mp4v", ".webm": "VP90", ".avi": "MJPG"}[path.suffix]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def scene_frames(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Frames of a generated scene panning sideways (BGR)."""
    from maskdet.scenes import example_scene

    w, h = size
    base = example_scene(0, w, h)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


class AppServer:
    """A running app: its URL, its log, its models."""

    def __init__(self, url: str, process: subprocess.Popen, log: Path, detector: Path, classifier: Path):
        self.url, self.process, self.log = url, process, log
        self.detector, self.classifier = detector, classifier

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def start_server(
    folder: Path, *extra_args: str, env: dict[str, str] | None = None, timeout: float = 180.0
) -> AppServer:
    """`python app.py` on a free port with tiny models saved in `folder`; `extra_args` go on its command line."""
    detector = tiny_detector_file(folder / "detector.pt")
    classifier = tiny_classifier_folder(folder / "classifier")
    port = free_port()
    log = folder / "server.log"
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--detector", str(detector), "--classifier", str(classifier)),
        *("--imgsz", "320", "--max-upload-mb", str(MAX_UPLOAD_MB), "--max-video-seconds", str(MAX_VIDEO_SECONDS)),
        *extra_args,
    ]
    env = {**os.environ, "MASKDET_THREADS": os.environ.get("MASKDET_THREADS", "1"), **(env or {})}
    with log.open("w") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = AppServer(f"http://127.0.0.1:{port}", process, log, detector, classifier)
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + "/gradio_api/info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: AppServer, timeout: float = 30.0) -> int | None:
    """SIGTERM (app.py shuts down like on Ctrl-C and deletes its temporary files); its exit status."""
    server.process.terminate()
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        return None


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> AppServer:
    """One app server for the whole test session (the API and browser tests share it)."""
    server = start_server(tmp_path_factory.mktemp("app"))
    yield server
    stop_server(server)


def file_data(path: str) -> dict:
    """A gradio FileData payload for a path on the server (as /gradio_api/upload returns it)."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def upload(url: str, path: Path) -> str:
    """POST a file to /gradio_api/upload; returns the server-side path."""
    import httpx

    with path.open("rb") as f:
        answer = httpx.post(url + "/gradio_api/upload", files={"files": f}, timeout=60)
    answer.raise_for_status()
    return answer.json()[0]


def call(url: str, api: str, data: list) -> tuple[str, object]:
    """Call an endpoint over plain HTTP, as curl would: ("complete", outputs) or ("error", message).

    Raw JSON reaches the server as sent (gradio_client would refuse some bad types before sending).
    """
    import json

    import httpx

    answer = httpx.post(f"{url}/gradio_api/call/{api}", json={"data": data}, timeout=60)
    answer.raise_for_status()
    stream = httpx.get(f"{url}/gradio_api/call/{api}/{answer.json()['event_id']}", timeout=300).text
    event = data_line = None
    for line in stream.splitlines():  # heartbeats and progress events come before the result
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event in ("complete", "error"):
            data_line = line[6:]
            break
    payload = json.loads(data_line) if data_line not in (None, "null") else None
    if event == "error":
        return "error", (payload or {}).get("error") if isinstance(payload, dict) else payload
    return event or "none", payload
