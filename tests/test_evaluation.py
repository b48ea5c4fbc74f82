import eval_cases as case3
import numpy as np
import pytest

from maskdet.boxes import box_iou, match
from maskdet.eval.metrics import RECALL_POINTS, ImageBoxes, mean_average_precision, recall_precision


def case():
    """Two images, three faces: one small and one large found, one medium missed, one false positive."""
    gts = [
        ImageBoxes(np.array([[0, 0, 10, 10], [100, 100, 130, 130]]), np.array([0, 0])),
        ImageBoxes(np.array([[0, 0, 60, 60]]), np.array([0])),
    ]
    preds = [
        ImageBoxes(np.array([[0, 0, 10, 10], [200, 200, 220, 220]]), np.array([0, 0]), np.array([0.9, 0.8])),
        ImageBoxes(np.array([[0, 0, 60, 60]]), np.array([0]), np.array([0.7])),
    ]
    return gts, preds


def test_map_by_hand():
    gts, preds = case()
    m = mean_average_precision(gts, preds)
    # ranking TP (0.9), FP (0.8), TP (0.7) over 3 faces; COCO's 101-point interpolation:
    # recall <= 1/3 -> precision 1 (34 points), <= 2/3 -> 2/3 (33 points), above -> 0
    expected = (34 * 1.0 + 33 * (2 / 3)) / 101
    assert m["map50"] == pytest.approx(expected, abs=1e-6)
    assert m["map50_95"] == pytest.approx(expected, abs=1e-6)  # exact boxes: same at every IoU
    assert m["per_class"][0]["num_gt"] == 3
    by = m["by_size"]
    assert by["<16px"] == {"ap50": pytest.approx(1.0), "ap50_95": pytest.approx(1.0), "num_gt": 1}
    assert by[">48px"]["ap50"] == pytest.approx(1.0)
    assert by["16-48px"]["ap50"] == pytest.approx(0.0) and by["16-48px"]["num_gt"] == 1
    assert by[">=16px"]["num_gt"] == 2


def test_ap30_counts_a_face_boxed_looser_than_the_detector_draws():
    """A ground-truth box 1.5x the predicted one (IoU 1 / 2.25 = 0.44): a miss at 0.5, found at 0.3."""
    gts = [ImageBoxes(np.array([[0, 0, 60, 60], [100, 100, 130, 130]]), np.array([0, 0]))]
    preds = [ImageBoxes(np.array([[10, 10, 50, 50], [100, 100, 130, 130]]), np.array([0, 0]), np.array([0.9, 0.8]))]
    m = mean_average_precision(gts, preds)
    assert box_iou(gts[0].boxes[:1], preds[0].boxes[:1])[0, 0] == pytest.approx(1 / 2.25)
    # at 0.5: FP (0.9) then TP (0.8) over 2 faces -> precision 1/2 up to recall 1/2, 0 above
    assert m["map50"] == pytest.approx(51 * 0.5 / 101, abs=1e-6)
    assert m["map30"] == pytest.approx(1.0) and m["per_class"][0]["ap30"] == pytest.approx(1.0)
    assert m["map50_95"] == pytest.approx(m["map50"])  # same at 0.5..0.95: the 0.3 hit stays out of the average


def test_recall_precision_at_threshold():
    gts, preds = case()
    r = recall_precision(gts, preds)
    assert r["recall"]["all"] == pytest.approx(2 / 3)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"]["16-48px"] == 0.0 and r["recall"]["<16px"] == 1.0


def test_per_class_ap_and_wrong_class_is_a_miss():
    gts = [ImageBoxes(np.array([[0, 0, 20, 20], [50, 50, 80, 80]]), np.array([0, 1]))]
    preds = [ImageBoxes(np.array([[0, 0, 20, 20], [50, 50, 80, 80]]), np.array([0, 0]), np.array([0.9, 0.8]))]
    m = mean_average_precision(gts, preds, num_classes=2)
    assert m["per_class"][0]["ap50"] == pytest.approx(1.0)  # second box is a false positive ranked below
    assert m["per_class"][1]["ap50"] == pytest.approx(0.0)


def test_no_predictions():
    gts, _ = case()
    empty = [ImageBoxes(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)) for _ in gts]
    m = mean_average_precision(gts, empty)
    assert m["map50"] == 0.0 and m["map30"] == 0.0 and m["by_size"]["<16px"]["ap50"] == 0.0


def test_match_and_iou():
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]), [[1 / 3, 0]])
    gt = np.array([[0, 0, 10, 10], [0, 0, 11, 11]])
    pred = np.array([[0, 0, 10, 10]])
    assert match(gt, pred, np.array([0.5])).tolist() == [0, -1]  # one prediction matches one face only


def test_three_classes_by_hand():
    """Hits, a miss, a wrong class, a false positive and a loose box: values derived in eval_cases.py."""
    m = mean_average_precision(case3.gts(), case3.preds(), num_classes=3, curves=True)
    per = m["per_class"]
    assert per[0]["ap50"] == pytest.approx(case3.AP50_WITH, abs=1e-9)
    assert per[0]["ap50_95"] == pytest.approx(case3.AP50_95_WITH, abs=1e-9)
    assert per[1]["ap50"] == per[1]["ap50_95"] == 0.0
    assert per[2]["ap50"] == pytest.approx(case3.AP50_INCORRECT, abs=1e-9)
    assert [per[c]["num_gt"] for c in range(3)] == [3, 1, 2]
    assert m["map50"] == pytest.approx(case3.MAP50, abs=1e-9)
    assert m["map50_95"] == pytest.approx(case3.MAP50_95, abs=1e-9)
    assert m["pr50"][0] == pytest.approx([1.0] * 34 + [2 / 3] * 33 + [0.0] * 34)  # the curve AP50_WITH averages
    assert len(RECALL_POINTS) == len(m["pr50"][2]) == 101
    faces = mean_average_precision(case3.gts(True), case3.preds(True), num_classes=1)
    assert faces["map50"] == pytest.approx(case3.FACE_AP50, abs=1e-9)


def test_curves_without_ground_truth_or_detections():
    gts = [ImageBoxes(np.array([[0, 0, 10, 10]]), np.array([0]))]
    empty = [ImageBoxes(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0))]
    assert mean_average_precision(gts, empty, num_classes=2, curves=True)["pr50"] == {0: [0.0] * 101, 1: None}
    hit = [ImageBoxes(np.array([[0, 0, 10, 10]]), np.array([0]), np.array([0.5]))]
    curves = mean_average_precision(gts, hit, num_classes=2, curves=True)["pr50"]
    assert curves[0] == pytest.approx([1.0] * 101) and curves[1] is None
