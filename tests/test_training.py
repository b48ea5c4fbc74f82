import json
import random
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pytest

import train
from maskdet.classifier import MaskClassifier
from maskdet.eval.classifier import format_classification
from maskdet.eval.metrics import classification_metrics, detailed_metrics, where_labelled
from maskdet.results import LABELS
from maskdet.train.classifier import TrainConfig, add_context, degrade, headline, mean_spread

TINY = "--model mobilenetv3_small_050 --img-size 32 --epochs 1"
COLORS = {"with_mask": (255, 0, 0), "without_mask": (0, 255, 0), "mask_worn_incorrectly": (0, 0, 255)}


def make_folder(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for side, n in (("train", per_class), ("validation", 2)):
        for label, color in COLORS.items():
            (root / side / label).mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.array(color) + rng.normal(0, 20, (40, 36, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(root / side / label / f"{i}.jpg"), img)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    data = make_folder(tmp / "data")
    out = tmp / "out"
    argv = f"{TINY} --dataset {data} --batch-size 8 --voc-weight 5 --output-dir {out}"
    assert train.main(argv.split()) == 0
    return data, out


def test_outputs(trained):
    _, out = trained
    assert {
        "config.json",
        "model.safetensors",
        "README.md",
        "metrics.json",
        "history.json",
        "plot.png",
        "confusion.png",
    } <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_class"]) == set(LABELS)
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["num_samples"] == 6
    assert 0 <= metrics["accuracy"] <= 1 and metrics["latency_ms_batch8"] > 0
    assert "'voc_': 5.0" in metrics["config"]["source_weights"]  # --voc-weight reaches the sampler's config
    assert set(metrics["by_size"]) == {"<16", "16-32", ">=32"} and metrics["by_size"][">=32"]["count"] == 0
    assert cv2.imread(str(out / "plot.png")) is not None


def test_model_card_metadata(trained):
    _, out = trained
    card = (out / "README.md").read_text()
    front = card.split("---\n")[1]
    for key in ("library_name: timm", "license: agpl-3.0", "tags:", "datasets:", "model-index:", "type: accuracy"):
        assert key in front
    assert "python train.py --model mobilenetv3_small_050" in card  # the command that produced it
    assert "base_model" not in front  # trained from scratch: no base model claimed


def test_reload_gives_identical_predictions(trained):
    data, out = trained
    clf = MaskClassifier.from_pretrained(out)
    again = MaskClassifier.from_pretrained(out)
    crops = [cv2.imread(str(p)) for p in sorted((data / "validation").rglob("*.jpg"))]
    np.testing.assert_array_equal(clf.classify(crops)[1], again.classify(crops)[1])
    assert clf.label_names == LABELS  # folder order (alphabetical) remapped to maskdet's order


def saved_val_loss(out: Path, data: Path) -> float:
    """Cross-entropy of the saved model on the validation images, read the way training reads them."""
    from PIL import Image

    clf = MaskClassifier.from_pretrained(out)
    paths = sorted((data / "validation").rglob("*.jpg"))
    crops = [np.asarray(Image.open(p).convert("RGB"))[..., ::-1] for p in paths]
    probs = clf.classify(crops)[1]
    truth = [clf.label_names.index(p.parent.name) for p in paths]
    return float(-np.mean(np.log(probs[np.arange(len(paths)), truth])))


def test_saved_weights_are_the_validated_ones(trained):
    """metrics.json and history.json must describe the model on disk, read back the way training reads."""
    data, out = trained
    history = json.loads((out / "history.json").read_text())
    assert saved_val_loss(out, data) == pytest.approx(history[-1]["val_loss"], rel=1e-4)


def test_push_to_hub_flag(tmp_path):
    data = make_folder(tmp_path / "data", per_class=2)
    from huggingface_hub import HfApi

    uploaded = {}

    def fake_upload(self, *, repo_id, folder_path, allow_patterns, **kwargs):
        uploaded[repo_id] = sorted(p.name for p in Path(folder_path).iterdir() if p.name in allow_patterns)

    with (
        mock.patch.object(HfApi, "create_repo", return_value=mock.Mock(repo_id="me/clf")),
        mock.patch.object(HfApi, "upload_folder", fake_upload),
    ):
        code = train.main(f"{TINY} --output-dir {tmp_path / 'out'} --dataset {data} --push-to-hub me/clf".split())
    assert code == 0
    assert uploaded == {
        "me/clf": [
            "README.md",
            "config.json",
            "confusion.png",
            "history.json",
            "metrics.json",
            "model.onnx",
            "model.safetensors",
            "plot.png",
        ]
    }


def test_failed_push_names_the_saved_folder_and_the_retry(tmp_path, capsys):
    """No network: one line, the trained model stays in --output-dir, and the retry command is given."""
    data = make_folder(tmp_path / "data", per_class=2)
    from huggingface_hub import HfApi

    out = tmp_path / "out"
    offline = ConnectionError("[Errno -3] Temporary failure in name resolution")
    with mock.patch.object(HfApi, "create_repo", side_effect=offline):
        code = train.main(f"{TINY} --output-dir {out} --dataset {data} --push-to-hub me/clf".split())
    err = capsys.readouterr().err  # training's progress bars, then the error
    line = err.rstrip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err and line.startswith("error: push to 'me/clf' failed (ConnectionError")
    assert f"saved in {str(out)!r}" in line and line.endswith(f"retry with: maskdet push me/clf --folder {out}")
    assert {"config.json", "model.safetensors", "model.onnx", "README.md", "metrics.json"} <= {
        p.name for p in out.iterdir()
    }
    assert MaskClassifier.from_pretrained(out).path == out  # intact: it loads


def test_bad_arguments_exit_cleanly(tmp_path, capsys):
    assert train.main(["--dataset", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--img-size", "8"]) == 2
    assert "img_size" in capsys.readouterr().err
    with pytest.raises(ValueError, match="pretrained"):
        TrainConfig(pretrained="yes")
    with pytest.raises(ValueError, match="--folds"):
        TrainConfig(folds=1)
    with pytest.raises(ValueError, match="--folds K"):
        TrainConfig(final=False)
    with pytest.raises(SystemExit):
        train.main(["--dataset", str(tmp_path), "--output-dir", str(tmp_path), "--source-weight", "synth_=-1"])


def test_classification_metrics_by_hand():
    m = classification_metrics(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), ("a", "b", "c"))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.5) and m["per_class"]["b"]["recall"] == 1.0
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)


def make_sources(root: Path, per_source: int = 6) -> Path:
    """Two real scene sources per class (voc_, extra_), each file naming its own scene image, plus validation."""
    rng = np.random.default_rng(1)
    for side, n in (("train", per_source), ("validation", 2)):
        for label, color in COLORS.items():
            (root / side / label).mkdir(parents=True)
            for source in ("voc", "extra"):
                for i in range(n):
                    img = np.clip(np.array(color) + rng.normal(0, 20, (40, 36, 3)), 0, 255).astype(np.uint8)
                    # a dot in the image stem, as facemask-extra has ("...fit-760w"): folds must keep it
                    cv2.imwrite(str(root / side / label / f"{source}_{label[:5]}{i}.fit_0.jpg"), img)
    return root


def test_incorrect_figures_where_the_source_labels_it():
    """A source that never labels mask_worn_incorrectly (facemask-extra) is left out of its labelled figures."""
    # voc: 2 incorrect (1 found), 1 with_mask called incorrect; extra: 2 with_mask called incorrect (badly worn)
    y = np.array([2, 2, 0, 0, 1, 0, 0, 1])
    p = np.array([2, 0, 2, 0, 1, 2, 2, 1])
    sources = ["voc"] * 5 + ["extra"] * 3
    m = detailed_metrics(y, p, LABELS, sources=sources)
    assert m["per_class"][LABELS[2]]["precision"] == pytest.approx(1 / 4)
    h = headline(m)
    assert h["incorrect_precision"] == pytest.approx(1 / 4) and h["incorrect_recall"] == pytest.approx(1 / 2)
    assert h["incorrect_precision_labelled"] == pytest.approx(1 / 2)
    assert h["incorrect_recall_labelled"] == pytest.approx(1 / 2)
    assert where_labelled(m, LABELS[2])["sources"] == ["voc"]
    assert where_labelled(detailed_metrics(y, p, LABELS), LABELS[2]) is None  # no sources given
    no_incorrect = np.array([0, 0, 0, 0, 1, 0, 0, 1])
    assert headline(detailed_metrics(no_incorrect, p, LABELS, sources=sources))["incorrect_precision_labelled"] is None
    m["unreadable"] = []
    text = format_classification(m)  # evaluate.py classify prints it under the by-source table
    assert "mask_worn_incorrectly on the sources that label it (voc): precision 0.500, recall 0.500" in text
    assert "with_mask on the sources" not in text  # both sources label it: the headline row says it all


@pytest.mark.parametrize(("extra_weight", "share"), [(1.0, 0.75), (0.0, 1.0)])
def test_two_sources_are_drawn_as_asked(tmp_path, extra_weight, share):
    """--voc-weight 3 --extra-weight 1: voc_ crops make 3/4 of the draws within each class; weight 0: none."""
    data = make_sources(tmp_path / "data")
    argv = f"{TINY} --dataset {data} --batch-size 50 --samples-per-epoch 600 --output-dir {tmp_path / 'out'}"
    assert train.main([*argv.split(), "--voc-weight", "3", "--extra-weight", str(extra_weight)]) == 0
    drawn = json.loads((tmp_path / "out" / "metrics.json").read_text())["drawn_by_source"]
    assert sum(drawn.values()) == 600
    assert drawn["voc"] / 600 == pytest.approx(share, abs=0.06)


def test_folds_report_spread_and_store_calibration(tmp_path):
    data = make_sources(tmp_path / "data")
    out = tmp_path / "out"
    assert train.main(f"{TINY} --dataset {data} --batch-size 16 --folds 2 --output-dir {out}".split()) == 0
    folds = json.loads((out / "folds.json").read_text())
    assert len(folds["folds"]) == 2
    seen = [f["num_samples"] for f in folds["folds"]]
    assert sum(seen) == 36 and min(seen) > 0  # every real training crop validated exactly once
    assert {"mean", "std"} <= set(folds["summary"]["accuracy"])
    partial = json.loads((out / "folds_partial.json").read_text())  # written after each fold but the last
    assert partial["folds"] == folds["folds"][:1]
    calibration = json.loads((out / "config.json").read_text())["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["label_threshold"] <= 1
    assert calibration == folds["calibration"]
    assert MaskClassifier.from_pretrained(out).temperature == calibration["temperature"]
    assert (out / "reliability.png").is_file() and (out / "reliability_validation.png").is_file()
    with np.load(out / "oof.npz") as oof:  # per crop, for benchmarks/classifier_folds.py --paired
        assert len(set(oof["names"])) == len(oof["labels"]) == len(oof["logits"]) == 36
        assert sorted(np.bincount(oof["fold"])) == sorted(seen)
        pooled = json.loads((out / "folds.json").read_text())["pooled"]
        assert (oof["logits"].argmax(1) == oof["labels"]).mean() == pytest.approx(pooled["accuracy"])


def test_a_run_stopped_in_a_later_fold_keeps_the_finished_folds_predictions(tmp_path):
    """oof.npz is written after each fold, so a long run stopped early is still comparable with --paired."""
    import maskdet.train.classifier as tc

    data = make_sources(tmp_path / "data")
    out = tmp_path / "out"
    real_fit, calls = tc._fit, []

    def fit_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is stopped during its second fold
        return real_fit(*args, **kwargs)

    with mock.patch.object(tc, "_fit", fit_then_stop), pytest.raises(KeyboardInterrupt):
        train.main(f"{TINY} --dataset {data} --batch-size 16 --folds 2 --output-dir {out}".split())
    partial = json.loads((out / "folds_partial.json").read_text())
    with np.load(out / "oof.npz") as oof:
        assert set(oof["fold"]) == {0}
        assert len(oof["names"]) == len(oof["labels"]) == len(oof["logits"]) == partial["folds"][0]["num_samples"]
        assert (oof["logits"].argmax(1) == oof["labels"]).mean() == pytest.approx(partial["folds"][0]["accuracy"])
    assert not (out / "folds.json").exists()


def test_degrade_shrinks_to_the_asked_face_size():
    crop = np.zeros((130, 104, 3), np.uint8)  # a 100 x 80 face with the 15% margin
    small = degrade(crop, random.Random(0), 1.0, (8, 8))
    assert min(small.shape[:2]) == round(8 * 1.3)
    assert degrade(crop, random.Random(0), 0.0, (8, 8)) is crop
    tiny = np.zeros((10, 10, 3), np.uint8)
    assert degrade(tiny, random.Random(0), 1.0, (20, 24)) is tiny  # never grown


def test_add_context_keeps_the_crop_whole_inside_new_surroundings():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    assert add_context(crop, random.Random(0), 0.0, lambda: other) is crop
    seeded = random.Random(3)
    for _ in range(30):  # every kind of surroundings: mirrored edges, the blurred other image, a flat colour
        out = add_context(crop, seeded, 1.0, lambda: other)
        assert out.shape[0] > crop.shape[0] and out.shape[1] > crop.shape[1]
        assert out.shape[0] <= crop.shape[0] * 1.91 and out.shape[1] <= crop.shape[1] * 1.91
        y, x = np.unravel_index(
            np.argmin(cv2.matchTemplate(out, crop, cv2.TM_SQDIFF)), (out.shape[0] - 59, out.shape[1] - 39)
        )
        assert np.array_equal(out[y : y + 60, x : x + 40], crop)  # the face crop itself is untouched, only surrounded
    with pytest.raises(ValueError, match="context-prob"):
        TrainConfig(context_prob=1.5)


def test_mean_spread():
    s = mean_spread([{"a": 0.5, "b": None}, {"a": 0.7, "b": 1.0}])
    assert s["a"]["mean"] == pytest.approx(0.6) and s["a"]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert s["b"] == {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}


def test_fold_limit_trains_the_first_folds_only_and_pairs_with_a_full_run(tmp_path):
    """--fold-limit 1 of --folds 2: one fold model, its out-of-fold predictions on exactly the crops the
    full run's first fold validates on, and no calibration or final model (too few folds for either)."""
    data = make_sources(tmp_path / "data")
    full, quick = tmp_path / "full", tmp_path / "quick"
    base = f"{TINY} --dataset {data} --batch-size 16 --folds 2 --no-final"
    assert train.main(f"{base} --output-dir {full}".split()) == 0
    assert train.main(f"{base} --fold-limit 1 --seed 5 --output-dir {quick}".split()) == 0
    metrics = json.loads((quick / "metrics.json").read_text())
    assert metrics["folds_trained"] == 1 and "calibration" not in metrics
    assert not (quick / "folds.json").exists() and not (quick / "model.safetensors").exists()
    with np.load(full / "oof.npz") as a, np.load(quick / "oof.npz") as b:
        assert set(b["fold"]) == {0}
        assert sorted(b["names"]) == sorted(a["names"][a["fold"] == 0])  # another --seed, the same fold


def test_fold_seed_alone_cuts_the_folds():
    from maskdet.train.classifier import _Data, _folds

    names = [f"voc_img{i}_0.jpg" for i in range(30)]
    data = _Data(None, np.array([i % 3 for i in range(30)]), names, ["voc"] * 30)

    def val_sets(**kw):
        return [sorted(v) for _, v in _folds(TrainConfig(folds=3, **kw), data, LABELS, None)]

    assert val_sets(seed=0) == val_sets(seed=7)  # the training seed leaves the folds alone
    assert val_sets(fold_seed=0) != val_sets(fold_seed=1)


def test_fold_limit_needs_folds_and_no_final_model():
    for bad in (
        {"folds": 3, "fold_limit": 1},
        {"folds": 3, "final": False, "fold_limit": 4},
        {"folds": 3, "final": False, "fold_limit": 0},
    ):
        with pytest.raises(ValueError, match="--fold-limit"):
            TrainConfig(**bad)
    assert TrainConfig(folds=3, final=False, fold_limit=3).fold_limit == 3


def test_folds_do_not_move_with_the_synthetic_masks():
    """Folds are stratified by the real labels of a scene image: drawing a synthetic incorrectly-worn mask
    on one of its faces (a new draw of the crop folder) must not move the image to another fold."""
    from maskdet.train.classifier import _Data, _folds

    names, labels = [], []
    for i in range(12):
        names.append(f"voc_img{i}_0.jpg")
        labels.append(2 if i < 3 else i % 2)  # three images with a real incorrectly-worn face
    cfg = TrainConfig(folds=3)
    plain = _Data(None, np.array(labels), names, ["voc"] * len(names))
    extra = [f"synth_chin_voc_img{i}_0_0.jpg" for i in range(3, 9)]  # incorrect masks on other images' faces
    drawn = _Data(None, np.array(labels + [2] * len(extra)), names + extra, ["voc"] * len(names) + ["synth"] * 6)
    a, b = _folds(cfg, plain, LABELS, None), _folds(cfg, drawn, LABELS, None)
    assert [sorted(v) for _, v in a] == [sorted(v) for _, v in b]  # the same real crops validate in each fold
    for (_, val), (train_rows, _) in zip(a, b, strict=True):  # and a synthetic mask trains with its own image
        held_out = {names[i].rsplit("_", 1)[0] for i in val}
        assert not {drawn.names[i] for i in train_rows if i >= len(names)} & {
            f"synth_chin_{h}_0_0.jpg" for h in held_out
        }
