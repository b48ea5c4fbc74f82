"""A 3-class detector (issue 17, option b): its label scores reach the pipeline and are fused with the
classifier's; a face detector's (one class) never are."""

import numpy as np
import pytest

from maskdet.detector import FaceDetector
from maskdet.pipeline import Pipeline
from maskdet.results import LABELS, Faces


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    """(.pt, .onnx) of an untrained YOLOv8n with one class per mask label, built from its YAML."""
    from maskdet._env import configure_ultralytics

    configure_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    from maskdet.train.tflite_init import save_checkpoint

    tmp = tmp_path_factory.mktemp("det3")
    pt = save_checkpoint(DetectionModel("yolov8n.yaml", nc=3, verbose=False), tmp / "det3.pt", LABELS)
    onnx = YOLO(str(pt)).export(format="onnx", imgsz=160, dynamic=True, simplify=True, verbose=False)
    return pt, onnx


@pytest.mark.parametrize("kind", [0, 1], ids=["pt", "onnx"])
def test_three_class_detector_gives_label_scores_through_every_pass(three_class, frame, kind):
    det = FaceDetector.load(three_class[kind])
    assert det.labels == LABELS
    for extra in ({}, {"flip": True}, {"zoom": 256, "flip": True}):
        faces = det.detect(frame, conf=0.001, imgsz=160, **extra)
        assert len(faces) and faces.names == LABELS
        np.testing.assert_allclose(faces.probs.sum(axis=1), 1, atol=1e-5)  # every face has the detector's say


def test_face_detector_has_no_labels(tiny_detector, frame):
    assert tiny_detector.labels is None  # 80 COCO names from the YAML: not mask labels
    assert not tiny_detector.detect(frame, conf=0.001, imgsz=160).probs.any()


class LabelDetector:
    """A stand-in 3-class detector: one face, sure it is mask_worn_incorrectly."""

    labels = LABELS

    def detect(self, frame, **kwargs):
        return Faces([[10, 10, 60, 60]], [0.9], probs=[[0.0, 0.0, 1.0]])


def test_pipeline_fuses_detector_and_classifier_label_scores(stub_classifier, frame):
    frame = frame.copy()
    frame[:80, :80] = (255, 0, 0)  # blue: the stub classifier says with_mask
    classifier_only = Pipeline(LabelDetector(), stub_classifier, detector_weight=0.0)(frame)
    assert classifier_only.labels == ["with_mask"]
    detector_only = Pipeline(LabelDetector(), stub_classifier, detector_weight=1.0)(frame)
    assert detector_only.labels == ["mask_worn_incorrectly"] and detector_only.probs[0, 2] == 1
    _, clf_probs = stub_classifier.classify([frame[3:68, 3:68]])
    half = Pipeline(LabelDetector(), stub_classifier)(frame)  # default weight 0.5: the mean
    np.testing.assert_allclose(half.probs[0], 0.5 * clf_probs[0] + 0.5 * np.array([0, 0, 1]), atol=0.02)


def test_labels_must_match_the_classifiers(stub_classifier):
    class Other(LabelDetector):
        labels = ("without_mask", "with_mask", "mask_worn_incorrectly")

    with pytest.raises(ValueError, match="differ"):
        Pipeline(Other(), stub_classifier)
    with pytest.raises(ValueError, match="detector_weight"):
        Pipeline(LabelDetector(), stub_classifier, detector_weight=1.5)


def test_evaluate_pipeline_detector_weight_flag(three_class, tiny_classifier, tmp_path):
    """`evaluate.py pipeline --detector-weight 1`: the labels scored are the 3-class detector's own."""
    import cv2
    from voc_sample import make_voc

    import evaluate
    from maskdet.data.voc import load_voc
    from maskdet.eval.compare import load_predictions

    voc = make_voc(tmp_path / "voc", n_images=3)
    clf = tiny_classifier.save_pretrained(tmp_path / "clf")
    out = tmp_path / "eval"
    argv = f"pipeline --data {voc} --all --detector {three_class[1]} --classifier {clf} --imgsz 160 --zoom 0"
    assert evaluate.main([*argv.split(), "--no-flip", "--detector-weight", "1", "--output-dir", str(out)]) == 0
    _, runs = load_predictions(out / "predictions.npz")
    first = load_voc(voc)[0]
    own = FaceDetector.load(three_class[1]).detect(cv2.imread(str(first.path)), conf=0.001, imgsz=160)
    assert len(own) and runs["160"][0].names == LABELS
    np.testing.assert_allclose(runs["160"][0].probs, own.probs, atol=1e-6)
