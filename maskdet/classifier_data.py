"""Build the classifier's image folder: VOC face crops (by the shared split), extra crop folders,
and synthetic masks; then load it with the `datasets` library.

Layout written (what `load_dataset("imagefolder")` reads, folder names -> ClassLabel):
    out/train/<label>/{voc,extra,synth}_*.jpg
    out/validation/<label>/voc_*.jpg        (real faces only: synthetic images never validate)
    out/manifest.json                        (counts per side, label and source; the settings used)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from maskdet.assets import CROPS, VOC, YUNET
from maskdet.data import BUNDLED_SPLIT, IMAGE_SUFFIXES, check_labels, load_split, load_voc, select
from maskdet.pipeline import DEFAULT_MARGIN, crop_faces, expand_boxes

SYNTH_PREFIX = "synth_"


@dataclass
class CropDataConfig:
    """Settings for `prepare_crops`.

    min_size: faces whose shorter box side is below this many pixels are left out of training and of
        the headline validation: under ~12 px a face is a few blurry pixels and its label is a guess.
    """

    voc: Path | None = field(default_factory=lambda: VOC.default)
    split: Path = BUNDLED_SPLIT
    extra: Sequence[Path] = field(default_factory=lambda: (CROPS.default,))
    yunet: Path | None = field(default_factory=lambda: YUNET.default)  # None: no synthetic masks
    margin: float = DEFAULT_MARGIN
    min_size: int = 12
    synth_per_face: float = 1.0  # synthetic images drawn per maskless source face
    seed: int = 0
    placements: dict[str, float] = field(default_factory=lambda: {"correct": 0.4, "below_nose": 0.4, "chin": 0.2})


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def prepare_crops(cfg: CropDataConfig, out_dir: str | Path) -> dict:
    """Write the image folder for classifier training and return the manifest.

    Safe to re-run: files are overwritten with the same names and content (seeded).
    """
    for extra in cfg.extra:
        CROPS.check(extra, "--extra")
    if cfg.yunet is not None and cfg.synth_per_face > 0:  # before any crop is cut: a missing file fails at once
        if not Path(cfg.yunet).is_file():
            missing = YUNET.missing(cfg.yunet, "--yunet")
            raise FileNotFoundError(f"{missing}, or draw no synthetic masks: --no-synthetic")
    out = Path(out_dir)
    counts: Counter = Counter()
    maskless: list[tuple[str, np.ndarray]] = []  # source images for synthetic masks
    if cfg.voc is not None:
        items = load_voc(cfg.voc)
        split = load_split(cfg.split)
        for side, folder in (("train", "train"), ("val", "validation")):
            for it in tqdm(select(items, split[side]), desc=f"VOC crops ({side})", leave=False):
                check_labels(it.labels)
                image = cv2.imread(str(it.path))
                sides = np.minimum(it.boxes[:, 2] - it.boxes[:, 0], it.boxes[:, 3] - it.boxes[:, 1])
                for i, crop in enumerate(crop_faces(image, it.boxes, cfg.margin)):
                    if sides[i] < cfg.min_size:
                        continue
                    label = it.labels[i]
                    _write(out / folder / label / f"voc_{it.stem}_{i}.jpg", crop)
                    counts[f"{folder}/{label}/voc"] += 1
                    if side == "train" and label == "without_mask" and sides[i] >= 48:
                        maskless.append((f"voc_{it.stem}_{i}", crop.copy()))
    for extra in cfg.extra:
        extra = Path(extra)
        for label_dir in sorted(p for p in extra.iterdir() if p.is_dir()) if extra.is_dir() else []:
            label = label_dir.name
            check_labels([label])
            for path in tqdm(_images_in(label_dir), desc=f"{extra.name}/{label}", leave=False):
                image = cv2.imread(str(path))
                if image is None:
                    continue
                name = f"{extra.name}_{path.stem}"
                _write(out / "train" / label / f"extra_{name}.jpg", image)
                counts[f"train/{label}/extra"] += 1
                if label == "without_mask":
                    maskless.append((name, image))
    if cfg.yunet is not None and cfg.synth_per_face > 0 and maskless:
        counts.update(_synthesise(cfg, maskless, out))
    manifest = {
        "counts": dict(sorted(counts.items())),
        "config": {k: _jsonable(v) for k, v in vars(cfg).items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _synthesise(cfg: CropDataConfig, maskless: list[tuple[str, np.ndarray]], out: Path) -> Counter:
    from maskdet.synth import PLACEMENTS, detect_landmarks, draw_mask, yunet

    detector = yunet(cfg.yunet)
    rng = np.random.default_rng(cfg.seed)
    names = list(cfg.placements)
    p = np.array([cfg.placements[n] for n in names], np.float64)
    counts: Counter = Counter()
    for name, image in tqdm(maskless, desc="synthetic masks", leave=False):
        n = int(cfg.synth_per_face) + (rng.random() < cfg.synth_per_face % 1)
        if not n:
            continue
        found = detect_landmarks(detector, image)
        if found is None:
            counts["skipped/no_landmarks"] += 1
            continue
        box, landmarks = found
        h, w = image.shape[:2]
        x1, y1, x2, y2 = expand_boxes(box[None], cfg.margin, w, h)[0]
        if min(x2 - x1, y2 - y1) < 24:
            continue
        for k, placement in enumerate(rng.choice(names, size=n, p=p / p.sum())):
            drawn = draw_mask(image, landmarks, placement, rng)[y1:y2, x1:x2]
            label = PLACEMENTS[placement]
            _write(out / "train" / label / f"{SYNTH_PREFIX}{placement}_{name}_{k}.jpg", drawn)
            counts[f"train/{label}/synth"] += 1
    return counts


def load_crops(data_dir: str | Path, synthetic: bool = True):
    """The folder (or hub dataset id) as a `datasets.DatasetDict` with `image` and ClassLabel `label`.

    A folder without a validation side gets a stratified 15% split (seeded). With `synthetic=False`
    files named `synth_*` are dropped from training, to measure what the synthetic masks add.
    """
    from datasets import Image, load_dataset

    data_dir = str(data_dir)
    if Path(data_dir).is_dir():
        ds = load_dataset("imagefolder", data_dir=data_dir)
    else:
        ds = load_dataset(data_dir)
    if "validation" not in ds:
        if "test" in ds:
            ds["validation"] = ds.pop("test")
        else:
            parts = ds["train"].train_test_split(test_size=0.15, seed=0, stratify_by_column="label")
            ds["train"], ds["validation"] = parts["train"], parts["test"]
    if not synthetic:
        raw = ds["train"].cast_column("image", Image(decode=False))
        keep = [i for i, im in enumerate(raw["image"]) if not Path(im["path"] or "").name.startswith(SYNTH_PREFIX)]
        ds["train"] = ds["train"].select(keep)
    return ds
