"""Video faults: a camera that disappears, corrupt or cut files, an error midway and a full disk.

Each run must end with a clear message and an output that plays up to the fault (model-file faults are in
test_model_files.py).
"""

from __future__ import annotations

import errno
import json
import time

import cv2
import numpy as np
import pytest
from video_samples import (
    GREEN,
    BlobDetector,
    failing_at,
    flat_frames,
    moving_faces,
    read_video,
    truncate,
    wipe_frame,
    write_video,
)

import detect_video
from maskdet import video_cli
from maskdet.io import video as videoio
from maskdet.pipeline import Pipeline
from maskdet.video import OutputError, VideoSource, process_video

FACE = {"start": (130, 70), "step": (-3, 0), "side": 24, "colour": GREEN}


@pytest.fixture
def pipe(stub_classifier):
    return Pipeline(BlobDetector(), stub_classifier, margin=0.0)


@pytest.fixture
def stub_models(monkeypatch, pipe):
    monkeypatch.setattr(video_cli, "pipeline_from_args", lambda a: pipe)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


# ------------------------------------------------------------------------------------------ live sources


class FakeCamera:
    """A cv2.VideoCapture stand-in: `good` frames, then whatever `after` does (fail, raise or hang)."""

    def __init__(self, good: int, after: str = "fail"):
        self.frames = flat_frames(good, (160, 120))
        self.after = after
        self.released = False

    def read(self):
        if self.frames:
            time.sleep(0.01)
            return True, self.frames.pop(0)
        if self.after == "raise":
            raise cv2.error("device disconnected")
        if self.after == "hang":
            time.sleep(4)  # a driver blocked on a vanished device
        return False, None

    def get(self, prop):
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


@pytest.mark.parametrize("after", ["fail", "raise", "hang"])
def test_a_camera_that_disappears_ends_the_run_with_a_playable_video(tmp_path, pipe, after):
    cam = FakeCamera(8, after)
    src = VideoSource(cam, 0, cam.frames.pop(0), live=True, stall=0.3)
    t0 = time.monotonic()
    summary = process_video(pipe, src, tmp_path / "out.avi", summary=tmp_path / "s.json")
    assert time.monotonic() - t0 < 10
    assert summary["stopped"] == "source_lost" and summary["frames"] >= 1
    assert len(read_video(tmp_path / "out.avi")) >= summary["frames"]
    assert json.loads((tmp_path / "s.json").read_text())["stopped"] == "source_lost"


def test_detect_video_reports_a_lost_camera(tmp_path, capsys, stub_models, monkeypatch):
    cam = FakeCamera(5)
    monkeypatch.setattr(
        "maskdet.video.open_source", lambda source: VideoSource(cam, 0, cam.frames.pop(0), live=True, stall=0.3)
    )
    assert detect_video.main(["--source", "0", "--output", str(tmp_path / "out.avi")]) == 0
    out = capsys.readouterr()
    assert "warning: the source stopped sending frames" in out.err
    assert json.loads(out.out)["stopped"] == "source_lost"
    assert len(read_video(tmp_path / "out.avi")) >= 1


# ------------------------------------------------------------------------------------------ files


def test_corrupt_frames_are_skipped_counted_and_reported(tmp_path, capsys, stub_models):
    src = wipe_frame(wipe_frame(write_video(tmp_path / "in.avi", flat_frames(20)), 5), 12)
    args = ["--source", str(src), "--output", str(tmp_path / "out.avi"), "--summary", str(tmp_path / "s.json")]
    assert detect_video.main([*args, "--quiet"]) == 0
    out = capsys.readouterr()
    assert "warning: skipped 2 corrupt frame(s)" in out.err
    assert json.loads(out.out)["skipped_frames"] == 2
    assert len(read_video(tmp_path / "out.avi")) == 18


