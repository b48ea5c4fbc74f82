"""Data: PASCAL VOC face annotations, the image split, YOLO conversion and face crops.

The split is stored as data (a JSON list of image stems per side) so that the classifier, the
detector and evaluation all use the same images for validation.
"""

from __future__ import annotations

import json
import math
import random
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskdet.results import LABELS

# The Kaggle dataset's own class names -> maskdet's labels.
VOC_LABEL_MAP = {
    "with_mask": "with_mask",
    "without_mask": "without_mask",
    "mask_weared_incorrect": "mask_worn_incorrectly",
    "mask_worn_incorrectly": "mask_worn_incorrectly",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS_DIR = Path(__file__).parents[1] / "splits"


def bundled_split(name: str) -> Path:
    """Where the bundled split of the dataset folder called `name` lives (it may not exist: see `split_for`)."""
    return SPLITS_DIR / f"{name}.json"


BUNDLED_SPLIT = bundled_split("facemask-voc")
EXTRA_SPLIT = bundled_split("facemask-extra")  # make_split(seed 0, val_fraction 0.2)


@dataclass
class VocImage:
    """One annotated image: boxes (N, 4) float32 xyxy pixels clipped to the image, labels in LABELS."""

    path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: list[str]

    @property
    def stem(self) -> str:
        return self.path.stem


def read_voc_annotation(xml_path: str | Path) -> tuple[int, int, np.ndarray, list[str]]:
    """Parse one VOC XML file -> (width, height, boxes clipped to the image, maskdet labels).

    Raises:
        ValueError: an unknown class name or a malformed file (the message names the file).
    """
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
        width = int(float(root.findtext("size/width")))
        height = int(float(root.findtext("size/height")))
    except (ET.ParseError, TypeError, ValueError) as e:
        raise ValueError(f"malformed VOC annotation {str(xml_path)!r}: {e}") from e
    boxes, labels = [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_LABEL_MAP:
            raise ValueError(f"unknown class {name!r} in {str(xml_path)!r}; known: {sorted(VOC_LABEL_MAP)}")
        bb = obj.find("bndbox")
        x1, y1, x2, y2 = (float((bb.findtext(k) or "nan").strip()) for k in ("xmin", "ymin", "xmax", "ymax"))
        x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
        y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue  # a box that lies outside the image after clipping holds no face
        boxes.append((x1, y1, x2, y2))
        labels.append(VOC_LABEL_MAP[name])
    return width, height, np.asarray(boxes, np.float32).reshape(-1, 4), labels


def load_voc(root: str | Path) -> list[VocImage]:
    """All annotated images under `root` (`images/` + `annotations/`), matched by file stem, sorted."""
    from maskdet.assets import VOC

    root = VOC.check(root, "--data")
    folder = root / "images"
    images = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES} if folder.is_dir() else {}
    if not images:
        raise FileNotFoundError(f"no images under {str(root / 'images')!r}; expected a VOC folder with images/")
    items = []
    for xml in sorted((root / "annotations").glob("*.xml")):
        if xml.stem in images:
            w, h, boxes, labels = read_voc_annotation(xml)
            items.append(VocImage(images[xml.stem], w, h, boxes, labels))
    return sorted(items, key=lambda it: it.stem)


def read_duplicates(root: str | Path) -> list[tuple[str, ...]]:
    """Groups of near-duplicate image stems from `DUPLICATES.txt` (absent file -> no groups)."""
    path = Path(root) / "DUPLICATES.txt"
    if not path.is_file():
        return []
    groups = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            groups.append(tuple(Path(name).stem for name in line.split()))
    return groups


def make_split(
    items: Sequence[VocImage], duplicates: Iterable[Sequence[str]] = (), val_fraction: float = 0.2, seed: int = 0
) -> dict[str, list[str]]:
    """Split images into train / val, stratified by their rarest label, duplicates kept together.

    Groups of duplicates move as one unit; each group's stratum is the rarest class it holds, so
    images with incorrectly worn masks land on both sides in proportion.

    Returns:
        {"train": [stems], "val": [stems]}, each sorted.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), but got {val_fraction}")
    strata = _strata(items, duplicates)
    rng = random.Random(seed)
    split = {"train": [], "val": []}
    for stratum in sorted(strata):
        units = sorted(strata[stratum])
        rng.shuffle(units)
        n_val = max(1, round(len(units) * val_fraction)) if len(units) > 1 else 0
        for i, unit in enumerate(units):
            split["val" if i < n_val else "train"].extend(unit)
    return {k: sorted(v) for k, v in split.items()}


def _strata(items: Sequence[VocImage], duplicates: Iterable[Sequence[str]]) -> dict[int, list[list[str]]]:
    """Units of stems (duplicate groups) by stratum: the rarest label a unit holds (0 = incorrect first)."""
    stems = {it.stem for it in items}
    parent = {s: s for s in stems}

    def find(s: str) -> str:
        while parent[s] != s:
            s = parent[s]
        return s

    for group in duplicates:
        present = [s for s in group if s in stems]
        for other in present[1:]:
            parent[find(other)] = find(present[0])
    groups: dict[str, list[VocImage]] = {}
    for it in items:
        groups.setdefault(find(it.stem), []).append(it)
    rarity = {"mask_worn_incorrectly": 0, "without_mask": 1, "with_mask": 2}
    strata: dict[int, list[list[str]]] = {}
    for members in groups.values():
        labels = {label for it in members for label in it.labels}
        stratum = min((rarity.get(label, 3) for label in labels), default=3)
        strata.setdefault(stratum, []).append(sorted(it.stem for it in members))
    return strata


def make_folds(
    items: Sequence[VocImage], k: int, duplicates: Iterable[Sequence[str]] = (), seed: int = 0
) -> dict[str, int]:
    """Assign every image to one of `k` folds, stratified as `make_split` (rarest label; duplicates together).

    Returns:
        {stem: fold index in [0, k)}.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2 folds (use --folds 2 or more), but got {k}")
    strata = _strata(items, duplicates)
    rng = random.Random(seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for stratum in sorted(strata):
        units = sorted(strata[stratum])
        rng.shuffle(units)
        for i, unit in enumerate(units):  # dealt round-robin, continuing across strata: folds stay even
            fold_of.update(dict.fromkeys(unit, (offset + i) % k))
        offset += len(units)
    return fold_of


def save_split(split: dict[str, list[str]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1) + "\n")
    return path


def load_split(path: str | Path = BUNDLED_SPLIT) -> dict[str, list[str]]:
    """Read a split JSON ({"train": [...], "val": [...]}); the bundled one by default."""
    split = json.loads(Path(path).read_text())
    if not {"train", "val"} <= split.keys() or set(split["train"]) & set(split["val"]):
        raise ValueError(f"{str(path)!r} must hold disjoint 'train' and 'val' lists of image stems")
    return split


def split_for(root: str | Path) -> Path:
    """The bundled split of a dataset folder, by its name (`facemask-extra` -> splits/facemask-extra.json).

    Raises:
        FileNotFoundError: no bundled split has that name; the message says how to make one.
    """
    path = bundled_split(Path(root).resolve().name)
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled split for {str(root)!r} (looked for {path.name} in {str(SPLITS_DIR)!r}); make one with "
            "maskdet.data.voc.make_split + save_split and pass it"
        )
    return path


def load_sets(sets: Sequence[tuple[str | Path, str | Path]]) -> tuple[list[VocImage], dict[str, list[str]]]:
    """Several VOC folders as one: their images and the union of their splits ((folder, split JSON) pairs).

    Raises:
        ValueError: two folders share an image stem (labels are written per stem).
    """
    items: list[VocImage] = []
    split: dict[str, list[str]] = {"train": [], "val": []}
    for root, split_path in sets:
        items.extend(load_voc(root))
        for side, stems in load_split(split_path).items():
            split.setdefault(side, []).extend(stems)
    repeated = [stem for stem, n in Counter(it.stem for it in items).items() if n > 1]
    if repeated:
        raise ValueError(f"image stems {repeated[:3]} appear in more than one dataset folder; rename one set")
    return sorted(items, key=lambda it: it.stem), {k: sorted(v) for k, v in split.items()}


def select(items: Sequence[VocImage], stems: Iterable[str]) -> list[VocImage]:
    wanted = set(stems)
    return [it for it in items if it.stem in wanted]


def repeat_factors(items: Sequence[VocImage], threshold: float) -> list[int]:
    """How often each image is drawn per epoch: LVIS repeat-factor sampling (Gupta et al. 2019).

    A label seen in a fraction f of the images gets r = max(1, sqrt(threshold / f)); an image takes
    the largest r of its labels, rounded. Why: the detector learns "face" mostly from masked faces
    (with_mask is in 9 of 10 training images), and scores unmasked and badly masked faces lower.
    """
    if threshold <= 0:
        raise ValueError(f"repeat threshold must be > 0, but got {threshold}")
    seen = Counter(label for it in items for label in set(it.labels))  # images per label
    factor = {label: max(1.0, math.sqrt(threshold * len(items) / n)) for label, n in seen.items()}
    return [round(max((factor[label] for label in it.labels), default=1.0)) for it in items]


def voc_to_yolo(
    items: Sequence[VocImage],
    split: dict[str, list[str]],
    out_dir: str | Path,
    repeat_threshold: float | None = None,
    by_label: bool = False,
) -> Path:
    """Write an ultralytics dataset: one class `face`, every annotated face whatever its mask label (or,
    with `by_label`, one class per mask label, in LABELS order: the 3-class detector).

    Images are symlinked (never copied); labels are `0 cx cy w h` normalised to [0, 1]. Images
    without faces get an empty label file (background images are valid YOLO samples). With
    `repeat_threshold`, training images are listed in `train.txt` as often as `repeat_factors` says.

    Returns:
        Path of the `data.yaml` to hand to `YOLO.train(data=...)`.
    """
    out_dir = Path(out_dir).resolve()
    linked: dict[str, list[tuple[VocImage, Path]]] = {}
    for side in ("train", "val"):
        (out_dir / "images" / side).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / side).mkdir(parents=True, exist_ok=True)
        linked[side] = [(it, out_dir / "images" / side / it.path.name) for it in select(items, split[side])]
        for it, link in linked[side]:
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(it.path.resolve())
            ids = [LABELS.index(label) for label in it.labels] if by_label else None
            (out_dir / "labels" / side / f"{it.stem}.txt").write_text(
                yolo_label_lines(it.boxes, it.width, it.height, ids)
            )
    train = "images/train"
    if repeat_threshold is not None:
        factors = repeat_factors([it for it, _ in linked["train"]], repeat_threshold)
        listed = [str(link) for (_, link), r in zip(linked["train"], factors, strict=True) for _ in range(r)]
        train = "train.txt"
        (out_dir / train).write_text("".join(line + "\n" for line in listed))
    yaml = out_dir / "data.yaml"
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(LABELS if by_label else ("face",)))
    yaml.write_text(f"path: {out_dir}\ntrain: {train}\nval: images/val\nnames:\n{names}")
    return yaml


def yolo_label_lines(boxes: np.ndarray, width: int, height: int, class_ids: Sequence[int] | None = None) -> str:
    """xyxy pixel boxes -> YOLO `class cx cy w h` lines (class 0 unless `class_ids` says), normalised and
    clipped to [0, 1]."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    class_ids = [0] * len(boxes) if class_ids is None else list(class_ids)
    lines = []
    for (x1, y1, x2, y2), c in zip(boxes, class_ids, strict=True):
        x1, x2 = np.clip([x1, x2], 0, width) / width
        y1, y2 = np.clip([y1, y2], 0, height) / height
        if x2 > x1 and y2 > y1:
            lines.append(f"{c} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}")
    return "".join(line + "\n" for line in lines)


def check_labels(labels: Iterable[str]) -> None:
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; maskdet knows {list(LABELS)}")
