"""The video engine on generated videos: sources, writer, tracker, smoothing, events, summary."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time

import numpy as np
import pytest
from video_samples import (
    BLUE,
    GREEN,
    RED,
    BlobDetector,
    background,
    failing_at,
    flat_frames,
    moving_faces,
    read_video,
    wipe_frame,
    write_video,
)

from maskdet.annotate import draw
from maskdet.pipeline import Pipeline
from maskdet.results import LABELS, Faces
from maskdet.video import (
    Tracker,
    VideoProcessor,
    VideoSource,
    VideoWriter,
    frames,
    open_source,
    process_video,
    redact,
)

TOL = 8  # grey-level tolerance for lossy codecs


def corner(frame: np.ndarray) -> float:
    """Mean of a 6x6 patch on the right edge, 2/5 down: plain background in every generated video, clear
    of the faces, their labels, the banner at the top and the status bar at the bottom."""
    y = frame.shape[0] * 2 // 5
    return float(frame[y : y + 6, -6:].mean())


def faces_of(boxes, labels, score=0.9) -> Faces:
    """Faces with confident one-hot-ish probabilities for the given label ids (-1: unknown)."""
    labels = np.asarray(labels, np.int64)
    probs = np.full((len(labels), len(LABELS)), 0.05, np.float32)
    probs[np.arange(len(labels)), np.maximum(labels, 0)] = 0.9
    probs[labels < 0] = 1 / 3
    return Faces(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(labels), score, np.float32)).with_labels(
        labels, probs
    )


def box_at(i: int, x0=10.0, y0=10.0, dx=3.0, side=24.0):
    return [x0 + dx * i, y0, x0 + dx * i + side, y0 + side]


@pytest.fixture
def pipe(stub_classifier):
    return Pipeline(BlobDetector(), stub_classifier, margin=0.0)


# --- sources ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".webm", ".mp4", ".avi"])
def test_file_source_gives_every_frame_in_order(tmp_path, ext):
    path = write_video(tmp_path / f"v{ext}", flat_frames(12), fps=12.0)
    with open_source(path) as src:
        assert (src.width, src.height, src.fps, src.frame_count, src.live) == (64, 48, 12.0, 12, False)
        got = [corner(f) for f in src]
    assert len(got) == 12
    np.testing.assert_allclose(got, [background(i) for i in range(12)], atol=TOL)


def test_frames_yields_every_frame_and_closes(tmp_path):
    path = write_video(tmp_path / "v.avi", flat_frames(5))
    np.testing.assert_allclose([corner(f) for f in frames(path)], [background(i) for i in range(5)], atol=TOL)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:secret@127.0.0.1:1/live", "rtsp://***@127.0.0.1:1/live"),
        ("http://127.0.0.1:1/cam.mjpg", "http://127.0.0.1:1/cam.mjpg"),
    ],
)
def test_stream_passwords_stay_out_of_messages(url, shown):
    assert redact(url) == shown
    with pytest.raises(ValueError) as e:
        open_source(url)
    assert shown in str(e.value) and ("secret" not in str(e.value))


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda p: p / "missing.mp4", FileNotFoundError, "not found"),
        (lambda p: (p / "bad.mp4").write_bytes(b"not a video") and p / "bad.mp4", ValueError, "Cannot open"),
        (lambda p: p, ValueError, "folder"),
        (lambda p: "rtsp://127.0.0.1:1/stream", ValueError, "Cannot open video/capture source: 'rtsp://"),
        (lambda p: "http://127.0.0.1:1/cam.mjpg", ValueError, "reachable"),
        (lambda p: "97", ValueError, "no camera"),
        (lambda p: "", ValueError, "empty"),
    ],
)
def test_unusable_sources_raise_a_clear_error(tmp_path, make, error, words):
    with pytest.raises(error, match=words):
        open_source(make(tmp_path))


def test_corrupt_frame_mid_file_is_skipped_and_counted(tmp_path, pipe):
    path = wipe_frame(write_video(tmp_path / "v.avi", flat_frames(20)), 10)

    with open_source(path) as src:
        got = [corner(f) for f in src]
        assert src.skipped == 1
    np.testing.assert_allclose(got, [background(i) for i in range(20) if i != 10], atol=TOL)

    summary = process_video(pipe, path, tmp_path / "out.avi")
    assert (summary["frames"], summary["skipped_frames"]) == (19, 1)
    assert len(read_video(tmp_path / "out.avi")) == 19


def test_live_source_hands_out_only_the_newest_frame(tmp_path):
    n = 40
    path = write_video(tmp_path / "v.avi", flat_frames(n))
    src = open_source(path, live=True)  # a file read like a camera: the grabber outpaces this consumer
    assert src.live and src.frame_count is None
    got = []
    for frame in src:
        got.append(corner(frame))
        time.sleep(0.02)  # slow inference
    src.close()
    assert len(got) < n and len(got) + src.dropped == n
    assert all(b > a for a, b in itertools.pairwise(got))  # in order, never an old frame again
    assert abs(got[-1] - background(n - 1)) <= TOL  # the newest frame is handed out last


def test_closing_a_live_source_stops_its_reader(tmp_path):
    path = write_video(tmp_path / "v.avi", flat_frames(40))
    before = set(threading.enumerate())
    src = open_source(path, live=True)
    next(iter(src))
    readers = [t for t in threading.enumerate() if t not in before and t.name.startswith("maskdet")]
    assert readers and all(t.is_alive() for t in readers)  # a live source reads in a thread of its own
    src.close()
    assert not any(t.is_alive() for t in readers)
    src.close()  # idempotent


# --- writer ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".webm", ".mp4", ".avi", ".mkv"])
def test_writer_output_plays_after_ctrl_c(tmp_path, ext):
    path = tmp_path / f"out{ext}"
    frames = flat_frames(6)
    with pytest.raises(KeyboardInterrupt), VideoWriter(path, fps=10) as writer:
        for frame in frames:
            writer.write(frame)
        raise KeyboardInterrupt
    got = read_video(path)
    assert len(got) == 6
    np.testing.assert_allclose([corner(f) for f in got], [background(i) for i in range(6)], atol=TOL)


def test_writer_is_lazy_resizes_and_rejects_unknown_formats(tmp_path):
    path = tmp_path / "sub" / "out.avi"
    with VideoWriter(path, fps=5, size=(64, 48)) as writer:
        assert not path.exists()  # nothing opened before the first frame
        writer.write(np.full((48, 64, 3), 100, np.uint8))
        writer.write(np.full((24, 32, 3), 200, np.uint8))  # another size: resized, not dropped
    got = read_video(path)
    assert [f.shape for f in got] == [(48, 64, 3)] * 2
    assert abs(corner(got[1]) - 200) <= TOL
    with VideoWriter(None) as writer:  # "no output": accepted, writes nothing
        writer.write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\.gif"):
        VideoWriter(tmp_path / "out.gif")


# --- tracker ---------------------------------------------------------------------------------------


def test_ids_stay_stable_for_smoothly_moving_faces_and_through_a_short_gap():
    tracker = Tracker(min_hits=3, fps=10)
    ids = []
    for i in range(30):
        boxes = [box_at(i), box_at(i, x0=120, y0=70, dx=-3)]
        if i in (14, 15):  # face A missed for two frames (occluded)
            boxes = boxes[1:]
        out = tracker.update(faces_of(boxes, [0] * len(boxes)))
        np.testing.assert_allclose(out.boxes, boxes)  # same faces, same order
        ids.append(out.track_ids.tolist())
    assert ids[0] == [-1, -1] and ids[2] == [-1, -1]  # not yet confirmed
    a = {row[0] for i, row in enumerate(ids[3:], 3) if i not in (14, 15)}
    b = {row[-1] for row in ids[3:]}
    assert len(a) == 1 and len(b) == 1 and a != b and a | b == {1, 2}
    assert tracker.people() == {"with_mask": 2, "without_mask": 0, "mask_worn_incorrectly": 0}


@pytest.mark.parametrize("window", [15, 1])
def test_smoothing_removes_a_single_frame_label_flip(window):
    tracker = Tracker(window=window, min_hits=3)
    labels = [0] * 10 + [1] + [0] * 10  # the classifier is wrong once
    smoothed = [tracker.update(faces_of([box_at(i)], [lab])).labels[0] for i, lab in enumerate(labels)]
    if window == 1:  # no smoothing: the flip shows, and raises an event
        assert smoothed[10] == "without_mask" and len(tracker.events) == 1
        return
    assert set(smoothed) == {"with_mask"}
    assert tracker.events == []
    assert tracker.people()["with_mask"] == 1 and tracker.people()["without_mask"] == 0


def test_a_lasting_label_change_comes_through_after_the_window_majority():
    window = 9
    tracker = Tracker(window=window, min_hits=3)
    labels = [0] * 12 + [1] * 15  # the mask comes off at frame 12
    smoothed = [tracker.update(faces_of([box_at(i)], [lab])).label_ids[0] for i, lab in enumerate(labels)]
    switch = smoothed.index(1)
    assert 12 < switch <= 12 + window // 2 + 1  # delayed by the smoothing, but not lost
    assert all(s == 1 for s in smoothed[switch:])
    (event,) = tracker.events
    assert (event["frame"], event["label"], event["id"]) == (switch, "without_mask", 1)


def test_mostly_unknown_faces_stay_unknown():
    tracker = Tracker(min_hits=1)
    for i in range(6):
        out = tracker.update(faces_of([box_at(i)], [-1 if i % 3 else 2]))
    assert out.labels == ["unknown"]
    assert tracker.people() == {"with_mask": 0, "without_mask": 0, "mask_worn_incorrectly": 0, "unknown": 1}


def test_lost_people_are_forgotten_but_still_counted():
    tracker = Tracker(min_hits=3, fps=10, lost_seconds=0.5)
    for i in range(10):
        tracker.update(faces_of([box_at(i)], [1]))
    for _ in range(10):  # gone for longer than lost_seconds
        tracker.update(Faces.empty())
    assert all(not p.history for p in tracker._people.values())
    assert tracker.people()["without_mask"] == 1
    out = tracker.update(faces_of([box_at(10)], [1]))  # back at the same place: a new track, a new person later
    assert out.track_ids.tolist() == [-1]


def test_short_detections_never_count_as_people():
    tracker = Tracker(min_hits=3)
    for i in range(2):
        out = tracker.update(faces_of([box_at(i)], [1]))
    for _ in range(5):
        tracker.update(Faces.empty())
    assert out.track_ids.tolist() == [-1]
    assert sum(tracker.people().values()) == 0 and tracker.events == []


def test_slow_frames_keep_their_people():
    """Frames 2 s apart (an overloaded laptop) must not give a still person a new id on every frame."""
    tracker = Tracker(min_hits=3, lost_seconds=1.0)
    ids = [tracker.update(faces_of([box_at(0)], [1]), time=2.0 * i).track_ids.tolist() for i in range(5)]
    assert ids[-1] == ids[-2] == [1]
    assert tracker.people()["without_mask"] == sum(tracker.people().values()) == 1


def test_a_person_missing_for_longer_than_lost_seconds_gets_a_new_id():
    tracker = Tracker(min_hits=2, fps=10, lost_seconds=0.5)
    t = iter(i / 10 for i in range(100))
    for _ in range(4):
        first = tracker.update(faces_of([box_at(0)], [1]), time=next(t))
    for _ in range(10):  # 1 s at 10 FPS with nobody there
        tracker.update(Faces.empty(), time=next(t))
    for _ in range(3):
        again = tracker.update(faces_of([box_at(0)], [1]), time=next(t))
    assert first.track_ids.tolist() == [1] and again.track_ids.tolist() == [2]
    assert tracker.people()["without_mask"] == sum(tracker.people().values()) == 2


def test_one_event_per_person_first_confirmed_without_a_proper_mask():
    tracker = Tracker(min_hits=3)
    for i in range(20):
        boxes = [box_at(i, y0=0), box_at(i, y0=40), box_at(i, y0=80)]
        tracker.update(faces_of(boxes, [0, 1, 2]), time=i / 10)
    events = tracker.events
    assert [e["label"] for e in events] == ["without_mask", "mask_worn_incorrectly"]
    assert {e["id"] for e in events} == {2, 3} and {e["frame"] for e in events} == {3}  # confirmed on the 4th frame
    assert events[0]["time"] == pytest.approx(0.3)
    np.testing.assert_allclose(events[0]["box"], box_at(3, y0=40), atol=0.5)
    assert events[0]["confidence"] == pytest.approx(0.9, abs=1e-3)
    assert set(events[0]) == {"event", "time", "frame", "id", "box", "label", "confidence"}
    assert tracker.people() == {"with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 1}


@pytest.mark.parametrize(("window", "min_hits"), [(0, 3), (5, 0)])
def test_tracker_rejects_bad_settings(window, min_hits):
    with pytest.raises(ValueError, match="window" if window < 1 else "min_hits"):
        Tracker(window=window, min_hits=min_hits)


# --- engine ----------------------------------------------------------------------------------------

FACE_A = {"start": (5, 20), "step": (3, 0), "side": 24, "colour": BLUE, "overrides": {12: RED}}  # one bad frame
FACE_B = {"start": (130, 70), "step": (-3, 0), "side": 24, "colour": GREEN}


def test_process_video_end_to_end(tmp_path, pipe):
    n = 30
    src = write_video(tmp_path / "in.webm", moving_faces(n, faces=[FACE_A, FACE_B]), fps=10)
    seen, raw = [], []

    def recording(frame):
        raw.append(pipe(frame))
        return raw[-1]

    summary = process_video(
        recording,
        src,
        tmp_path / "out.webm",
        events=tmp_path / "events.jsonl",
        summary=tmp_path / "summary.json",
        on_frame=lambda frame, faces: seen.append(faces),
    )
    out = read_video(tmp_path / "out.webm")
    assert len(out) == n and out[0].shape == (120, 160, 3)  # frame count and size preserved
    np.testing.assert_allclose([corner(f) for f in out], [background(i) for i in range(n)], atol=TOL)

    assert [len(f) for f in seen] == [2] * n
    ids_a = {int(f.track_ids[f.boxes[:, 1].argmin()]) for f in seen[3:]}
    assert len(ids_a) == 1  # face A keeps one id all the way across
    label_a = [f.labels[int(f.boxes[:, 1].argmin())] for f in seen]
    raw_a = [f.labels[int(f.boxes[:, 1].argmin())] for f in raw]
    assert raw_a[12] == "mask_worn_incorrectly" and label_a[12] == "with_mask"  # smoothed over the red frame
    assert set(label_a) == {"with_mask"}

    assert summary["frames"] == n and summary["skipped_frames"] == 0
    assert (summary["width"], summary["height"], summary["fps"]) == (160, 120, 10.0)
    assert summary["faces"] == 2 * n
    assert summary["people"] == {"with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 0}
    assert summary["compliance"] == 0.5
    assert summary["processing_fps"] > 0 and summary["stopped"] == "end"
    assert [(r["frame"], r["time"]) for r in summary["timeline"]] == [(0, 0.0), (10, 1.0), (20, 2.0)]
    assert set(summary["timeline"][0]) == {"frame", "time", "faces", *LABELS, "unknown"}
    assert all(r["with_mask"] == 1 and r["without_mask"] == 1 for r in summary["timeline"])

    (event,) = summary["events"]
    assert event["label"] == "without_mask" and event["frame"] == 3 and event["time"] == pytest.approx(0.3)
    np.testing.assert_allclose(event["box"], [121, 70, 145, 94], atol=2)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == summary["events"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_without_tracking_each_frame_stands_alone(tmp_path, pipe):
    src = write_video(tmp_path / "in.avi", moving_faces(20, faces=[FACE_A, FACE_B]))
    seen = []
    summary = process_video(pipe, src, track=False, on_frame=lambda frame, faces: seen.append(faces))
    assert all(f.track_ids is None for f in seen)
    assert summary["people"] is None and summary["events"] == []
    # no smoothing either: A's red frame counts as incorrectly worn
    assert summary["faces_per_label"] == {"with_mask": 19, "without_mask": 20, "mask_worn_incorrectly": 1}
    assert [r["frame"] for r in summary["timeline"]] == [0, 10]  # one row a second at 10 FPS by default
    every = process_video(pipe, src, track=False, timeline_step=0)["timeline"]
    assert [r["frame"] for r in every] == list(range(20))
    assert [r["without_mask"] for r in every] == [1] * 20
    assert summary["compliance"] == 0.475 and summary["compliance_basis"] == "faces"


@pytest.mark.parametrize(
    ("how", "frames", "stopped"),
    [
        ("max_frames", 5, "max_frames"),
        ("stop", 3, "stop"),
        ("stop_callable", 3, "stop"),
        ("quit", 4, "quit"),
        ("ctrl_c", 7, "interrupted"),
    ],
)
def test_stopping_early_leaves_a_playable_video_and_a_summary(tmp_path, stub_classifier, how, frames, stopped):
    detector = BlobDetector()
    pipeline = Pipeline(detector, stub_classifier, margin=0.0)
    if how == "ctrl_c":

        def pipeline(frame):
            if detector.calls == 7:
                raise KeyboardInterrupt
            return Pipeline(detector, stub_classifier, margin=0.0)(frame)

    event = threading.Event()

    def on_frame(frame, faces):
        if how.startswith("stop") and detector.calls == 3:
            event.set()
        return how == "quit" and detector.calls == 4

    src = write_video(tmp_path / "in.avi", moving_faces(20, faces=[FACE_B]))
    summary = process_video(
        pipeline,
        src,
        tmp_path / "out.mp4",
        summary=tmp_path / "s.json",
        max_frames=5 if how == "max_frames" else None,
        stop=event.is_set if how == "stop_callable" else event,
        on_frame=on_frame,
    )
    assert (summary["frames"], summary["stopped"]) == (frames, stopped)
    assert len(read_video(tmp_path / "out.mp4")) == frames
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == frames


def test_an_error_midway_still_closes_the_video_and_writes_the_summary(tmp_path, pipe):
    failing = failing_at(pipe, 6)
    src = write_video(tmp_path / "in.avi", moving_faces(12, faces=[FACE_B]))
    with pytest.raises(RuntimeError, match="model crashed"):
        process_video(failing, src, tmp_path / "out.webm", summary=tmp_path / "s.json")
    assert len(read_video(tmp_path / "out.webm")) == 5
    saved = json.loads((tmp_path / "s.json").read_text())
    assert (saved["frames"], saved["stopped"]) == (5, "error")


def test_progress_reports_done_and_total(tmp_path, pipe):
    src = write_video(tmp_path / "in.avi", flat_frames(8, (160, 120)))
    calls = []
    process_video(pipe, src, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 8) for i in range(1, 9)]


def test_line_counts_people_crossing_it_per_label(tmp_path, pipe):
    crossing = {"start": (20, 10), "step": (4, 0), "side": 20, "colour": GREEN}  # centre passes x = 80
    staying = {"start": (10, 80), "step": (1, 0), "side": 20, "colour": BLUE}  # stays left of it
    src = write_video(tmp_path / "in.avi", moving_faces(25, faces=[crossing, staying]))
    summary = process_video(pipe, src, line=(0.5, 0.0, 0.5, 1.0))
    line = summary["line"]
    assert line["in"] + line["out"] == 1
    assert {**line["in_per_label"], **line["out_per_label"]} == {"without_mask": 1}
    with pytest.raises(ValueError, match="fractions"):
        process_video(pipe, src, line=(0, 0, 200, 100))


def test_unconfirmed_faces_are_drawn_without_an_id(frame):
    faces = faces_of([[200, 100, 400, 300]], [0])
    unconfirmed = Faces(faces.boxes, faces.scores, faces.label_ids, faces.label_scores, faces.probs, [-1])
    confirmed = Faces(faces.boxes, faces.scores, faces.label_ids, faces.label_scores, faces.probs, [7])
    assert np.array_equal(draw(frame, unconfirmed), draw(frame, faces))
    assert not np.array_equal(draw(frame, confirmed), draw(frame, faces))


def test_processor_for_streamed_frames(pipe):
    """The app's webcam tab: frames one by one, times from the wall clock."""
    proc = VideoProcessor(pipe, live=True)
    for frame in moving_faces(5, faces=[FACE_B]):
        annotated, _faces = proc.process(frame)
        assert annotated.shape == frame.shape and not np.array_equal(annotated, frame)
    summary = proc.summary()
    assert summary["frames"] == 5 and summary["faces"] == 5
    assert 0 <= summary["timeline"][0]["time"] < 1.0
    with pytest.raises(ValueError, match="uint8"):
        proc.process(np.zeros((10, 10), np.float32))


