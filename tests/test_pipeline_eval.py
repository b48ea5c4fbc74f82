"""End-to-end evaluation: the report on a hand-computed case, and evaluate.py on generated data."""

import json
from pathlib import Path

import cv2
import eval_cases as case3
import numpy as np
import pytest
from voc_sample import make_voc

import evaluate
from maskdet.data.voc import VocImage
from maskdet.eval.pipeline import score_faces
from maskdet.results import LABELS, Faces


def items_and_faces(probs=None):
    """eval_cases as VocImages and pipeline output; probs one-hot on the predicted class unless given."""
    items = [
        VocImage(Path(f"{i}.jpg"), 100, 100, boxes, [LABELS[c] for c in classes])
        for i, (boxes, classes) in enumerate(zip(case3.GT_BOXES, case3.GT_CLASSES, strict=True))
    ]
    faces = [
        Faces(boxes, scores, classes, probs=np.eye(3, dtype=np.float32)[classes] if probs is None else probs[i])
        for i, (boxes, classes, scores) in enumerate(
            zip(case3.PRED_BOXES, case3.PRED_CLASSES, case3.PRED_SCORES, strict=True)
        )
    ]
    return items, faces


def test_report_by_hand():
    r = score_faces(*items_and_faces(), LABELS, face_threshold=0.5)
    assert r["map50"] == pytest.approx(case3.MAP50) and r["map50_95"] == pytest.approx(case3.MAP50_95)
    assert r["per_class"]["with_mask"]["ap50"] == pytest.approx(case3.AP50_WITH)
    assert r["per_class"]["mask_worn_incorrectly"]["ap50"] == pytest.approx(case3.AP50_INCORRECT)
    assert r["face"]["ap50"] == pytest.approx(case3.FACE_AP50)
    assert r["face_score_ranking"]["map50"] == pytest.approx(case3.MAP50)  # one-hot probs: the same ranking
    # a, c, d, e matched (e at IoU 0.64); b and f missed; the empty-spot detection is a false face
    assert r["confusion"] == {
        "rows": [*LABELS, "false face"],
        "columns": [*LABELS, "missed"],
        "matrix": [[2, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0]],
    }
    per = r["per_class"]
    assert (per["with_mask"]["precision"], per["with_mask"]["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert (per["without_mask"]["precision"], per["without_mask"]["recall"]) == (0.0, 0.0)
    assert (per["mask_worn_incorrectly"]["precision"], per["mask_worn_incorrectly"]["recall"]) == (1.0, 0.5)
    assert (r["face"]["recall"], r["face"]["precision"]) == pytest.approx((4 / 6, 4 / 5))
    assert r["faces"] == 6 and r["images"] == 2
    assert set(r["pr50"]) == {*LABELS, "face"} and len(r["pr50"]["face"]) == 101


def test_operating_threshold_and_unknown_labels():
    """Above 0.72 only a (0.9), c (0.8) and e (0.75) remain; c's label falls under a 0.6 label threshold."""
    probs = [np.eye(3, dtype=np.float32)[case3.PRED_CLASSES[0]], np.eye(3, dtype=np.float32)[[0]]]
    probs[0][1] = [0.5, 0.3, 0.2]  # c: still with_mask, but not sure
    r = score_faces(*items_and_faces(probs), LABELS, face_threshold=0.72, label_threshold=0.6)
    assert r["confusion"]["columns"] == [*LABELS, "unknown", "missed"]
    assert r["confusion"]["matrix"] == [[2, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 2], [0, 0, 0, 0, 0]]
    assert r["per_class"]["with_mask"]["precision"] == 1.0  # c is no longer called with_mask
    assert r["face"]["precision"] == 1.0 and r["face"]["recall"] == pytest.approx(3 / 6)


def test_label_probability_reorders_the_ranking():
    """x (with_mask) is called without_mask at face 0.9 x 0.6; y (without_mask) at 0.8 x 1.0.

    By face score the false call ranks first (without_mask AP 0.5); by face x label the true one does (AP 1).
    """
    boxes = np.array([[0, 0, 20, 20], [50, 50, 70, 70]], np.float32)
    items = [VocImage(Path("a.jpg"), 100, 100, boxes, ["with_mask", "without_mask"])]
    probs = np.array([[0.4, 0.6, 0.0], [0.0, 1.0, 0.0]], np.float32)
    faces = [Faces(items[0].boxes, np.array([0.9, 0.8]), probs.argmax(1), probs=probs)]
    r = score_faces(items, faces, LABELS, face_threshold=0.5)
    assert r["per_class"]["without_mask"]["ap50"] == pytest.approx(1.0)
    assert r["per_class"]["without_mask"]["ap50_face_score_ranking"] == pytest.approx(0.5)
    assert r["per_class"]["mask_worn_incorrectly"]["ap50"] is not None  # NaN: no ground truth
    assert np.isnan(r["per_class"]["mask_worn_incorrectly"]["ap50"]) and r["pr50"]["mask_worn_incorrectly"] is None


def test_every_class_protocol_ranks_the_runner_up_class_too():
    """z (truly incorrect) is called with_mask at 0.6 with 0.4 incorrect: by top label it is a false
    with_mask and incorrect AP is 0; scored for every class (ultralytics' val) it is the only incorrect
    detection and incorrect AP is 1, while w (with_mask) still ranks above z for with_mask (AP 1)."""
    boxes = np.array([[0, 0, 20, 20], [50, 50, 70, 70]], np.float32)
    items = [VocImage(Path("a.jpg"), 100, 100, boxes, ["mask_worn_incorrectly", "with_mask"])]
    probs = np.array([[0.6, 0.0, 0.4], [1.0, 0.0, 0.0]], np.float32)
    faces = [Faces(boxes, np.array([0.9, 0.95]), probs.argmax(1), probs=probs)]
    r = score_faces(items, faces, LABELS, face_threshold=0.5)
    assert r["per_class"]["mask_worn_incorrectly"]["ap50"] == pytest.approx(0.0)
    assert r["every_class"]["ap50"]["mask_worn_incorrectly"] == pytest.approx(1.0)
    assert r["per_class"]["mask_worn_incorrectly"]["ap50_every_class"] == pytest.approx(1.0)
    assert r["every_class"]["ap50"]["with_mask"] == pytest.approx(1.0)
    assert r["every_class"]["map50"] == pytest.approx(1.0) and r["map50"] == pytest.approx(0.5)
    assert r["confusion"]["matrix"][2][0] == 1  # the operating point still calls z with_mask


def test_true_labels_give_the_ceiling_a_perfect_classifier_reaches():
    """Both faces found, both labels wrong: mAP 0; with their true labels 1. A false face keeps its label and
    a missed face stays missed, so the ceiling is the detector's, not 1 everywhere."""
    boxes = np.array([[0, 0, 20, 20], [50, 50, 70, 70]], np.float32)
    items = [VocImage(Path("a.jpg"), 100, 100, boxes, ["mask_worn_incorrectly", "with_mask"])]
    probs = np.array([[0.7, 0.3, 0.0], [0.0, 0.9, 0.1]], np.float32)
    faces = [Faces(boxes, np.array([0.9, 0.95]), probs.argmax(1), probs=probs)]
    r = score_faces(items, faces, LABELS, face_threshold=0.5)
    assert r["map50"] == pytest.approx(0.0) and r["true_labels"]["map50"] == pytest.approx(1.0)
    assert r["per_class"]["mask_worn_incorrectly"]["ap50_true_labels"] == pytest.approx(1.0)
    false_face = np.array([[30, 0, 45, 15]], np.float32)
    unsure = np.array([[0.5, 0.2, 0.3], [0.4, 0.3, 0.3]], np.float32)
    one_found = [Faces(np.vstack([boxes[:1], false_face]), np.array([0.9, 0.95]), probs=unsure)]
    r = score_faces(items, one_found, LABELS, face_threshold=0.5)
    assert r["per_class"]["with_mask"]["ap50_true_labels"] == pytest.approx(0.0)  # missed, and a false one on top
    assert r["per_class"]["mask_worn_incorrectly"]["ap50_true_labels"] == pytest.approx(1.0)
    assert np.allclose(one_found[0].probs, unsure)  # the caller's faces are not changed
    # the false face ranks by its face score alone (0.95, not 0.95 x 0.4): above a true face scored 0.9
    from maskdet.eval.pipeline import ground_truth, with_true_labels

    oracle = with_true_labels(one_found, ground_truth(items, LABELS))[0]
    assert np.allclose(oracle.probs, np.eye(3)[[2, 0]]) and list(oracle.label_ids) == [2, 0]


def test_unknown_ground_truth_label_is_an_error():
    items = [VocImage(Path("a.jpg"), 10, 10, np.zeros((1, 4), np.float32), ["with_mask"])]
    with pytest.raises(ValueError, match="with_mask"):
        score_faces(items, [Faces.empty(("mask", "no_mask"))], ("mask", "no_mask"), 0.5)


@pytest.fixture(scope="module")
def models(tiny_detector, tiny_classifier, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    tiny_detector.model.save(str(tmp / "det.pt"))
    return tmp / "det.pt", tiny_classifier.save_pretrained(tmp / "clf")


def test_evaluate_pipeline_smoke(models, tmp_path, capsys):
    voc = make_voc(tmp_path / "voc")
    out = tmp_path / "eval"
    det, clf = models
    argv = ["pipeline", "--data", str(voc), "--all", "--detector", str(det), "--classifier", str(clf)]
    assert evaluate.main([*argv, "--imgsz", "160", "96", "--zoom", "128", "--no-flip", "--output-dir", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| imgsz | mAP50 | mAP50-95 | AP50 with_mask" in table and "| 96 |" in table and "| 96+128 |" in table
    assert {p.name for p in out.iterdir()} == {"pipeline_eval.json", "pr_curve.png", "confusion.png", "predictions.npz"}
    # what `evaluate.py compare` reads: every setting, every image, the faces the report scored
    from maskdet.eval.compare import load_predictions

    stems, runs = load_predictions(out / "predictions.npz")
    assert len(stems) == 12 and set(runs) == {"160", "96", "96+128"} and all(len(f) == 12 for f in runs.values())
    assert cv2.imread(str(out / "pr_curve.png")) is not None and cv2.imread(str(out / "confusion.png")) is not None
    data = json.loads((out / "pipeline_eval.json").read_text())  # standard JSON: no NaN
    assert set(data) == {"config", "reports"} and set(data["reports"]) == {"160", "96", "96+128"}  # 160 > zoom
    assert (data["reports"]["96+128"]["imgsz"], data["reports"]["96+128"]["zoom"]) == (96, 128)
    r = data["reports"]["160"]
    assert {
        "imgsz", "zoom", "images", "faces", "map30", "map50", "map50_95", "per_class", "by_size", "face_score_ranking",
        "every_class", "true_labels", "face", "operating_point", "confusion", "pr50", "median_ms_per_image",
    } == set(r)  # fmt: skip
    assert set(r["per_class"]) == set(LABELS) and set(r["per_class"]["with_mask"]) == {
        "ap30", "ap50", "ap50_95", "num_gt", "ap50_face_score_ranking", "ap50_every_class", "ap50_true_labels",
        "precision", "recall",
    }  # fmt: skip
    assert r["images"] == 12 and r["faces"] == 23  # 11 images x 2 faces + the clipped one
    assert r["face"]["ap30"] >= r["face"]["ap50"] >= r["face"]["ap50_95"] and r["map30"] >= r["map50"]
    assert np.array(r["confusion"]["matrix"])[:3].sum() == 23
    # the mirrored view is on by default, as photos run: in the photo setting only, and named; a size
    # above the zoom still gets its photo setting when it flips
    assert evaluate.main([*argv, "--imgsz", "160", "96", "--zoom", "128", "--output-dir", str(out)]) == 0
    reports = json.loads((out / "pipeline_eval.json").read_text())["reports"]
    assert set(reports) == {"160", "96", "160+flip", "96+flip+128"}
    assert [reports["96+flip+128"][k] for k in ("imgsz", "zoom")] == [96, 128]


def test_evaluate_bad_data_is_a_clear_error(models, tmp_path, capsys):
    det, clf = models
    argv = ["pipeline", "--data", str(tmp_path / "nope"), "--detector", str(det), "--classifier", str(clf)]
    assert evaluate.main(argv) == 2
    assert "nope" in capsys.readouterr().err


def test_evaluate_classify(models, tmp_path, capsys):
    data = tmp_path / "crops"
    for k, name in enumerate(("with_mask", "without_mask", "mask_weared_incorrect")):  # the dataset's own name
        (data / name).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(data / name / f"{i}.jpg"), np.full((40, 36, 3), 60 * k + 20 * i, np.uint8))
    (data / "with_mask" / "broken.jpg").write_bytes(b"not a valid image")
    out = tmp_path / "eval"
    argv = ["classify", "--data", str(data), "--classifier", str(models[1])]
    assert evaluate.main([*argv, "--output-dir", str(out)]) == 0
    assert "| mask_worn_incorrectly |" in capsys.readouterr().out
    m = json.loads((out / "classify_eval.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels", "num_samples", "unreadable"} <= set(m)
    assert m["num_samples"] == 6 and np.sum(m["confusion_matrix"], axis=1).tolist() == [2, 2, 2]
    assert set(m["per_class"]["mask_worn_incorrectly"]) == {"precision", "recall", "f1", "support"}
    assert m["unreadable"] == [str(data / "with_mask" / "broken.jpg")]
    assert cv2.imread(str(out / "classify_confusion.png")) is not None
    (data / "masked").mkdir()
    assert evaluate.main([*argv, "--output-dir", str(out)]) == 2
    assert "masked" in capsys.readouterr().err


def test_evaluate_faces_smoke(models, tmp_path, capsys):
    """The detector-only mode shares the data flags: --all, and --split with its default val side."""
    from maskdet.data.voc import load_voc, make_split, save_split

    voc = make_voc(tmp_path / "voc")
    split = save_split(make_split(load_voc(voc)), tmp_path / "split.json")
    report = tmp_path / "faces.json"
    argv = ["faces", "--data", str(voc), "--detector", str(models[0]), "--imgsz", "96", "--yunet", ""]
    assert evaluate.main([*argv, "--split", str(split), "--json", str(report), "--zoom", "160", "--no-flip"]) == 0
    assert "| detector | AP50 all" in capsys.readouterr().out
    one, zoomed = json.loads(report.read_text()).items()
    assert one[0].endswith("@96") and zoomed[0].endswith("@96+160")
    assert one[1]["images"] == zoomed[1]["images"] == len(json.loads(split.read_text())["val"])
    assert evaluate.main([*argv, "--all", "--json", str(report)]) == 0
    assert next(iter(json.loads(report.read_text()).values()))["images"] == 12
    other = tmp_path / f"other{models[0].suffix}"  # two detectors compared in one run (float and INT8)
    other.write_bytes(models[0].read_bytes())
    two = ["faces", "--data", str(voc), "--detector", str(models[0]), str(other), "--imgsz", "96", "--yunet", ""]
    assert evaluate.main([*two, "--all", "--zoom", "0", "--no-flip", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())
    assert list(rows) == [f"maskdet {models[0].name} @96", f"maskdet {other.name} @96"]
    assert [r["images"] for r in rows.values()] == [12, 12]
    twin = tmp_path / "run2" / models[0].name  # the same file name from another run: told apart by path
    twin.parent.mkdir()
    twin.write_bytes(models[0].read_bytes())
    same = [*two[:5], str(twin), *two[6:]]
    assert evaluate.main([*same, "--all", "--zoom", "0", "--no-flip", "--json", str(report)]) == 0
    assert list(json.loads(report.read_text())) == [f"maskdet {models[0]} @96", f"maskdet {twin} @96"]
    assert evaluate.main([*argv, "--all", "--zoom", "160", "--json", str(report)]) == 0  # flip: the default
    assert [k.split("@")[1] for k in json.loads(report.read_text())] == ["96", "96+flip+160"]
