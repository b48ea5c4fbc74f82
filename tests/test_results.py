import json

import numpy as np
import pytest

from maskdet.results import LABELS, UNKNOWN, Faces

BOX = [[10, 20, 50, 80]]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (
            {"boxes": [1, 2, 3, 4], "scores": [0.5]},
            "boxes must be a 2D np.ndarray with shape (_, 4), but got shape (4,)",
        ),
        ({"boxes": [[1, 2, 3]], "scores": [0.5]}, "shape (1, 3)"),
        ({"boxes": BOX, "scores": [0.5, 0.6]}, "scores must have 1 rows"),
        ({"boxes": BOX, "scores": [[0.5]]}, "scores must be a 1D"),
        ({"boxes": BOX, "scores": [0.5], "label_ids": [3]}, "label_ids must lie in [-1, 2]"),
        ({"boxes": BOX, "scores": [0.5], "label_ids": [-2]}, "label_ids must lie in [-1, 2]"),
        ({"boxes": BOX, "scores": [0.5], "probs": [[0.5, 0.5]]}, "probs must be a 2D np.ndarray with shape (_, 3)"),
        ({"boxes": BOX, "scores": [0.5], "track_ids": [1, 2]}, "track_ids must have 1 rows"),
        ({"boxes": [[50, 20, 10, 80]], "scores": [0.5]}, "x2 >= x1"),
        ({"boxes": [[0, 0, np.nan, 5]], "scores": [0.5]}, "finite"),
        ({"boxes": BOX, "scores": [0.5], "names": ()}, "at least one class name"),
    ],
)
def test_construction_errors_name_the_bad_value(kwargs, error):
    with pytest.raises(ValueError) as info:
        Faces(**kwargs)
    assert error in str(info.value)


def test_defaults_and_empty():
    faces = Faces(boxes=BOX, scores=[0.9])
    assert faces.label_ids.tolist() == [-1]
    assert faces.labels == [UNKNOWN]
    assert faces.probs.shape == (1, 3)
    assert faces.track_ids is None
    empty = Faces.empty()
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.probs.shape == (0, 3)
    assert empty.to_dict() == {"num_faces": 0, "counts": dict.fromkeys(LABELS, 0), "faces": []}


def make_faces(n=4, tracked=True):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 50, (n, 2))], axis=1)
    probs = rng.dirichlet(np.ones(3), n).astype(np.float32)
    faces = Faces(boxes, rng.uniform(0.3, 1, n), track_ids=np.arange(n) + 10 if tracked else None)
    return faces.with_labels(probs.argmax(1), probs)


@pytest.mark.parametrize(
    ("index", "expected_len"),
    [
        (np.array([True, False, True, False]), 2),
        (np.array([3, 0]), 2),
        (slice(1, 3), 2),
        (2, 1),
        (np.zeros(4, bool), 0),
    ],
)
def test_indexing_returns_consistent_subset(index, expected_len):
    faces = make_faces()
    sub = faces[index]
    assert isinstance(sub, Faces) and len(sub) == expected_len
    rows = np.arange(4)[index].reshape(-1)
    np.testing.assert_array_equal(sub.boxes, faces.boxes[rows])
    np.testing.assert_array_equal(sub.probs, faces.probs[rows])
    np.testing.assert_array_equal(sub.track_ids, faces.track_ids[rows])
    assert sub.labels == [faces.labels[i] for i in rows]


def test_filtering_by_score_like_supervision():
    faces = make_faces()
    kept = faces[faces.scores > 0.5]
    assert (kept.scores > 0.5).all()
    assert len(kept) == int((faces.scores > 0.5).sum())


def test_with_labels_sets_label_scores_from_probs():
    faces = Faces([[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.8])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    out = faces.with_labels(np.array([0, -1]), probs)
    assert out.labels == ["with_mask", UNKNOWN]
    np.testing.assert_allclose(out.label_scores, [0.7, 0.0])
    assert out.counts() == {"with_mask": 1, "without_mask": 0, "mask_worn_incorrectly": 0, UNKNOWN: 1}


def test_to_dict_is_json_and_round_numbers():
    faces = make_faces()
    data = json.loads(faces.to_json())
    assert data["num_faces"] == 4
    assert sum(data["counts"].values()) == 4
    first = data["faces"][0]
    assert set(first) == {"box", "score", "label", "label_score", "probs", "track_id"}
    assert first["label"] in LABELS and set(first["probs"]) == set(LABELS)
    assert first["box"] == [round(float(v), 1) for v in faces.boxes[0]]
    assert first["track_id"] == 10
    assert "track_id" not in make_faces(tracked=False).to_dict()["faces"][0]