def test_process_video_reports_unusable_sources(tmp_path, pipe):
    with pytest.raises(FileNotFoundError):
        process_video(pipe, tmp_path / "missing.webm")
    with pytest.raises(ValueError, match="extension"):
        process_video(pipe, tmp_path / "missing.webm", tmp_path / "out.gif")


class PacedCamera(VideoSource):
    """A live source that delivers a frame every `period` seconds, like a slow camera."""

    def __init__(self, frames, fps, period):  # no capture to open
        self.source, self.live, self.fps, self.frame_count = "camera", True, fps, None
        self.height, self.width = frames[0].shape[:2]
        self.skipped = self.dropped = 0
        self._frames, self._period = frames, period

    def __iter__(self):
        for frame in self._frames:
            time.sleep(self._period)
            yield frame

    def close(self):
        pass


def test_live_output_plays_at_real_speed(tmp_path, pipe):
    """Live frames are repeated to fill the time they stood for: 6 frames 0.15 s apart at 10 FPS."""
    camera = PacedCamera(flat_frames(6, (160, 120)), fps=10.0, period=0.15)
    summary = process_video(pipe, camera, tmp_path / "out.avi")
    written = len(read_video(tmp_path / "out.avi"))
    assert summary["frames"] == 6 and summary["live"]
    expected = round(summary["duration_s"] * 10) + 1  # wall-clock seconds of the session x fps
    assert written > 6 and abs(written - expected) <= 2


@pytest.mark.parametrize(("ext", "codec"), [(".mp4", "h264"), (".webm", "vp9")])
def test_browser_formats_are_written_as_h264_and_vp9_even_at_odd_sizes(tmp_path, ext, codec):
    import av

    path = tmp_path / f"out{ext}"
    with VideoWriter(path, fps=10) as writer:
        for frame in flat_frames(5, size=(65, 49)):  # odd sides: yuv420p needs even ones
            writer.write(frame)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == (codec, 64, 48)
    got = read_video(path)
    np.testing.assert_allclose([corner(f) for f in got], [background(i) for i in range(5)], atol=TOL)


def test_the_opencv_fallback_prints_no_ffmpeg_tag_warning(tmp_path, monkeypatch, capfd):
    monkeypatch.setitem(sys.modules, "av", None)  # as without PyAV: `import av` raises ImportError
    with VideoWriter(tmp_path / "out.webm", fps=10) as writer:
        writer.write(flat_frames(1)[0])
    assert writer.codec == "VP90" and len(read_video(tmp_path / "out.webm")) == 1
    assert "FFMPEG" not in capfd.readouterr().err
