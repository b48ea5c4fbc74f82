"""Generated videos and a colour-blob face detector for the video tests.

Every frame has its own flat background level (so a lossy codec cannot blur one frame into another and
tests can tell frames apart); "faces" are saturated squares the `BlobDetector` finds and conftest's
`StubClassifier` labels by colour (blue -> with_mask, green -> without_mask, red -> incorrect).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskdet.results import Faces

BLUE, GREEN, RED = (255, 0, 0), (0, 255, 0), (0, 0, 255)
FOURCC = {".webm": "VP90", ".mp4": "mp4v", ".avi": "MJPG", ".mkv": "VP90"}


def background(i: int) -> int:
    """The flat grey level of frame i (distinct per frame, away from 0 and 255)."""
    return 20 + (4 * i) % 200


def flat_frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    w, h = size
    return [np.full((h, w, 3), background(i), np.uint8) for i in range(n)]


def moving_faces(n: int, size: tuple[int, int] = (160, 120), faces=None) -> list[np.ndarray]:
    """Frames with coloured squares moving smoothly.

    Args:
        faces: list of dicts: start (x, y), step (dx, dy) per frame, side, colour, optional
            {frame: colour} overrides and a set of frames where the face is absent.
    """
    w, h = size
    out = []
    for i in range(n):
        img = np.full((h, w, 3), background(i), np.uint8)
        for face in faces or ():
            if i in face.get("absent", ()):
                continue
            x = round(face["start"][0] + face["step"][0] * i)
            y = round(face["start"][1] + face["step"][1] * i)
            s = face["side"]
            img[max(0, y) : y + s, max(0, x) : x + s] = face.get("overrides", {}).get(i, face["colour"])
        out.append(img)
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> Path:
    """Frames into a file whose codec follows the extension; with no frames, an empty video of `size`."""
    w, h = (frames[0].shape[1], frames[0].shape[0]) if frames else size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix]), fps, (w, h))
    assert writer.isOpened(), path
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def wipe_frame(path: Path, index: int) -> Path:
    """Zero one frame's JPEG inside an MJPG .avi, in place: that frame no longer decodes, the rest do."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    end = data.index(b"\xff\xd9", starts[index]) + 2
    data[starts[index] : end] = bytes(end - starts[index])
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to `keep` of its bytes, in place (a download or copy that stopped)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


class BlobDetector:
    """Finds saturated squares (the generated faces): a detector stub that follows motion."""

    def __init__(self, min_area: int = 30, score: float = 0.9):
        self.min_area = min_area
        self.score = score
        self.calls = 0

    def detect(self, frame, conf=0.35, iou=0.5, imgsz=640) -> Faces:
        self.calls += 1
        saturation = frame.max(axis=2).astype(np.int16) - frame.min(axis=2)
        mask = (saturation > 100).astype(np.uint8)
        _n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:] if area >= self.min_area and self.score >= conf]
        return Faces(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), self.score, np.float32))


def failing_at(pipeline, call: int, error: BaseException | None = None):
    """`pipeline`, except that its `call`-th call raises `error` (a RuntimeError 'model crashed')."""
    calls = []

    def run(frame):
        calls.append(1)
        if len(calls) == call:
            raise error or RuntimeError("model crashed")
        return pipeline(frame)

    return run
