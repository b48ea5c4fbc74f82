"""Train the YOLOv8 face detector on VOC face boxes (one class, `face`) with ultralytics."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from maskdet._env import configure_ultralytics
from maskdet.assets import VOC
from maskdet.data.voc import BUNDLED_SPLIT, load_sets, select, split_for, voc_to_yolo
from maskdet.results import LABELS


@dataclass
class DetectorTrainConfig:
    """What a detector run needs; defaults are the shipped model's recipe (see model_card.md).

    yolov8n from scratch rather than a MobileNetV2 backbone: on these 2 cores the MobileNetV2 variant
    infers 3-4x slower in torch (depthwise convolutions), which the 30 FPS target cannot afford.
    """

    data: Path = field(default_factory=lambda: VOC.default)
    split: Path = BUNDLED_SPLIT
    output_dir: Path = Path("runs/detector")
    model: str = "yolov8n.yaml"  # an ultralytics YAML (from scratch) or a .pt to fine-tune
    imgsz: int = 480
    epochs: int = 100
    hours: float | None = None  # ultralytics `time`: train for a fixed wall time instead of epochs
    batch: int = 16
    seed: int = 0
    patience: int = 100
    resume: bool = True
    export_imgsz: int = 640
    lr0: float | None = None  # set: AdamW at this peak LR (a gentle fine-tune); None: ultralytics' `auto` choice
    warmup_epochs: float = 3.0  # 0 for a fine-tune: warm-up starts the bias LR at 0.1, which undoes a trained head
    repeat_threshold: float | None = None  # set: oversample images with rare labels (data.repeat_factors)
    extra: tuple[Path, ...] = ()  # more VOC folders, each split by its bundled split (data.split_for)
    init: Path | None = None  # a YOLOv8n .tflite to start from (maskdet.train.tflite_init), instead of `model`
    calibration_images: int = 64  # training images that set the converted model's BatchNorm statistics
    classes: int = 1  # 1: `face` (the classifier labels it); 3: one class per mask label (issue 17's option b)
    # a face detector (.pt, or a .tflite converted as `init`) whose confident unannotated faces are masked out
    teacher: Path | None = None
    teacher_conf: float = 0.5  # its score from which an unannotated face becomes an ignore region
    # a detector whose boxes the `extra` sets' training faces take (maskdet.train.restyle); None: as annotated
    restyle: str | None = None

    def __post_init__(self) -> None:
        self.data, self.split, self.output_dir = Path(self.data), Path(self.split), Path(self.output_dir)
        self.extra = tuple(Path(p) for p in self.extra)
        self.init = Path(self.init) if self.init is not None else None
        self.teacher = Path(self.teacher) if self.teacher is not None else None
        if self.teacher is not None and self.teacher.suffix.lower() not in (".pt", ".tflite"):
            raise ValueError(f"teacher must be an ultralytics .pt or a YOLOv8 .tflite, but got {str(self.teacher)!r}")
        if self.classes not in (1, 3):
            raise ValueError(f"classes must be 1 (face) or 3 (one per mask label), but got {self.classes}")
        if not 0 < self.teacher_conf < 1:
            raise ValueError(f"teacher_conf must be in (0, 1), but got {self.teacher_conf}")
        if self.init is not None and self.init.suffix.lower() != ".tflite":
            raise ValueError(f"init must be a YOLOv8 .tflite file, but got {str(self.init)!r}; use --model for a .pt")
        if self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, but got {self.imgsz}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, but got {self.epochs}")
        if self.lr0 is not None and not 0 < self.lr0 < 1:
            raise ValueError(f"lr0 must be in (0, 1), but got {self.lr0}")
        if self.repeat_threshold is not None and self.repeat_threshold <= 0:
            raise ValueError(f"repeat_threshold must be > 0, but got {self.repeat_threshold}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, but got {self.warmup_epochs}")
        if self.restyle is not None and not self.extra:
            raise ValueError("restyle redraws the boxes of the extra sets: give them with extra (--extra)")


def init_from_tflite(tflite: Path, train_images: list[Path], out: Path, cfg: DetectorTrainConfig) -> Path:
    """`out` (a .pt path): the TFLite model as a 1-class ultralytics checkpoint, its BatchNorms calibrated on
    `cfg.calibration_images` training images (seeded), ready for `YOLO(...).train()`."""
    import random

    import cv2

    from maskdet.assets import WIDER_FACE_TFLITE
    from maskdet.train.tflite_init import convert, letterbox_rgb01, save_checkpoint

    WIDER_FACE_TFLITE.check(tflite, "--init")

    chosen = random.Random(cfg.seed).sample(train_images, min(cfg.calibration_images, len(train_images)))
    images = [letterbox_rgb01(img) for img in (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in chosen) if img is not None]
    names = LABELS if cfg.classes == 3 else ("face",)
    return save_checkpoint(convert(tflite, nc=len(names), calibration=images), out, names)


def mask_teacher_faces(cfg: DetectorTrainConfig, train: list, images_dir: Path, out: Path) -> dict:
    """Replace the training images' symlinks in `images_dir` with copies whose teacher faces are masked
    out (`maskdet.train.teacher`); the faces found are kept in `out/teacher.json`. Returns its summary."""
    import cv2

    from maskdet.train.teacher import mask_out, teacher_faces

    teacher = cfg.teacher
    if not teacher.is_file():
        raise FileNotFoundError(f"--teacher {str(teacher)!r} not found")
    if teacher.suffix.lower() == ".tflite":
        converted = out / ("init.pt" if teacher == cfg.init else "teacher.pt")
        if not converted.is_file():
            init_from_tflite(teacher, [it.path for it in train], converted, cfg)
        teacher = converted
    faces = teacher_faces(teacher, train, conf=cfg.teacher_conf)
    for it in train:
        if it.stem in faces:
            link = images_dir / it.path.name
            image = cv2.imread(str(it.path), cv2.IMREAD_COLOR)
            link.unlink()
            if not cv2.imwrite(str(link), mask_out(image, faces[it.stem], it.boxes)):
                raise OSError(f"could not write {str(link)!r}")
    summary = {
        "teacher": str(cfg.teacher),
        "conf": cfg.teacher_conf,
        "images": len(faces),
        "faces": sum(len(b) for b in faces.values()),
    }
    record = {**summary, "boxes": {stem: np.round(b, 1).tolist() for stem, b in faces.items()}}
    (out / "teacher.json").write_text(json.dumps(record) + "\n")
    return summary


def restyle_extra(cfg: DetectorTrainConfig, items: list, train_stems: list[str], out: Path) -> tuple[list, dict]:
    """`items` with the training faces of each `cfg.extra` set boxed as `cfg.restyle` draws them (at 640,
    the face threshold the presets use); the per-set summaries go to `out/restyle.json`."""
    import cv2

    from maskdet.detector import FaceDetector
    from maskdet.presets import PHOTO
    from maskdet.train.restyle import restyle

    det = FaceDetector.load(cfg.restyle)

    def detect(path: Path) -> np.ndarray:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read training image {str(path)!r} to restyle its boxes")
        return det.detect(image, conf=PHOTO.face_threshold, imgsz=PHOTO.imgsz).boxes

    wanted, record, changed = set(train_stems), {"detector": str(cfg.restyle), "sets": {}}, {}
    for root in cfg.extra:
        root = root.resolve()
        chosen = [it for it in items if it.stem in wanted and it.path.resolve().parent.parent == root]
        new, record["sets"][str(root)] = restyle(chosen, detect)
        changed.update((it.stem, it) for it in new)
    out.mkdir(parents=True, exist_ok=True)
    (out / "restyle.json").write_text(json.dumps(record, indent=2) + "\n")
    return [changed.get(it.stem, it) for it in items], record


def train_detector(cfg: DetectorTrainConfig) -> dict:
    """Convert the data, train (resuming from last.pt when present), export ONNX, return val metrics.

    Output dir: `yolo-data/` (symlinked images + labels), `weights/best.pt`, `weights/detector.onnx`
    (float) and `weights/detector-int8.onnx` (quantised, calibrated on the training images),
    ultralytics' plots and results.csv, and `metrics.json`.
    """
    configure_ultralytics()
    from ultralytics import YOLO

    out = cfg.output_dir.resolve()
    items, split = load_sets([(cfg.data, cfg.split), *((root, split_for(root)) for root in cfg.extra)])
    restyled = None
    if cfg.restyle is not None:
        items, restyled = restyle_extra(cfg, items, split["train"], out)
    data_yaml = voc_to_yolo(items, split, out / "yolo-data", cfg.repeat_threshold, by_label=cfg.classes == 3)
    train = select(items, split["train"])
    last = out / "weights" / "last.pt"
    model = cfg.model
    if cfg.init is not None and not (cfg.resume and last.is_file()):
        model = str(init_from_tflite(cfg.init, [it.path for it in train], out / "init.pt", cfg))
    teacher = None
    if cfg.teacher is not None:
        teacher = mask_teacher_faces(cfg, train, data_yaml.parent / "images" / "train", out)
    args = dict(
        data=str(data_yaml),
        imgsz=cfg.imgsz,
        epochs=cfg.epochs,
        batch=cfg.batch,
        workers=0,
        device="cpu",
        seed=cfg.seed,
        deterministic=False,
        patience=cfg.patience,
        cache=True,
        project=str(out.parent),
        name=out.name,
        exist_ok=True,
        plots=True,
        verbose=False,
        single_cls=cfg.classes == 1,
        warmup_epochs=cfg.warmup_epochs,
    )
    if cfg.lr0 is not None:  # ultralytics' `auto` optimizer ignores lr0, so name the optimizer too
        args.update(optimizer="AdamW", lr0=cfg.lr0)
    if cfg.hours:
        args["time"] = cfg.hours
    if cfg.resume and last.is_file():  # an interrupted run: continue from its last epoch (and new time budget)
        YOLO(str(last)).train(resume=True, **({"time": cfg.hours} if cfg.hours else {}))
    else:
        YOLO(model, task="detect").train(**args)
    best = out / "weights" / "best.pt"
    model = YOLO(str(best))
    val = model.val(
        data=str(data_yaml),
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        device="cpu",
        workers=0,
        verbose=False,
        project=str(out),
        name="val",
        exist_ok=True,
        plots=False,
    )
    metrics = {
        "map50": float(val.box.map50),
        "map50_95": float(val.box.map),
        "precision": float(val.box.mp),
        "recall": float(val.box.mr),
        "imgsz": cfg.imgsz,
        "ignored": teacher,
        "restyled": restyled,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    # dynamic input: the same file serves every imgsz (speed vs small faces is a runtime choice)
    onnx = Path(model.export(format="onnx", imgsz=cfg.export_imgsz, dynamic=True, simplify=True, verbose=False))
    shutil.copyfile(onnx, out / "weights" / "detector.onnx")
    from maskdet.train.quantize import INT8_NAME, quantize_detector, voc_training_images

    # the INT8 copy the bundled weights serve by default (faster on CPU, same AP: model_card.md)
    quantize_detector(onnx, out / "weights" / INT8_NAME, voc_training_images(cfg.data, cfg.split, cfg.seed))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
