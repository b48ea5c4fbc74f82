"""Faces <-> ultralytics / supervision, and `VideoSummary`: one typed result for a whole video."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from video_samples import BlobDetector, moving_faces, write_video

from maskdet.pipeline import Pipeline
from maskdet.results import LABELS, Faces, VideoSummary, counts_text
from maskdet.video import process_video, run_video

KEYS = [
    "source", "live", "frames", "fps", "width", "height", "duration_s", "faces", "faces_per_label", "people",
    "people_total", "compliance", "compliance_basis", "processing_fps", "processing_s", "line", "timeline",
    "events", "skipped_frames", "dropped_frames", "output", "stopped",
]  # fmt: skip


@pytest.fixture
def pipe(stub_classifier):
    return Pipeline(BlobDetector(), stub_classifier, margin=0.0)


def test_from_ultralytics_takes_the_boxes_and_scores():
    result = SimpleNamespace(boxes=_Boxes(torch.tensor([[1.0, 2.0, 11.0, 12.0]]), torch.tensor([0.7])))
    faces = Faces.from_ultralytics(result)
    np.testing.assert_allclose(faces.boxes, [[1, 2, 11, 12]])
    np.testing.assert_allclose(faces.scores, [0.7], rtol=1e-6)
    assert (faces.label_ids == -1).all()
    assert len(Faces.from_ultralytics(SimpleNamespace(boxes=None))) == 0
    assert len(Faces.from_ultralytics(SimpleNamespace(boxes=_Boxes(torch.zeros(0, 4), torch.zeros(0))))) == 0


class _Boxes:
    def __init__(self, xyxy, conf):
        self.xyxy, self.conf = xyxy, conf

    def __len__(self) -> int:
        return len(self.xyxy)


def test_to_supervision_keeps_every_field_and_the_row_index():
    faces = Faces([[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.4], label_ids=[1, -1], track_ids=[3, -1])
    d = faces.to_supervision()
    np.testing.assert_allclose(d.xyxy, faces.boxes)
    np.testing.assert_allclose(d.confidence, faces.scores)
    assert d.class_id.tolist() == [1, -1] and d.tracker_id.tolist() == [3, -1]
    assert d[np.array([False, True])].data["index"].tolist() == [1]
    assert Faces.empty().to_supervision().xyxy.shape == (0, 4)


def test_run_video_is_process_video_typed(tmp_path, pipe):
    src = write_video(tmp_path / "v.avi", moving_faces(12))
    summary = run_video(pipe, src, summary=tmp_path / "s.json")
    assert isinstance(summary, VideoSummary)
    as_dict = process_video(pipe, src)
    assert list(summary.to_dict()) == list(as_dict) == KEYS  # the JSON files and the HTTP API keep their keys
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(json.dumps(summary.to_dict()))
    assert VideoSummary.from_dict(summary.to_dict()) == summary
    brief = summary.brief()
    assert "timeline" not in brief and brief["events"] == len(summary.events)
    rows = summary.to_csv_rows()
    assert rows[0][:3] == ["frame", "time", "faces"] and len(rows) == len(summary.timeline) + 1
    with pytest.raises(ValueError, match=r"unknown video summary keys \['nope'\]"):
        VideoSummary.from_dict({**summary.to_dict(), "nope": 1})


def test_counts_text():
    assert counts_text({"with_mask": 2, "without_mask": 0, "unknown": 1}, lead=": ") == ": 2 with_mask, 1 unknown"
    assert counts_text({"with_mask": 0}, lead=": ") == ""
    assert counts_text(dict.fromkeys(LABELS, 1), short={"with_mask": "mask"}).startswith("1 mask, 1 without_mask")
    summary = VideoSummary.from_dict(
        {
            **dict.fromkeys(KEYS),
            "frames": 10,
            "fps": 10.0,
            "duration_s": 1.0,
            "faces": 4,
            "timeline": [],
            "events": [{}],
            "people": {"with_mask": 1, "without_mask": 1},
            "compliance": 0.5,
            "compliance_basis": "people",
            "skipped_frames": 0,
        }
    )
    assert summary.counts_text() == (
        "10 frames (1.0 s at 10 FPS) · 4 face detections · 2 people, 1 with mask, 1 without mask"
        " · 50% of people wearing a mask correctly · 1 violation events"
    )
    assert summary.to_csv_rows() == []
