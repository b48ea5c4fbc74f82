import json

import numpy as np
import pytest

from maskdet.calibration import fit, fit_temperature, isotonic, reliability, softmax, unknown_threshold
from maskdet.classifier import MaskClassifier, calibrated_label_threshold
from maskdet.eval.plots import save_reliability
from maskdet.pipeline import Pipeline


def test_known_logit_gives_the_documented_probability(tiny_classifier, monkeypatch):
    """Logits (2, 0, 0) at T = 2: p = e / (e + 2) = 0.5761 for the first class (0.7870 uncalibrated)."""
    clf = MaskClassifier(tiny_classifier.model, calibration={"temperature": 2.0, "label_threshold": 0.6})
    monkeypatch.setattr(clf, "logits", lambda crops: np.array([[2.0, 0.0, 0.0]] * len(crops), np.float32))
    ids, probs = clf.classify([np.zeros((20, 20, 3), np.uint8)])
    assert ids.tolist() == [0]
    assert probs[0, 0] == pytest.approx(np.e / (np.e + 2), abs=1e-6) == pytest.approx(0.5761, abs=1e-4)
    assert softmax(np.array([[2.0, 0.0, 0.0]]))[0, 0] == pytest.approx(0.7870, abs=1e-4)


def test_calibration_round_trips_through_config(tiny_classifier, tmp_path):
    crops = [np.random.default_rng(0).integers(0, 255, (30, 30, 3), dtype=np.uint8)]
    cal = {"temperature": 0.5, "label_threshold": 0.55, "fitted_on": "test"}
    saved = MaskClassifier(tiny_classifier.model, calibration=cal).save_pretrained(tmp_path / "clf")
    assert json.loads((saved / "config.json").read_text())["calibration"] == cal
    loaded = MaskClassifier.from_pretrained(saved)
    assert (loaded.temperature, loaded.label_threshold) == (0.5, 0.55)
    np.testing.assert_allclose(loaded.classify(crops)[1], softmax(tiny_classifier.logits(crops), 0.5), rtol=1e-5)
    assert calibrated_label_threshold(saved) == 0.55
    assert calibrated_label_threshold(tmp_path / "missing") == 0.0
    with pytest.raises(ValueError, match="temperature"):
        MaskClassifier(tiny_classifier.model, calibration={"temperature": 0})


class Sure:
    """Classifier stand-in: fixed probabilities per call, and a calibrated cut-off of 0.6."""

    label_names = ("with_mask", "without_mask", "mask_worn_incorrectly")
    label_threshold = 0.6

    def classify(self, crops):
        probs = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]], np.float32)[: len(crops)]
        return probs.argmax(1), probs


def test_unknown_below_the_classifier_threshold(stub_detector):
    frame = np.full((100, 200, 3), 100, np.uint8)
    det = stub_detector([[10, 10, 60, 60], [110, 10, 160, 60]])
    assert Pipeline(det, Sure()).label_threshold == 0.6  # the classifier's own by default
    assert Pipeline(det, Sure())(frame).labels == ["with_mask", "unknown"]
    assert Pipeline(det, Sure(), label_threshold=0.0)(frame).labels == ["with_mask", "with_mask"]  # overridden


def test_fit_temperature_recovers_the_true_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 3))
    truth = 2.5  # labels drawn from softmax(logits / 2.5): an overconfident model
    cdf = np.cumsum(softmax(logits, truth), axis=1)
    labels = np.minimum((cdf < rng.random((len(cdf), 1))).sum(axis=1), 2)
    assert fit_temperature(logits, labels) == pytest.approx(truth, rel=0.1)
    with pytest.raises(ValueError, match="at least one"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, np.int64))


def test_fit_reads_the_cutoff_off_calibrated_confidences():
    """Training (out of fold) and `train.py calibrate` share `fit`: T first, then the cut-off where the
    calibrated top-class probability leaves the classifier wrong more often than right."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (3000, 3))
    cdf = np.cumsum(softmax(logits, 2.5), axis=1)
    labels = np.minimum((cdf < rng.random((len(cdf), 1))).sum(axis=1), 2)
    temperature, threshold = fit(logits, labels)
    assert temperature == fit_temperature(logits, labels)
    probs = softmax(logits, temperature)
    assert threshold == unknown_threshold(probs.max(1), probs.argmax(1) == labels) > 0


@pytest.mark.parametrize(
    ("confidence", "correct", "expected"),
    [
        ([0.4, 0.45, 0.5, 0.55, 0.6, 0.9, 0.95, 0.97], [0, 0, 1, 0, 0, 1, 1, 1], 0.9),  # 1 of 5 right below 0.9
        ([0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.9], [0, 0, 0, 0, 0, 1, 1], 0.55),  # accuracy reaches 0.5 at 0.55
        ([0.4, 0.45, 0.5, 0.55, 0.6, 0.9], [1, 1, 1, 0, 0, 1], 0.0),  # right more often than wrong everywhere
        ([0.5, 0.6, 0.7], [0, 0, 0], 0.0),  # fewer than min_count predictions: no cut-off
    ],
)
def test_unknown_threshold(confidence, correct, expected):
    assert unknown_threshold(np.array(confidence), np.array(correct, bool)) == pytest.approx(expected)


def test_isotonic_pools_violators():
    np.testing.assert_allclose(isotonic(np.array([0, 1, 0, 0, 1])), [0, 1 / 3, 1 / 3, 1 / 3, 1])


def test_reliability_bins_and_plot(tmp_path):
    rel = reliability(np.array([0.95, 0.95, 0.55, 0.55]), np.array([1, 1, 1, 0], bool), bins=10)
    assert rel["bins"][9]["accuracy"] == 1.0 and rel["bins"][5]["accuracy"] == 0.5 and rel["bins"][0]["count"] == 0
    assert rel["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)
    assert save_reliability(tmp_path / "r.png", {"a": rel}, 0.6).stat().st_size > 1000
