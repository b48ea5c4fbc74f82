"""evaluate.py compare: the paired bootstrap reproduces COCO AP on the full draw and tells a win from a tie."""

import json
from pathlib import Path

import numpy as np
import pytest

import evaluate
from maskdet.data.voc import VocImage
from maskdet.eval.compare import (
    PREDICTIONS,
    compare_runs,
    image_matches,
    load_predictions,
    paired_bootstrap,
    paired_crop_bootstrap,
    ranked_ap,
    resampled_map,
    save_predictions,
)
from maskdet.eval.metrics import ImageBoxes, mean_average_precision
from maskdet.eval.pipeline import ground_truth, ranked
from maskdet.results import LABELS, Faces


def _scene(rng, n_images=40, noise=0.0):
    """Generated ground truth and detections: each face found with a jittered box (more jitter and
    more false faces with `noise`), a random label right 80% of the time."""
    items, faces = [], []
    for i in range(n_images):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 400, (n, 2))
        gt = np.concatenate([xy, xy + rng.uniform(10, 60, (n, 2))], axis=1).astype(np.float32)
        labels = rng.integers(0, 3, n)
        items.append(VocImage(Path(f"img{i}.jpg"), 500, 500, gt, [LABELS[c] for c in labels]))
        found = gt + rng.normal(0, 1 + 4 * noise, gt.shape).astype(np.float32)
        false = int(rng.poisson(1 + 4 * noise))
        fxy = rng.uniform(0, 400, (false, 2))
        boxes = np.concatenate([found, np.concatenate([fxy, fxy + 30], axis=1)]).astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        top = np.where(rng.random(len(boxes)) < 0.8, np.concatenate([labels, rng.integers(0, 3, false)]), 0)
        probs = np.full((len(boxes), 3), 0.1, np.float32)
        probs[np.arange(len(boxes)), top] = 0.8
        faces.append(Faces(boxes, rng.uniform(0.05, 1, len(boxes)).astype(np.float32), probs=probs))
    return items, faces


@pytest.mark.parametrize("face", [False, True])
@pytest.mark.parametrize("iou", [0.5, 0.3])
def test_full_draw_reproduces_pycocotools(face, iou):
    items, faces = _scene(np.random.default_rng(0), noise=0.5)
    gts = ground_truth(items, LABELS)
    k = 3
    if face:
        gts, k = [ImageBoxes(g.boxes, np.zeros_like(g.class_ids)) for g in gts], 1
    preds = ranked(faces, face=face)
    expected = mean_average_precision(gts, preds, num_classes=k)["map50" if iou == 0.5 else "map30"]
    assert 0.2 < expected < 0.95
    assert resampled_map(image_matches(gts, preds, k, iou), np.arange(len(gts))) == pytest.approx(expected, abs=1e-9)


def test_a_run_against_itself_is_a_tie_and_a_better_run_wins():
    rng = np.random.default_rng(1)
    items, noisy = _scene(rng, noise=1.0)
    gts = ground_truth(items, LABELS)
    same = paired_bootstrap(gts, ranked(noisy), ranked(noisy), 3, resamples=200)
    assert same["diff"] == 0 and same["low"] == same["high"] == 0 and same["verdict"] == "tie"
    exact = [
        Faces(it.boxes, np.ones(len(it.boxes)), probs=np.eye(3)[[LABELS.index(x) for x in it.labels]]) for it in items
    ]
    better = paired_bootstrap(gts, ranked(noisy), ranked(exact), 3, resamples=200)
    assert better["b"] == pytest.approx(1.0) and better["low"] > 0 and better["verdict"] == "B better"
    worse = paired_bootstrap(gts, ranked(exact), ranked(noisy), 3, resamples=200)
    assert worse["high"] < 0 and worse["verdict"] == "A better"
    # a small change on 40 images is inside the spread: one more false face in one image
    nudged = list(noisy)
    f = noisy[0]
    nudged[0] = Faces(
        np.concatenate([f.boxes, [[450, 450, 480, 480]]]),
        np.append(f.scores, 0.5),
        probs=np.concatenate([f.probs, f.probs[:1]]),
    )
    small = paired_bootstrap(gts, ranked(noisy), ranked(nudged), 3, resamples=200)
    assert small["diff"] < 0 and small["verdict"] == "tie"


