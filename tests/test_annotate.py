import numpy as np
import pytest

from maskdet.annotate import COLORS, draw, summary_text
from maskdet.results import Faces


def labelled(boxes, label_ids):
    probs = np.eye(3, dtype=np.float32)[label_ids]
    return Faces(boxes, np.full(len(boxes), 0.9)).with_labels(np.array(label_ids), probs)


@pytest.mark.parametrize(
    ("label_ids", "expected"),
    [
        ([], "0 faces"),
        ([0], "1 face: 1 mask"),
        ([0, 0, 1], "3 faces: 2 mask, 1 no mask"),
        ([2, 1], "2 faces: 1 no mask, 1 incorrect"),
    ],
)
def test_summary_text(label_ids, expected):
    boxes = np.array([[10, 10, 50, 50]] * len(label_ids), np.float32).reshape(-1, 4)
    faces = labelled(boxes, label_ids) if label_ids else Faces.empty()
    assert summary_text(faces) == expected


@pytest.mark.parametrize("width", [320, 640, 1920])
def test_boxes_coloured_per_label_at_every_size(width):
    h = width * 3 // 4
    frame = np.full((h, width, 3), 30, np.uint8)
    s = width / 320
    boxes = np.array([[40, 80, 100, 150], [150, 80, 210, 150], [250, 150, 300, 230]], np.float32) * s
    out = draw(frame, labelled(boxes, [0, 1, 2]))
    assert out.shape == frame.shape and (frame == 30).all()  # input untouched
    for box, label in zip(boxes.astype(int), COLORS, strict=False):
        x1, y1, _, y2 = box
        edge = out[(y1 + y2) // 2, x1]  # middle of the left edge
        assert np.abs(edge.astype(int) - COLORS[label]).max() < 40, (width, label, edge)
    banner = out[: int(20 * s), : int(100 * s)]
    assert banner.max() == 255  # white banner text drawn
    thick = draw(frame, labelled(boxes[:1], [0]))
    line = (np.abs(thick[int(boxes[0, 1]) + 10, :, :].astype(int) - COLORS["with_mask"]).max(1) < 40).sum()
    assert line >= max(1, round(width / 480))  # line width grows with the frame


def test_blur_pixelates_faces():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    faces = labelled(np.array([[50, 50, 150, 150]], np.float32), [1])
    out = draw(frame, faces, blur=True, banner=False)
    inner = out[70:130, 70:130].astype(int)
    assert np.abs(np.diff(inner, axis=1)).mean() < np.abs(np.diff(frame[70:130, 70:130].astype(int), axis=1)).mean() / 3
    np.testing.assert_array_equal(out[:20, :20], frame[:20, :20])  # outside the face: untouched


def test_tracked_faces_show_ids_and_labels_near_edges():
    frame = np.zeros((100, 100, 3), np.uint8)
    faces = labelled(np.array([[0, 0, 40, 30]], np.float32), [0])
    faces.track_ids = np.array([7])
    out = draw(frame, faces, banner=False)
    assert out[30:60].max() > 0  # label drawn below a box that touches the top edge

    def label_right_edge(image):  # the label's filled box, below the face box, on a black frame
        return int(np.nonzero(image[33:60].any(axis=(0, 2)))[0].max())

    faces.track_ids = None
    plain = draw(frame, faces, banner=False)
    assert label_right_edge(out) > label_right_edge(plain) + 10  # "#7 " widens the label
    faces.track_ids = np.array([-1])  # not (yet) a confirmed track: no id
    np.testing.assert_array_equal(draw(frame, faces, banner=False), plain)
    faces.track_ids = np.array([8])
    other = draw(frame, faces, banner=False)
    assert label_right_edge(other) == label_right_edge(out) and (other != out).any()  # the id's own digits