@pytest.mark.parametrize("ext", [".avi", ".webm"])
def test_a_cut_file_is_processed_up_to_the_cut_and_reported(tmp_path, capsys, stub_models, ext):
    src = truncate(write_video(tmp_path / f"in{ext}", flat_frames(40)), 0.5)
    assert detect_video.main(["--source", str(src), "--output", str(tmp_path / "out.avi"), "--quiet"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["stopped"] == "truncated" and 0 < summary["frames"] < 40
    assert "warning: the file ended after" in out.err and "of the 40 frames" in out.err
    assert len(read_video(tmp_path / "out.avi")) == summary["frames"]


def test_a_whole_file_is_not_called_truncated(tmp_path, pipe):
    for ext in (".avi", ".webm", ".mp4"):
        assert process_video(pipe, write_video(tmp_path / f"in{ext}", flat_frames(25)))["stopped"] == "end"


# ------------------------------------------------------------------------------------------ errors midway


def test_an_exception_midway_gives_one_line_and_a_playable_video(tmp_path, capsys, monkeypatch, pipe):
    monkeypatch.setattr(video_cli, "pipeline_from_args", lambda a: failing_at(pipe, 6))
    src = write_video(tmp_path / "in.avi", moving_faces(12, faces=[FACE]))
    args = ["--source", str(src), "--output", str(tmp_path / "out.webm"), "--summary", str(tmp_path / "s.json")]
    assert detect_video.main([*args, "--no-display", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: processing stopped (RuntimeError: model crashed); the output written so far is kept"
    assert len(read_video(tmp_path / "out.webm")) == 5
    assert json.loads((tmp_path / "s.json").read_text())["stopped"] == "error"


# ------------------------------------------------------------------------------------------ full disk


class FullDiskWriter:
    """cv2.VideoWriter whose writes fail with ENOSPC after `room` frames (OpenCV itself would stay silent)."""

    room = 4
    real = cv2.VideoWriter  # the class, taken before a test patches cv2.VideoWriter with this one

    def __init__(self, *args):
        self._inner = self.real(*args)
        self.n = 0

    def isOpened(self):  # OpenCV's name
        return self._inner.isOpened()

    def write(self, frame):
        if self.n >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.n += 1
        self._inner.write(frame)

    def release(self):
        self._inner.release()


@pytest.mark.parametrize("how", ["write fails", "free space runs out"])
def test_a_full_disk_stops_with_a_clear_error_and_a_playable_video(tmp_path, monkeypatch, pipe, how):
    src = write_video(tmp_path / "in.avi", flat_frames(40), fps=4)
    if how == "write fails":
        monkeypatch.setattr(videoio.cv2, "VideoWriter", FullDiskWriter)
    else:
        real = videoio.shutil.disk_usage
        checks = []

        def disk_usage(path):
            checks.append(path)
            usage = real(path)
            return usage._replace(free=1024 * 1024) if len(checks) > 1 else usage

        monkeypatch.setattr(videoio.shutil, "disk_usage", disk_usage)
    with pytest.raises(OutputError, match=r"cannot write '.*out\.avi': the disk is full") as e:
        process_video(pipe, src, tmp_path / "out.avi", summary=tmp_path / "s.json")
    assert e.value.errno == errno.ENOSPC and "frames before are kept" in str(e.value)
    written = len(read_video(tmp_path / "out.avi"))
    assert written == 4  # four frames fit (or one second at 4 fps before the second check)
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["stopped"] == "error" and saved["frames"] == 5  # the fifth was processed, not written


def test_full_disk_for_events_and_summary(tmp_path, pipe):
    """/dev/full answers every write with ENOSPC: a real full disk, no root needed."""
    src = write_video(tmp_path / "in.avi", moving_faces(12, faces=[FACE]))
    with pytest.raises(OutputError, match=r"cannot write '/dev/full': the disk is full"):
        process_video(pipe, src, tmp_path / "out.avi", events="/dev/full")
    assert len(read_video(tmp_path / "out.avi")) >= 3  # frames up to the first event are kept

    (tmp_path / "s.json.tmp").symlink_to("/dev/full")  # the summary's temporary file lands on a full disk
    with pytest.raises(OutputError, match=r"s\.json': the disk is full"):
        process_video(pipe, src, tmp_path / "out2.avi", summary=tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "s.json.tmp").exists()
    assert len(read_video(tmp_path / "out2.avi")) == 12  # the video itself is complete


def test_detect_video_on_a_full_disk_exits_1_with_one_line(tmp_path, capsys, stub_models, monkeypatch):
    src = write_video(tmp_path / "in.avi", flat_frames(10))
    monkeypatch.setattr(videoio.cv2, "VideoWriter", FullDiskWriter)
    args = ["--source", str(src), "--output", str(tmp_path / "out.avi"), "--events", "/dev/null"]
    assert detect_video.main([*args, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write") and "the disk is full" in err and "\n" not in err
    assert len(read_video(tmp_path / "out.avi")) == 4


def test_writer_refuses_an_unwritable_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write"), videoio.VideoWriter(tmp_path / "file" / "out.avi") as w:
        w.write(np.zeros((8, 8, 3), np.uint8))
