import json
from pathlib import Path

import numpy as np
import pytest
from voc_sample import make_voc, voc_xml

from maskdet.data.crops import CropDataConfig, face_side, load_crops, prepare_crops, scene_of, source_of
from maskdet.data.voc import (
    BUNDLED_SPLIT,
    EXTRA_SPLIT,
    SPLITS_DIR,
    VocImage,
    load_sets,
    load_split,
    load_voc,
    make_folds,
    make_split,
    read_duplicates,
    read_voc_annotation,
    repeat_factors,
    save_split,
    select,
    split_for,
    voc_to_yolo,
    yolo_label_lines,
)
from maskdet.results import LABELS


@pytest.fixture
def voc(tmp_path):
    return make_voc(tmp_path / "voc")


def test_read_annotation_clips_and_maps_labels(voc):
    w, h, boxes, labels = read_voc_annotation(voc / "annotations" / "img0.xml")
    assert (w, h) == (160, 120)
    assert labels[-1] == "without_mask"
    np.testing.assert_allclose(boxes[-1], [150, 100, 160, 120])  # clipped to the image
    items = load_voc(voc)
    assert len(items) == 12 and next(it for it in items if it.stem == "img11").boxes.shape == (0, 4)
    assert "mask_worn_incorrectly" in {label for it in items for label in it.labels}
    assert "mask_weared_incorrect" not in {label for it in items for label in it.labels}


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (voc_xml("x", 10, 10, [("hat", (1, 1, 5, 5))]), "unknown class 'hat'"),
        ("<annotation><size><width>a</width></size></annotation>", "malformed"),
        ("<annotation", "malformed"),
    ],
)
def test_bad_annotations(tmp_path, xml, message):
    path = tmp_path / "bad.xml"
    path.write_text(xml)
    with pytest.raises(ValueError, match=message):
        read_voc_annotation(path)


def test_split_is_stable_stratified_and_keeps_duplicates(voc):
    items = load_voc(voc)
    dups = read_duplicates(voc)
    assert dups == [("img1", "img2")]
    a = make_split(items, dups, val_fraction=0.3, seed=1)
    assert a == make_split(items, dups, val_fraction=0.3, seed=1)
    assert set(a["train"]).isdisjoint(a["val"]) and len(a["train"]) + len(a["val"]) == 12
    assert ("img1" in a["val"]) == ("img2" in a["val"])
    for side in ("train", "val"):
        labels = {label for it in items if it.stem in a[side] for label in it.labels}
        assert "mask_worn_incorrectly" in labels  # the rare class is on both sides


def test_split_round_trip_and_bundled(tmp_path, voc):
    split = make_split(load_voc(voc))
    assert load_split(save_split(split, tmp_path / "s.json")) == split
    (tmp_path / "bad.json").write_text(json.dumps({"train": ["a"], "val": ["a"]}))
    with pytest.raises(ValueError, match="disjoint"):
        load_split(tmp_path / "bad.json")
    bundled = load_split(BUNDLED_SPLIT)
    assert len(bundled["train"]) > 400 and len(bundled["val"]) > 100


def test_load_sets_joins_folders_and_their_splits(tmp_path):
    a = make_voc(tmp_path / "a", n_images=4)
    b = make_voc(tmp_path / "b", n_images=4)
    for it in (b / "images").iterdir():  # the second set's stems must differ from the first's
        it.rename(it.with_name("b_" + it.name))
    for it in (b / "annotations").iterdir():
        it.rename(it.with_name("b_" + it.name))
    sa = save_split({"train": ["img0", "img1", "img2"], "val": ["img3"]}, tmp_path / "a.json")
    sb = save_split({"train": ["b_img0"], "val": ["b_img1", "b_img2", "b_img3"]}, tmp_path / "b.json")
    items, split = load_sets([(a, sa), (b, sb)])
    assert len(items) == 8
    assert split == {"train": ["b_img0", "img0", "img1", "img2"], "val": ["b_img1", "b_img2", "b_img3", "img3"]}
    with pytest.raises(ValueError, match="more than one dataset folder"):
        load_sets([(a, sa), (a, sa)])


def test_split_for_finds_bundled_splits_by_folder_name(tmp_path):
    assert split_for(tmp_path / "facemask-voc") == BUNDLED_SPLIT
    assert split_for(tmp_path / "facemask-extra") == SPLITS_DIR / "facemask-extra.json"
    extra = load_split(SPLITS_DIR / "facemask-extra.json")  # 230 scenes, 1 in 5 held out
    assert (len(extra["train"]), len(extra["val"])) == (184, 46)
    with pytest.raises(FileNotFoundError, match="no bundled split"):
        split_for(tmp_path / "my-data")


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[0, 0, 100, 50]], "0 0.500000 0.500000 1.000000 1.000000\n"),
        ([[-10, 10, 50, 60]], "0 0.250000 0.600000 0.500000 0.800000\n"),  # clipped at 0 and the bottom
        ([[120, 10, 130, 20]], ""),  # entirely outside
        (np.zeros((0, 4)), ""),
    ],
)
def test_yolo_label_lines(boxes, expected):
    assert yolo_label_lines(np.array(boxes), 100, 50) == expected


