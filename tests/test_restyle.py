"""Restyled boxes (maskdet.train.restyle): another dataset's faces boxed the way the detector boxes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maskdet.data.voc import VocImage
from maskdet.train.restyle import box_style, pair_boxes, restyle, undo_style


def _loose(box, rw=1.5, rh=1.2, up=0.1):
    """An annotation around a detection `box`: rw x wider, rh x taller, centre `up` of its height higher."""
    x1, y1, x2, y2 = box
    w, h = (x2 - x1) * rw, (y2 - y1) * rh
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - up * (y2 - y1)
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_pairs_are_one_to_one_best_overlap_first():
    annotated = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [100, 100, 110, 110]], np.float32)
    found = np.array([[2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    # the second annotation matches the detection exactly and takes it; the first, also overlapping it
    # (IoU 8/12), is left without one; the third overlaps nothing
    assert pair_boxes(annotated, found).tolist() == [-1, 0, -1]
    assert pair_boxes(annotated, np.zeros((0, 4))).tolist() == [-1, -1, -1]


def test_style_measured_and_undone():
    det = np.array([[100, 100, 140, 150]], np.float64)
    ann = np.array([_loose(det[0])])
    assert box_style(ann, det)[0] == pytest.approx([1.5, 1.2, -0.1])
    back = undo_style(ann, np.array([1.5, 1.2, -0.1]), 640, 480)
    assert back[0] == pytest.approx(det[0], abs=1e-3)
    # clipped to the image
    assert undo_style(np.array([[-20, -20, 30, 30]]), np.array([1.0, 1.0, 0.0]), 640, 480)[0].tolist() == [0, 0, 30, 30]


def test_restyle_takes_the_detections_and_moves_the_rest_by_the_median():
    dets = {
        "a": np.array([[100, 100, 140, 150], [300, 100, 330, 140]], np.float32),
        "b": np.array([[50, 50, 90, 100]], np.float32),
    }
    unfound = [400, 300, 460, 372]  # a face the detector did not find: 60 x 72
    items = [
        VocImage(Path("a.jpg"), 640, 480, np.array([_loose(b) for b in dets["a"]], np.float32), ["with_mask"] * 2),
        VocImage(Path("b.jpg"), 640, 480, np.array([_loose(dets["b"][0]), unfound], np.float32), ["without_mask"] * 2),
    ]
    out, summary = restyle(items, lambda path: dets[Path(path).stem])
    assert np.allclose(out[0].boxes, dets["a"]) and np.allclose(out[1].boxes[0], dets["b"][0])
    assert out[1].boxes[1] == pytest.approx(undo_style(np.array([unfound]), np.array([1.5, 1.2, -0.1]), 640, 480)[0])
    assert [it.labels for it in out] == [it.labels for it in items]  # labels never change
    assert items[0].boxes[0][0] != dets["a"][0][0]  # the input is left as it was
    assert summary["paired"] == 3 and summary["faces"] == 4
    assert summary["median_style"] == pytest.approx({"width": 1.5, "height": 1.2, "centre_lower": -0.1})


def test_training_restyles_the_extra_sets_training_faces_only(tmp_path, monkeypatch):
    """`restyle_extra`: the --extra set's training faces take the detector's boxes (here each painted face
    inset by 3 px), facemask-voc's and the validation side's stay as annotated, and the run records it."""
    import json
    from types import SimpleNamespace

    import cv2
    from voc_sample import make_voc

    import maskdet.detector
    from maskdet.data.voc import load_sets, save_split
    from maskdet.train.detector import DetectorTrainConfig, restyle_extra

    main = make_voc(tmp_path / "voc", n_images=4)
    extra = make_voc(tmp_path / "extra", n_images=4, seed=1)
    for folder, suffix in (("images", ".jpg"), ("annotations", ".xml")):
        for p in sorted((extra / folder).glob(f"*{suffix}")):
            p.rename(p.with_name("x" + p.name))
    splits = {}
    for root, stems in ((main, ["img0", "img1"]), (extra, ["ximg0", "ximg1"])):
        splits[root] = save_split({"train": stems, "val": [s[:-1] + "2" for s in stems]}, root / "split.json")
    items, split = load_sets([(main, splits[main]), (extra, splits[extra])])

    def detect(image, conf, imgsz):
        mask = (np.abs(image.astype(int) - 90).max(axis=2) > 40).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x + 3, y + 3, x + w - 3, y + h - 3] for x, y, w, h, area in stats[1:] if area > 200]
        return SimpleNamespace(boxes=np.array(boxes, np.float32).reshape(-1, 4))

    monkeypatch.setattr(
        maskdet.detector.FaceDetector, "load", staticmethod(lambda source: SimpleNamespace(detect=detect))
    )
    cfg = DetectorTrainConfig(data=main, split=splits[main], extra=(extra,), restyle="fake.onnx", output_dir=tmp_path)
    out, record = restyle_extra(cfg, items, split["train"], tmp_path / "run")
    before = {it.stem: it for it in items}
    for it in out:
        if it.stem in ("ximg0", "ximg1"):  # extra, training side: 3 px in on every side
            inset = before[it.stem].boxes[: len(it.boxes)] + np.array([3, 3, -3, -3], np.float32)
            assert len(it.boxes) and np.allclose(it.boxes[:2], inset[:2], atol=2)
        else:
            assert np.array_equal(it.boxes, before[it.stem].boxes)
    saved = json.loads((tmp_path / "run" / "restyle.json").read_text())
    assert saved == json.loads(json.dumps(record)) and saved["sets"][str(extra.resolve())]["images"] == 2
    with pytest.raises(ValueError, match="extra"):
        DetectorTrainConfig(data=main, restyle="fake.onnx")