def test_predictions_round_trip_and_compare_cli(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(2)
    items, faces = _scene(rng, n_images=12)
    _, other = _scene(np.random.default_rng(2), n_images=12, noise=1.0)
    stems = [it.stem for it in items]
    for name, run in (("a", faces), ("b", other)):
        (tmp_path / name).mkdir()
        save_predictions(tmp_path / name / PREDICTIONS, stems, {"640": run, "320": [*run[:-1], Faces.empty()]})
    loaded_stems, runs = load_predictions(tmp_path / "a" / PREDICTIONS)
    assert loaded_stems == stems and list(runs) == ["640", "320"] and len(runs["320"][-1]) == 0
    assert all(
        np.array_equal(x.boxes, y.boxes) and np.array_equal(x.probs, y.probs)
        for x, y in zip(runs["640"], faces, strict=True)
    )

    import maskdet.cli

    monkeypatch.setattr(maskdet.cli, "voc_items", lambda a: items)
    out = tmp_path / "cmp.json"
    assert (
        evaluate.main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "50", "--json", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "| 640 | map50 |" in printed and "| 320 | face_ap50 |" in printed and "| 320 | face_ap30 |" in printed
    result = json.loads(out.read_text())
    assert result == json.loads(
        json.dumps(compare_runs(items, runs, load_predictions(tmp_path / "b" / PREDICTIONS)[1], resamples=50))
    )
    assert result["640"]["map50"]["verdict"] == "A better"  # the noisy run is worse

    monkeypatch.setattr(maskdet.cli, "voc_items", lambda a: items[:-1])
    assert evaluate.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "other images" in capsys.readouterr().err
    monkeypatch.setattr(maskdet.cli, "voc_items", lambda a: items)
    assert evaluate.main(["compare", str(tmp_path / "a"), str(tmp_path / "none")]) == 2
    assert "evaluate.py pipeline" in capsys.readouterr().err


def _crops(rng, n_groups=30, per_group=6, right=0.8):
    labels = rng.integers(0, 3, n_groups * per_group)
    pred = np.where(rng.random(len(labels)) < right, labels, rng.integers(0, 3, len(labels)))
    groups = [f"img{i // per_group}" for i in range(len(labels))]
    return labels, pred, groups


def test_paired_crops_full_draw_is_classification_metrics():
    from maskdet.eval.metrics import classification_metrics

    labels, pred_a, groups = _crops(np.random.default_rng(0))
    pred_b = np.where(np.random.default_rng(1).random(len(labels)) < 0.5, labels, pred_a)
    r = paired_crop_bootstrap(labels, pred_a, pred_b, groups, 3, rare=2, resamples=50)
    for key, pred in (("a", pred_a), ("b", pred_b)):
        m = classification_metrics(labels, pred, ("x", "y", "z"))
        assert r["accuracy"][key] == pytest.approx(m["accuracy"])
        assert r["macro_f1"][key] == pytest.approx(m["macro_f1"])
        assert r["rare_recall"][key] == pytest.approx(m["per_class"]["z"]["recall"])
        assert r["rare_precision"][key] == pytest.approx(m["per_class"]["z"]["precision"])


def test_paired_crops_tell_a_win_from_a_tie():
    rng = np.random.default_rng(2)
    labels, pred_a, groups = _crops(rng, right=0.6)
    same = paired_crop_bootstrap(labels, pred_a, pred_a, groups, 3, rare=2)
    assert all(v["verdict"] == "tie" and v["low"] == v["high"] == 0 for v in same.values())
    better = paired_crop_bootstrap(labels, pred_a, labels, groups, 3, rare=2)  # B is always right
    assert better["accuracy"]["verdict"] == "B better" and better["accuracy"]["b"] == 1.0
    one = pred_a.copy()
    wrong = np.flatnonzero(one != labels)[0]
    one[wrong] = labels[wrong]  # one more crop right: inside the spread
    assert paired_crop_bootstrap(labels, pred_a, one, groups, 3, rare=2)["accuracy"]["verdict"] == "tie"


def test_paired_crops_resample_whole_groups():
    """With one scene image, every draw is that image: no spread at all, however many crops it holds."""
    labels, pred_a, _ = _crops(np.random.default_rng(3))
    r = paired_crop_bootstrap(labels, pred_a, labels, ["one"] * len(labels), 3, rare=2, resamples=20)
    assert r["accuracy"]["low"] == r["accuracy"]["high"] == pytest.approx(r["accuracy"]["diff"])
    with pytest.raises(ValueError, match="same length"):
        paired_crop_bootstrap(labels, pred_a, labels[:-1], ["one"] * len(labels), 3, rare=2)


def test_ranked_ap_by_hand_and_weights_count_rows():
    positive, scores = np.array([1, 0, 1], bool), np.array([0.9, 0.8, 0.7])
    assert ranked_ap(positive, scores) == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive
    # a weight of 2 is the row twice: [pos, pos, neg, pos] ranked so gives precisions 1, 1, 3/4
    assert ranked_ap(positive, scores, np.array([2, 1, 1])) == pytest.approx((1 + 1 + 0.75) / 3)
    assert ranked_ap(np.array([1, 1, 0], bool), np.array([0.1, 0.2, 0.9])) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert np.isnan(ranked_ap(np.zeros(3, bool), scores))


def test_paired_crops_rank_the_rare_class_by_its_scores():
    labels, pred_a, groups = _crops(np.random.default_rng(4))
    rare = labels == 2
    sure, noise = rare + 0.0, np.random.default_rng(5).random(len(labels))
    r = paired_crop_bootstrap(labels, pred_a, pred_a, groups, 3, rare=2, resamples=100, rare_scores=(noise, sure))
    assert r["rare_ap"]["a"] == pytest.approx(ranked_ap(rare, noise)) and r["rare_ap"]["b"] == 1.0
    assert r["rare_ap"]["verdict"] == "B better" and r["accuracy"]["verdict"] == "tie"
    assert "rare_ap" not in paired_crop_bootstrap(labels, pred_a, pred_a, groups, 3, rare=2, resamples=5)
    none = labels % 2  # no crop of class 2: no AP (it would be nan, and nan compares as a loss)
    r = paired_crop_bootstrap(none, none, none, groups, 3, rare=2, resamples=5, rare_scores=(noise, sure))
    assert "rare_ap" not in r and "rare_recall" not in r and "rare_precision" not in r and "accuracy" in r
    with pytest.raises(ValueError, match="rare_scores"):
        paired_crop_bootstrap(labels, pred_a, pred_a, groups, 3, rare=2, rare_scores=(noise, sure[:-1]))
