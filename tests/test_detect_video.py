"""detect_video.py end to end: flags, files written, exit codes, window handling, progress bar."""

from __future__ import annotations

import json
import os
import signal

import cv2
import numpy as np
import pytest
from video_samples import GREEN, BlobDetector, flat_frames, moving_faces, read_video, write_video

import detect_video
from maskdet import video_cli
from maskdet.pipeline import Pipeline
from maskdet.video import open_source

FACE = {"start": (130, 70), "step": (-3, 0), "side": 24, "colour": GREEN}  # labelled without_mask


@pytest.fixture
def stub_models(monkeypatch, stub_classifier):
    """Load the blob detector + colour classifier instead of real weights."""
    monkeypatch.setattr(video_cli, "pipeline_from_args", lambda a: Pipeline(BlobDetector(), stub_classifier))


@pytest.fixture
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: str(p / "missing.mp4"), "video file not found"),
        (lambda p: (p / "bad.mp4").write_bytes(b"not a video") and str(p / "bad.mp4"), "Cannot open"),
        (lambda p: "rtsp://127.0.0.1:1/stream", "Cannot open video/capture source: 'rtsp://127.0.0.1:1/stream'"),
        (lambda p: "97", "Cannot open video/capture source: 97"),
    ],
)
def test_unusable_source_exits_non_zero_with_a_clear_message(tmp_path, capsys, make, words):
    """Fails before any model loads (no --detector given, and none is bundled in the tests)."""
    assert detect_video.main(["--source", make(tmp_path), "--no-display"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err


def test_main_end_to_end_on_a_generated_file(tmp_path, capsys, stub_models, no_display):
    n = 20
    src = write_video(tmp_path / "in.webm", moving_faces(n, faces=[FACE]), fps=10)
    args = ["--source", str(src), "--output", str(tmp_path / "out.webm"), "--blur"]
    args += ["--events", str(tmp_path / "ev.jsonl"), "--summary", str(tmp_path / "s.json")]
    assert detect_video.main(args) == 0

    out = capsys.readouterr()
    brief = json.loads(out.out)
    assert brief["frames"] == n and brief["events"] == 1 and brief["people"]["without_mask"] == 1
    assert "frame" in out.err and f"{n}/{n}" in out.err  # the progress bar reached the end
    assert len(read_video(tmp_path / "out.webm")) == n
    summary = json.loads((tmp_path / "s.json").read_text())
    (event,) = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert summary["events"] == [event] and event["label"] == "without_mask"
    assert summary["compliance"] == 0.0 and summary["stopped"] == "end"


def test_main_loads_model_files(tmp_path, capsys, tiny_detector, tiny_classifier, no_display):
    """The real loading path: a YOLO .pt and a timm folder, as `--detector` / `--classifier`."""
    tiny_detector.model.save(str(tmp_path / "det.pt"))
    tiny_classifier.save_pretrained(tmp_path / "clf")
    src = write_video(tmp_path / "in.avi", flat_frames(6, (96, 64)))
    args = ["--source", str(src), "--output", str(tmp_path / "out.avi"), "--quiet"]
    args += ["--detector", str(tmp_path / "det.pt"), "--classifier", str(tmp_path / "clf"), "--imgsz", "64"]
    assert detect_video.main(args) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 6
    assert len(read_video(tmp_path / "out.avi")) == 6


def test_a_bad_model_path_exits_non_zero(tmp_path, capsys, no_display):
    src = write_video(tmp_path / "in.avi", flat_frames(3))
    assert detect_video.main(["--source", str(src), "--detector", str(tmp_path / "none.pt")]) == 2
    assert "not found" in capsys.readouterr().err


def test_no_window_without_a_display(tmp_path, monkeypatch, stub_models, no_display):
    def boom(*a):
        raise AssertionError("imshow without a display aborts the Qt build")

    monkeypatch.setattr(cv2, "imshow", boom)
    src = write_video(tmp_path / "in.avi", flat_frames(4))
    assert not detect_video.has_display()
    assert detect_video.main(["--source", str(src), "--quiet"]) == 0


def test_q_in_the_window_quits_cleanly(tmp_path, monkeypatch, capsys, stub_models):
    monkeypatch.setenv("DISPLAY", ":99")
    shown, keys = [], iter([-1, -1, ord("q")])
    monkeypatch.setattr(cv2, "imshow", lambda name, frame: shown.append(frame.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys, -1))
    monkeypatch.setattr(cv2, "destroyWindow", lambda name: None)
    src = write_video(tmp_path / "in.avi", flat_frames(10, (160, 120)))
    out = tmp_path / "out.avi"
    assert detect_video.main(["--source", str(src), "--output", str(out), "--summary", str(tmp_path / "s.json")]) == 0
    assert shown == [(120, 160, 3)] * 3
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["frames"], summary["stopped"]) == (3, "quit")
    assert len(read_video(out)) == 3


def test_no_progress_bar_for_live_sources(tmp_path, capsys, stub_classifier):
    src = write_video(tmp_path / "in.avi", flat_frames(5))
    pipe = Pipeline(BlobDetector(), stub_classifier)
    detect_video.run(open_source(src, live=True), pipe)
    assert "frame" not in capsys.readouterr().err
    detect_video.run(open_source(src), pipe)
    assert "5/5" in capsys.readouterr().err


@pytest.mark.parametrize("line", ["0.5,0,0.5", "0,0,2,1", "a,b,c,d"])
def test_bad_line_flag_is_refused(line, capsys):
    with pytest.raises(SystemExit) as e:
        detect_video.main(["--source", "x.mp4", "--line", line])
    assert e.value.code == 2 and "--line" in capsys.readouterr().err


def test_parse_line():
    assert detect_video.parse_line("0.5,0,0.5,1") == (0.5, 0.0, 0.5, 1.0)
    assert np.allclose(detect_video.parse_line("0, 0.25 ,1,0.25"), (0, 0.25, 1, 0.25))


def test_sigterm_stops_like_ctrl_c_and_the_video_still_plays(
    tmp_path, monkeypatch, capsys, stub_classifier, no_display
):
    inner = Pipeline(BlobDetector(), stub_classifier)
    calls = []

    def pipeline(frame):
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # `kill` / `docker stop` while frame 6 is processed
        return inner(frame)

    monkeypatch.setattr(video_cli, "pipeline_from_args", lambda a: pipeline)
    before = signal.getsignal(signal.SIGTERM)
    src = write_video(tmp_path / "in.avi", flat_frames(30))
    args = ["--source", str(src), "--output", str(tmp_path / "out.mp4"), "--summary", str(tmp_path / "s.json")]
    assert detect_video.main(args) == 0
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["frames"] == 5
    assert len(read_video(tmp_path / "out.mp4")) == 5