def test_voc_to_yolo(voc, tmp_path):
    items = load_voc(voc)
    split = make_split(items, val_fraction=0.25)
    yaml = voc_to_yolo(items, split, tmp_path / "yolo")
    assert "names:\n  0: face" in yaml.read_text()
    for side in ("train", "val"):
        assert len(list((tmp_path / "yolo" / "images" / side).iterdir())) == len(split[side])
    all_labels = list((tmp_path / "yolo" / "labels").rglob("*.txt"))
    assert len(all_labels) == 12
    no_face = next(p for p in all_labels if p.stem == "img11")
    assert no_face.read_text() == ""
    rows = np.array([line.split() for p in all_labels for line in p.read_text().splitlines()], float)
    assert (rows[:, 0] == 0).all() and (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()
    assert len(rows) == sum(len(it.boxes) for it in items)
    voc_to_yolo(items, split, tmp_path / "yolo")  # re-runnable


def test_voc_to_yolo_by_label_gives_each_mask_label_its_class(voc, tmp_path):
    """The 3-class detector's data: class ids in LABELS order, the same boxes as the one-class data."""
    items = load_voc(voc)
    split = make_split(items, val_fraction=0.25)
    yaml = voc_to_yolo(items, split, tmp_path / "yolo", by_label=True)
    assert "names:\n  0: with_mask\n  1: without_mask\n  2: mask_worn_incorrectly\n" in yaml.read_text()
    for it in items:
        side = "train" if it.stem in split["train"] else "val"
        label_file = tmp_path / "yolo" / "labels" / side / f"{it.stem}.txt"
        rows = [line.split() for line in label_file.read_text().splitlines()]
        inside = yolo_label_lines(it.boxes, it.width, it.height).splitlines()
        assert [r[1:] for r in rows] == [line.split()[1:] for line in inside]
        kept = [lab for lab, box in zip(it.labels, it.boxes, strict=True) if yolo_label_lines(box, it.width, it.height)]
        assert [LABELS[int(r[0])] for r in rows] == kept  # a box outside the image is dropped with its label
    files = (tmp_path / "yolo" / "labels").rglob("*.txt")
    assert {int(line.split()[0]) for f in files for line in f.read_text().splitlines()} == {0, 1, 2}


def _image(*labels):
    return VocImage(Path("x.jpg"), 10, 10, np.zeros((len(labels), 4), np.float32), list(labels))


def test_repeat_factors_by_hand():
    """LVIS rule: r = max(1, sqrt(t / f)) per label, the image's largest r, rounded."""
    items = [_image("with_mask"), _image("with_mask"), _image("with_mask", "without_mask"), _image()]
    # f(with) = 3/4 -> r 1.15 -> 1; f(without) = 1/4 -> r 2 at t = 1, 1.41 -> 1 at t = 0.5, 2.83 -> 3 at t = 2
    assert repeat_factors(items, 1.0) == [1, 1, 2, 1]
    assert repeat_factors(items, 0.5) == [1, 1, 1, 1]
    assert repeat_factors(items, 2.0) == [2, 2, 3, 1]  # f(with) = 3/4 -> sqrt(8/3) = 1.63 -> 2
    with pytest.raises(ValueError, match="> 0"):
        repeat_factors(items, 0)


def test_voc_to_yolo_repeats_rare_labels(voc, tmp_path):
    items = load_voc(voc)
    split = make_split(items, val_fraction=0.25)
    yaml = voc_to_yolo(items, split, tmp_path / "yolo", repeat_threshold=1.0)
    assert "train: train.txt" in yaml.read_text()
    listed = (tmp_path / "yolo" / "train.txt").read_text().splitlines()
    train = select(items, split["train"])
    expected = repeat_factors(train, 1.0)
    assert max(expected) > 1  # the sample has rare labels, so something is repeated
    assert len(listed) == sum(expected)
    for it, r in zip(train, expected, strict=True):
        assert sum(Path(line).name == it.path.name for line in listed) == r
    for line in listed:  # ultralytics finds each label by swapping /images/ for /labels/
        assert Path(line).is_file() and Path(line.replace("/images/", "/labels/")).with_suffix(".txt").is_file()
    assert "train: images/train" in voc_to_yolo(items, split, tmp_path / "yolo").read_text()  # off again


def test_prepare_crops_layout_and_labels(voc, tmp_path):
    items = load_voc(voc)
    split_path = save_split(make_split(items, read_duplicates(voc), 0.3), tmp_path / "split.json")
    cfg = CropDataConfig(voc=voc, split=split_path, extra_voc=None, extra=(), yunet=None, min_size=12, margin=0.0)
    manifest = prepare_crops(cfg, tmp_path / "crops")
    out = tmp_path / "crops"
    assert {p.name for p in (out / "train").iterdir()} == {"with_mask", "without_mask", "mask_worn_incorrectly"}
    counts = manifest["counts"]
    total = sum(v for k, v in counts.items())
    assert total == sum(len(it.boxes) for it in items) - 1  # the clipped 10x20 face is under min_size
    # each crop is the flat class colour (margin 0): labels landed in the right folders
    import cv2

    for path in out.rglob("*.jpg"):
        b, g, r = cv2.imread(str(path)).reshape(-1, 3).mean(0)
        expected = {"with_mask": b, "without_mask": g, "mask_worn_incorrectly": r}[path.parent.name]
        assert expected > 200
    assert not list(out.rglob("synth_*"))
    ds = load_crops(out)
    assert set(ds) == {"train", "validation"}
    assert len(ds["train"]) + len(ds["validation"]) == total
    assert prepare_crops(cfg, out)["counts"] == counts  # safe to re-run


def test_second_scene_set_by_its_own_split(voc, tmp_path):
    """facemask-extra is cut like facemask-voc, by its own split, into extra_* files on both sides."""
    extra = make_voc(tmp_path / "extra", n_images=6, seed=1, duplicates=False)
    split_a = save_split(make_split(load_voc(voc), read_duplicates(voc), 0.3), tmp_path / "a.json")
    split_b = make_split(load_voc(extra), val_fraction=0.34)
    cfg = CropDataConfig(
        voc=voc,
        split=split_a,
        extra_voc=extra,
        extra_split=save_split(split_b, tmp_path / "b.json"),
        extra=(),
        yunet=None,
        margin=0.0,
    )
    counts = prepare_crops(cfg, tmp_path / "crops")["counts"]
    assert any(k.startswith("validation/") and k.endswith("/extra") for k in counts)
    for side, folder in (("train", "train"), ("val", "validation")):
        stems = {scene_of(p.name) for p in (tmp_path / "crops" / folder).rglob("extra_*.jpg")}
        assert stems == {f"extra_{s}" for s in split_b[side] if s != "img5"}  # img5 has no faces


@pytest.mark.parametrize(
    ("name", "source", "scene"),
    [
        ("voc_maksssksksss12_3.jpg", "voc", "voc_maksssksksss12"),
        ("extra_train_coronavirus_2_0.jpg", "extra", "extra_train_coronavirus_2"),
        ("synth_below_nose_voc_img4_1_0.jpg", "synth", "voc_img4"),
        ("synth_one_ear_extra_a_b_2_1.jpg", "synth", "extra_a_b"),
        ("synth_chin_facemask-crops_x_0.jpg", "synth", None),
        ("web_facemask-crops_x.jpg", "web", None),
        ("other.jpg", "other", None),
    ],
)
def test_crop_names_say_source_and_scene(name, source, scene):
    assert source_of(name) == source and scene_of(name) == scene


def test_face_side_undoes_the_margin():
    assert face_side((130, 260, 3), margin=0.15) == pytest.approx(100)


def test_folds_cover_every_image_once_and_keep_duplicates(voc):
    items = load_voc(voc)
    folds = make_folds(items, 3, read_duplicates(voc), seed=0)
    assert set(folds) == {it.stem for it in items} and set(folds.values()) == {0, 1, 2}
    assert folds["img1"] == folds["img2"]  # a duplicate pair never straddles folds
    incorrect = {folds[it.stem] for it in items if "mask_worn_incorrectly" in it.labels}
    assert len(incorrect) == 3  # the rare class reaches every fold
    sizes = np.bincount(list(folds.values()))
    assert sizes.max() - sizes.min() <= 2
    assert make_folds(items, 3, read_duplicates(voc), seed=0) == folds
    with pytest.raises(ValueError, match="--folds"):
        make_folds(items, 1)


def test_extra_split_is_the_documented_one():
    """The bundled facemask-extra split is make_split(seed 0, val 0.2): detector and classifier share it."""
    root = Path("../shared/datasets/facemask-extra")
    if not (root / "annotations").is_dir():
        pytest.skip("needs ../shared/datasets/facemask-extra")
    assert load_split(EXTRA_SPLIT) == make_split(load_voc(root), read_duplicates(root), 0.2, seed=0)
