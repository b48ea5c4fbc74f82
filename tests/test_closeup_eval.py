"""Close-up evaluation (maskdet.eval.closeups): cases built from a label folder, found / labelled right."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import evaluate
from maskdet.eval.closeups import closeup_cases, evaluate_closeups, format_closeups
from maskdet.results import LABELS, Faces


@pytest.fixture
def crops(tmp_path):
    for k, label in enumerate(("with_mask", "without_mask")):
        (tmp_path / label).mkdir()
        for i in range(3):
            img = np.full((120 + 10 * i, 100, 3), 60 + 80 * k, np.uint8)
            cv2.imwrite(str(tmp_path / label / f"{i}.jpg"), img)
    (tmp_path / "with_mask" / "broken.jpg").write_bytes(b"not a valid image")
    return tmp_path


def test_cases_are_whole_and_pasted_crops(crops):
    cases = closeup_cases(crops, per_label=10, seed=1)
    assert sorted({(c.kind, c.label) for c in cases}) == [
        ("pasted", "with_mask"),
        ("pasted", "without_mask"),
        ("whole", "with_mask"),
        ("whole", "without_mask"),
    ]
    assert len(cases) == 12  # 3 readable crops per label, twice; the broken file is skipped
    for case in cases:
        x1, y1, x2, y2 = case.rect
        h, w = case.image.shape[:2]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        if case.kind == "pasted":
            assert (h, w) == (480, 640) and 0.2 * h <= y2 - y1 <= 0.95 * h
    again = closeup_cases(crops, per_label=10, seed=1)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(cases, again, strict=True))  # seeded


def _faces(boxes, labels):
    ids = [LABELS.index(label) for label in labels]
    probs = np.eye(len(LABELS), dtype=np.float32)[ids].reshape(-1, len(LABELS))
    return Faces(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(ids), 0.9, np.float32)).with_labels(
        np.asarray(ids, np.int64), probs
    )


def test_found_needs_a_face_in_the_crop_and_the_largest_face_carries_the_label(crops):
    cases = [c for c in closeup_cases(crops, per_label=10, seed=0) if c.kind == "pasted"]
    with_mask = next(c for c in cases if c.label == "with_mask")
    without = next(c for c in cases if c.label == "without_mask")
    x1, y1, x2, y2 = with_mask.rect
    answers = {
        id(with_mask.image): _faces(  # a small wrong face inside and the big right one: labelled right
            [[x1, y1, x1 + 4, y1 + 4], [x1, y1, x2, y2]], ["without_mask", "with_mask"]
        ),
        id(without.image): _faces([[0, 0, 2, 2]], ["without_mask"]),  # a face, but outside the crop: missed
    }
    report = evaluate_closeups(lambda image: answers[id(image)], [with_mask, without])
    assert report["pasted"]["found"] == 1 and report["pasted"]["labelled_right"] == 1
    assert report["pasted"]["missed"] == [without.source]
    assert report["pasted/without_mask"]["found_rate"] == 0.0
    assert "| x pasted | 2 | 0.500 (1) | 0.500 (1) |" in format_closeups({"x": report})


def test_evaluate_closeups_command_needs_label_folders(tmp_path, capsys):
    assert evaluate.main(["closeups", "--data", str(tmp_path)]) == 2
    assert "no label folders" in capsys.readouterr().err
