"""train.py calibrate: T and the `unknown` cut-off fitted on held-out crops, written beside unchanged weights."""

import json

import cv2
import numpy as np
import pytest

import train
from maskdet.classifier import MaskClassifier
from maskdet.train.calibrate import cross_fitted, labelled_crops, with_section

COLORS = {"with_mask": (255, 0, 0), "without_mask": (0, 255, 0), "mask_worn_incorrectly": (0, 0, 255)}


def crop_folder(root, per_label=8, synth=True):
    rng = np.random.default_rng(0)
    for label, color in COLORS.items():
        (root / label).mkdir(parents=True)
        for i in range(per_label):
            img = np.clip(np.array(color) + rng.normal(0, 30, (40, 36, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / label / f"voc_img{i % 4}_{label[:5]}{i}.jpg"), img)
        if synth:
            cv2.imwrite(str(root / label / f"synth_chin_voc_img0_0_{label[:5]}.jpg"), np.zeros((40, 36, 3), np.uint8))
    return root


@pytest.fixture
def saved(tiny_classifier, tmp_path):
    return tiny_classifier.save_pretrained(tmp_path / "clf", model_card="# tiny\n\n## Training\n\nsomething\n")


def test_calibrate_writes_temperature_and_cutoff_and_keeps_the_weights(saved, tmp_path, capsys):
    data = crop_folder(tmp_path / "crops")
    out = tmp_path / "calibrated"
    assert train.main(["calibrate", "--classifier", str(saved), "--data", str(data), "--output-dir", str(out)]) == 0
    c = json.loads((out / "config.json").read_text())["calibration"]
    assert c["temperature"] > 0 and 0 <= c["label_threshold"] <= 1
    assert "24 labelled crops" in c["fitted_on"]  # the 3 synthetic crops are left out
    assert (out / "model.safetensors").read_bytes() == (saved / "model.safetensors").read_bytes()
    assert "calibration" not in json.loads((saved / "config.json").read_text())  # the source is untouched
    clf = MaskClassifier.from_pretrained(out)
    assert clf.temperature == c["temperature"] and clf.label_threshold == c["label_threshold"]
    assert cv2.imread(str(out / "reliability.png")) is not None
    card = (out / "README.md").read_text()
    assert "## Training\n\nsomething" in card and card.count("## Calibration") == 1 and "reliability.png" in card
    assert json.loads(capsys.readouterr().out.split("\nsaved to")[0]) == c


def test_calibrate_in_place_twice_keeps_one_section(saved, tmp_path):
    data = crop_folder(tmp_path / "crops", synth=False)
    for _ in range(2):
        assert (
            train.main(["calibrate", "--classifier", str(saved), "--data", str(data), "--output-dir", str(saved)]) == 0
        )
    assert (saved / "README.md").read_text().count("## Calibration") == 1


def test_calibrate_errors_are_clear(saved, tmp_path, capsys):
    args = ["calibrate", "--classifier", str(saved), "--output-dir", str(tmp_path / "o"), "--data"]
    assert train.main([*args, str(tmp_path / "missing")]) == 2
    assert "image folder" in (err := capsys.readouterr().err) and "not found" in err
    (tmp_path / "odd" / "masked").mkdir(parents=True)
    assert train.main([*args, str(tmp_path / "odd")]) == 2
    assert "odd/masked' is not a label" in capsys.readouterr().err
    (tmp_path / "empty" / "with_mask").mkdir(parents=True)
    assert train.main([*args, str(tmp_path / "empty")]) == 2
    assert "no images under" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "empty" / "with_mask" / "synth_chin_a_0_0.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert train.main([*args, str(tmp_path / "empty")]) == 2  # synthetic crops alone: nothing to fit on
    assert "no labelled crops" in capsys.readouterr().err
    (tmp_path / "empty" / "with_mask" / "voc_a_0.jpg").write_bytes(b"not a jpeg")
    assert train.main([*args, str(tmp_path / "empty")]) == 2
    assert "voc_a_0.jpg" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_cross_fitted_temperature_comes_from_the_other_half():
    """Half A's logits are sharp and right, half B's flat: each half is calibrated with the other's T."""
    from maskdet.calibration import fit_temperature, softmax

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    logits = rng.normal(0, 1, (200, 3))
    logits[np.arange(200), labels] += 3
    groups = [f"img{i // 4}" for i in range(200)]
    probs = cross_fitted(logits, labels, groups)
    ids = sorted(set(groups))
    half = set(np.random.default_rng(0).permutation(ids)[: len(ids) // 2])
    a = np.array([g in half for g in groups])
    assert np.allclose(probs[a], softmax(logits[a], fit_temperature(logits[~a], labels[~a])), atol=1e-6)
    assert np.allclose(probs[~a], softmax(logits[~a], fit_temperature(logits[a], labels[a])), atol=1e-6)


def test_with_section_replaces_or_appends():
    assert with_section("# t\n", "Calibration", "x\n") == "# t\n\n## Calibration\n\nx\n"
    text = "# t\n\n## Calibration\n\nold\n\n## Next\n\nkeep\n"
    assert with_section(text, "Calibration", "new\n") == "# t\n\n## Calibration\n\nnew\n\n## Next\n\nkeep\n"


def test_labelled_crops_map_folders_to_label_ids(tmp_path):
    data = crop_folder(tmp_path / "crops", per_label=2)
    names = ("with_mask", "without_mask", "mask_worn_incorrectly")
    paths, labels = labelled_crops(data, names)
    assert len(paths) == 6 and all(names[y] == p.parent.name for p, y in zip(paths, labels, strict=True))
