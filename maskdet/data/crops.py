"""Build the classifier's image folder: face crops of VOC scenes (each source by its bundled split),
web crop folders and synthetic masks; then load it with the `datasets` library.

Layout written (what `load_dataset("imagefolder")` reads, folder names -> ClassLabel):
    out/train/<label>/{voc,extra,web,synth}_*.jpg
    out/validation/<label>/{voc,extra}_*.jpg  (real faces only: synthetic images never validate)
    out/manifest.json                          (counts per side, label and source; the settings used)

The file-name prefix names the source (SOURCES); training weights sources by it (`--voc-weight` ...)
and cuts folds by the scene image it names (`voc_<stem>_<i>.jpg`).
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

from maskdet.assets import CROPS, EXTRA, VOC, YUNET
from maskdet.boxes import expand_boxes
from maskdet.data.voc import BUNDLED_SPLIT, EXTRA_SPLIT, IMAGE_SUFFIXES, check_labels, load_split, load_voc, select
from maskdet.pipeline import DEFAULT_MARGIN, crop_faces

SYNTH_PREFIX = "synth_"
# file-name prefix -> source: the two VOC scene sets, web crop folders, synthetic masks
SOURCES = {"voc_": "voc", "extra_": "extra", "web_": "web", SYNTH_PREFIX: "synth"}
SCENE_PREFIXES = ("voc_", "extra_")  # real scenes: these validate, and folds are cut by their image


def source_of(name: str) -> str:
    """The source a crop file name says it comes from ("other" for a file with no known prefix)."""
    return next((src for prefix, src in SOURCES.items() if name.startswith(prefix)), "other")


def scene_of(name: str) -> str | None:
    """`voc_<stem>` / `extra_<stem>` for a scene crop, or a synthetic mask drawn on one; None otherwise.

    Crops are named `<prefix><stem>_<face index>.jpg`, synthetic masks `synth_<placement>_<crop stem>_<k>.jpg`.
    """
    stem = Path(name).stem
    if stem.startswith(SYNTH_PREFIX):
        from maskdet.data.synth import PLACEMENTS

        rest = stem[len(SYNTH_PREFIX) :]
        placement = next((p for p in sorted(PLACEMENTS, key=len, reverse=True) if rest.startswith(p + "_")), None)
        if placement is None:
            return None
        stem = rest[len(placement) + 1 :].rsplit("_", 1)[0]
    if not stem.startswith(SCENE_PREFIXES) or "_" not in stem[stem.index("_") + 1 :]:
        return None
    return stem.rsplit("_", 1)[0]


def face_side(crop_shape: Sequence[int], margin: float = DEFAULT_MARGIN) -> float:
    """The face box's shorter side in pixels, from its crop's shape (the crop grew it by `margin` per side).

    Exact away from the image border; a face cut by the border reads a little smaller.
    """
    return min(crop_shape[0], crop_shape[1]) / (1 + 2 * margin)


@dataclass
class CropDataConfig:
    """Settings for `prepare_crops`.

    min_size: faces whose shorter box side is below this many pixels are left out of training and of
        the headline validation: under ~12 px a face is a few blurry pixels and its label is a guess.
    """

    voc: Path | None = field(default_factory=lambda: VOC.default)
    split: Path = BUNDLED_SPLIT
    extra_voc: Path | None = field(default_factory=lambda: EXTRA.default)  # with/without only; crops `extra_*`
    extra_split: Path = EXTRA_SPLIT
    extra: Sequence[Path] = field(default_factory=lambda: (CROPS.default,))  # web crop folders; crops `web_*`
    yunet: Path | None = field(default_factory=lambda: YUNET.default)  # None: no synthetic masks
    margin: float = DEFAULT_MARGIN
    min_size: int = 12
    synth_per_face: float = 1.0  # synthetic images drawn per maskless source face
    # share of synthetic masks filled with real fabric cut from the web crops' masked faces (synth.mask_patches)
    real_texture: float = 0.0
    seed: int = 0
    max_side: int = 256  # longer crops are shrunk (area) when written: facemask-extra has 5000 px photos
    # correct vs the four incorrect placements (synth.PLACEMENTS); before one_ear and under_chin: 0.4 / 0.4 / 0.2
    placements: dict[str, float] = field(
        default_factory=lambda: {"correct": 0.4, "below_nose": 0.25, "chin": 0.15, "one_ear": 0.1, "under_chin": 0.1}
    )


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
    masked: list[np.ndarray] = []  # web with_mask images: real fabric for them (never validated on)
    for root, split, prefix in ((cfg.voc, cfg.split, "voc_"), (cfg.extra_voc, cfg.extra_split, "extra_")):
        if root is not None:
            counts.update(_scene_crops(cfg, root, split, prefix, out, maskless if prefix == "voc_" else None))
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
                _write(out / "train" / label / f"web_{name}.jpg", image)
                counts[f"train/{label}/web"] += 1
                if label == "without_mask":
                    maskless.append((name, image))
                elif label == "with_mask" and cfg.real_texture > 0:
                    masked.append(image)
    if cfg.yunet is not None and cfg.synth_per_face > 0 and maskless:
        counts.update(_synthesise(cfg, maskless, out, masked))
    manifest = {
        "counts": dict(sorted(counts.items())),
        "config": {k: _jsonable(v) for k, v in vars(cfg).items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _scene_crops(
    cfg: CropDataConfig, root: Path, split_path: Path, prefix: str, out: Path, maskless: list | None
) -> Counter:
    """Face crops of one VOC scene set, each side of its split into train/ or validation/.

    Large maskless training faces are appended to `maskless` (when given) for synthetic masks.
    """
    counts: Counter = Counter()
    items = load_voc(root)
    split = load_split(split_path)
    source = prefix.rstrip("_")
    for side, folder in (("train", "train"), ("val", "validation")):
        for it in tqdm(select(items, split[side]), desc=f"{Path(root).name} crops ({side})", leave=False):
            check_labels(it.labels)
            image = cv2.imread(str(it.path))
            sides = np.minimum(it.boxes[:, 2] - it.boxes[:, 0], it.boxes[:, 3] - it.boxes[:, 1])
            for i, crop in enumerate(crop_faces(image, it.boxes, cfg.margin)):
                if sides[i] < cfg.min_size:
                    continue
                label = it.labels[i]
                if max(crop.shape[:2]) > cfg.max_side:
                    scale = cfg.max_side / max(crop.shape[:2])
                    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
                    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
                _write(out / folder / label / f"{prefix}{it.stem}_{i}.jpg", crop)
                counts[f"{folder}/{label}/{source}"] += 1
                if maskless is not None and side == "train" and label == "without_mask" and sides[i] >= 48:
                    maskless.append((f"{prefix}{it.stem}_{i}", crop.copy()))
    return counts


def _synthesise(
    cfg: CropDataConfig, maskless: list[tuple[str, np.ndarray]], out: Path, masked: Sequence[np.ndarray] = ()
) -> Counter:
    from maskdet.data.synth import PLACEMENTS, detect_landmarks, draw_mask, mask_patches, yunet

    detector = yunet(cfg.yunet)
    patches = mask_patches(masked, detector) if cfg.real_texture > 0 else []
    rng = np.random.default_rng(cfg.seed)
    names = list(cfg.placements)
    p = np.array([cfg.placements[n] for n in names], np.float64)
    counts: Counter = Counter({"fabric_patches": len(patches)} if patches else {})
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
            drawn = draw_mask(image, landmarks, placement, rng, patches, cfg.real_texture)[y1:y2, x1:x2]
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
