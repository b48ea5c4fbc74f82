"""The `maskdet` command line: train, detect, info. Scripts at the top level call into here."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from maskdet.detector import DEFAULT_FLIP, DEFAULT_IMGSZ, DEFAULT_ZOOM, LIVE_IMGSZ

SHARED = Path("..") / "shared"  # the datasets folder beside a checkout


def classifier_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description="Fine-tune the mask classifier (timm + datasets).")
    p.add_argument("--dataset", required=True, help="image folder, VOC folder or hub dataset id")
    p.add_argument("--model", default="mobilenetv2_100", help="timm architecture (default: mobilenetv2_100)")
    p.add_argument("--img-size", type=int, default=112)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--pretrained", choices=["auto", "imagenet", "none"], default="auto")
    p.add_argument("--no-synthetic", action="store_true", help="leave out synth_* training images")
    p.add_argument("--balance", type=float, default=1.0, help="class-sampling exponent (1 = balanced)")
    w = p.add_argument_group(
        "source weights", "how often each source's crops are drawn within a class, relative to 1 (0 leaves it out)"
    )
    w.add_argument("--voc-weight", type=float, default=6.0, help="facemask-voc crops, voc_* (default 6)")
    w.add_argument(
        "--extra-weight",
        type=float,
        default=3.0,
        help="facemask-extra crops, extra_* (default 3; with/without labels only, badly worn masks in either)",
    )
    w.add_argument("--web-weight", type=float, default=1.0, help="web crop folders (facemask-crops), web_*")
    w.add_argument("--synth-weight", type=float, default=1.0, help="synthetic masks, synth_*")
    w.add_argument(
        "--source-weight",
        action="append",
        default=[],
        metavar="PREFIX=W",
        type=prefix_weight,
        help="any file-name prefix, e.g. synth_one_ear_=0 (the longest matching prefix wins; repeatable)",
    )
    p.add_argument(
        "--low-res-prob", type=float, default=0.3, help="share of crops shrunk to a tiny face, as at inference"
    )
    p.add_argument(
        "--low-res-sizes",
        type=int,
        nargs=2,
        default=[8, 31],
        metavar=("MIN", "MAX"),
        help="face side in px a shrunk crop gets (default 8 31)",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="K >= 2: K fold models over the training side first (mean and spread in folds.json) and a calibration "
        "fitted on their out-of-fold predictions (temperature, unknown cut-off, stored in config.json)",
    )
    p.add_argument("--no-final", action="store_true", help="folds only: no final model (to compare recipes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-samples", type=int, default=None, help="for smoke runs")
    p.add_argument("--samples-per-epoch", type=int, default=None)
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--push-to-hub", metavar="USER/REPO", default=None)
    p.add_argument("--private", action="store_true", help="create the hub repo private")
    return p


def prefix_weight(text: str) -> tuple[str, float]:
    """argparse type for --source-weight: `PREFIX=W` with W >= 0."""
    prefix, sep, weight = text.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not sep or not prefix or value < 0:
        raise argparse.ArgumentTypeError(f"expected PREFIX=W with W >= 0, e.g. synth_one_ear_=0, but got {text!r}")
    return prefix, value


def crops_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py crops", description="Cut face crops + synthetic masks into an image folder."
    )
    p.add_argument("--voc", type=Path, default=SHARED / "datasets" / "facemask-voc")
    p.add_argument(
        "--extra-voc",
        type=Path,
        default=SHARED / "datasets" / "facemask-extra",
        help="a second VOC scene set, split by maskdet/splits/facemask-extra.json (--extra-voc '' for none)",
    )
    p.add_argument("--extra", type=Path, nargs="*", default=[SHARED / "datasets" / "facemask-crops"])
    p.add_argument("--yunet", type=Path, default=SHARED / "weights" / "yunet" / "yunet_s_640_640.onnx")
    p.add_argument("--no-synthetic", action="store_true")
    p.add_argument("--min-size", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, required=True)
    return p


def detector_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py detector", description="Train the YOLOv8 face detector.")
    p.add_argument("--data", type=Path, default=SHARED / "datasets" / "facemask-voc")
    p.add_argument("--model", default="yolov8n.yaml", help="ultralytics YAML (from scratch) or .pt")
    p.add_argument("--imgsz", type=int, default=416)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--hours", type=float, default=None, help="train for a fixed time instead")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr0", type=float, default=None, help="peak LR with AdamW (default: ultralytics' auto)")
    p.add_argument("--warmup-epochs", type=float, default=3.0, help="0 when fine-tuning a trained detector")
    p.add_argument(
        "--repeat-threshold",
        type=float,
        default=None,
        help="oversample images with rare mask labels (LVIS repeat-factor sampling; 1.0: unmasked 2x, incorrect 3x)",
    )
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--split", type=Path, default=None, help="split JSON (default: the bundled one)")
    p.add_argument("--export-imgsz", type=int, default=640, help="ONNX export size (the model is dynamic)")
    p.add_argument("--output-dir", type=Path, default=Path("runs/detector"))
    return p


def quantize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py quantize", description="INT8 copy of a float detector ONNX, calibrated on training images."
    )
    p.add_argument("--detector", type=Path, default=Path("maskdet/weights/detector.onnx"), help="float ONNX export")
    p.add_argument("--data", type=Path, default=SHARED / "datasets" / "facemask-voc", help="VOC folder to calibrate on")
    p.add_argument("--split", type=Path, default=None, help="split JSON; its training side (default: bundled)")
    p.add_argument("--images", type=int, default=64, help="how many calibration images")
    p.add_argument("--output", type=Path, required=True)
    return p


def train_main(argv: list[str] | None = None) -> int:
    """`python train.py ...` / `maskdet train ...`: classifier by default, `crops` and `detector` subcommands."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "python train.py " + shlex.join(argv)  # recorded in the model card
    try:
        if argv[:1] == ["crops"]:
            from maskdet.classifier_data import CropDataConfig, prepare_crops

            a = crops_parser().parse_args(argv[1:])
            cfg = CropDataConfig(
                voc=a.voc,
                extra_voc=a.extra_voc if str(a.extra_voc) not in ("", ".") else None,
                extra=a.extra,
                yunet=None if a.no_synthetic else a.yunet,
                min_size=a.min_size,
                seed=a.seed,
            )
            print(json.dumps(prepare_crops(cfg, a.output)["counts"], indent=2))
        elif argv[:1] == ["quantize"]:
            from maskdet.quantize import quantize_detector, voc_training_images

            a = quantize_parser().parse_args(argv[1:])
            if not a.detector.is_file():
                raise FileNotFoundError(f"detector ONNX not found: {str(a.detector)!r}")
            images = voc_training_images(a.data, a.split)
            print(f"saved to {quantize_detector(a.detector, a.output, images, limit=a.images)}")
        elif argv[:1] == ["detector"]:
            from maskdet.data import BUNDLED_SPLIT
            from maskdet.detector_training import DetectorTrainConfig, train_detector

            a = detector_parser().parse_args(argv[1:])
            cfg = DetectorTrainConfig(
                split=a.split or BUNDLED_SPLIT,
                export_imgsz=a.export_imgsz,
                data=a.data,
                output_dir=a.output_dir,
                model=a.model,
                imgsz=a.imgsz,
                epochs=a.epochs,
                hours=a.hours,
                batch=a.batch,
                resume=not a.no_resume,
                lr0=a.lr0,
                warmup_epochs=a.warmup_epochs,
                repeat_threshold=a.repeat_threshold,
            )
            print(json.dumps(train_detector(cfg), indent=2))
        else:
            from maskdet.training import TrainConfig, train

            a = classifier_parser().parse_args(argv)
            cfg = TrainConfig(
                dataset=a.dataset,
                output_dir=a.output_dir,
                model=a.model,
                img_size=a.img_size,
                epochs=a.epochs,
                batch_size=a.batch_size,
                lr=a.lr,
                pretrained=a.pretrained,
                synthetic=not a.no_synthetic,
                balance=a.balance,
                source_weights={
                    "voc_": a.voc_weight,
                    "extra_": a.extra_weight,
                    "web_": a.web_weight,
                    "synth_": a.synth_weight,
                    **dict(a.source_weight),
                },
                low_res_prob=a.low_res_prob,
                low_res_sizes=tuple(a.low_res_sizes),
                folds=a.folds,
                final=not a.no_final,
                seed=a.seed,
                max_train_samples=a.max_train_samples,
                samples_per_epoch=a.samples_per_epoch,
                push_to_hub=a.push_to_hub,
                hub_private=a.private,
                command=command,
            )
            metrics = train(cfg)
            keys = ("headline", "by_size", "latency_ms_batch8", "folds", "calibration", "train_seconds")
            print(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2))
            print(f"saved to {cfg.output_dir}")
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def zoom_size(text: str) -> int | None:
    """argparse type for --zoom: a detector size, or 0 for no zoomed pass (None)."""
    return int(text) or None


def add_model_args(p: argparse.ArgumentParser, several_sizes: bool = False, live: bool = False) -> None:
    """Model and threshold flags shared by every entry point (CLI, detect_video.py, app.py, evaluate.py).

    `live`: video entry points, whose default detector size is the real-time one (LIVE_IMGSZ).
    """
    p.add_argument("--detector", default=None, help="detector .pt/.onnx file, folder or hub repo id (default: bundled)")
    p.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    p.add_argument("--face-threshold", type=float, default=0.35, help="minimum face confidence")
    p.add_argument(
        "--label-threshold",
        type=float,
        default=None,
        help="below this label probability a face is 'unknown' (default: the classifier's calibrated one, "
        "from its config.json; 0 for none)",
    )
    if several_sizes:
        p.add_argument("--imgsz", type=int, nargs="+", default=[DEFAULT_IMGSZ], help="detector input sizes")
    else:
        size = LIVE_IMGSZ if live else DEFAULT_IMGSZ
        p.add_argument("--imgsz", type=int, default=size, help=f"detector input size, longest side (default {size})")
    if not live:
        p.add_argument(
            "--zoom",
            type=zoom_size,
            default=DEFAULT_ZOOM,
            help=f"detector size of a second pass that adds small faces (default {DEFAULT_ZOOM}; 0: one pass, faster)",
        )
        p.add_argument(
            "--flip",
            action=argparse.BooleanOptionalAction,
            default=DEFAULT_FLIP,
            help="also detect on the mirrored image and fuse the views (default on; ~2x the photo time)",
        )


def pipeline_from_args(a: argparse.Namespace):
    from maskdet.pipeline import Pipeline

    return Pipeline.from_pretrained(
        a.detector,
        a.classifier,
        face_threshold=a.face_threshold,
        label_threshold=a.label_threshold,
        imgsz=a.imgsz,
        zoom=getattr(a, "zoom", None),  # video entry points have no --zoom or --flip
        flip=getattr(a, "flip", False),
    )


def detect_main(argv: list[str]) -> int:
    """`maskdet detect IMAGE...`: one JSON line per image; annotated copies with --output-dir."""
    p = argparse.ArgumentParser(prog="maskdet detect", description="Detect faces and mask use in images.")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--output-dir", type=Path, default=None, help="write annotated images here")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the annotated images")
    add_model_args(p)
    a = p.parse_args(argv)
    try:
        pipe = pipeline_from_args(a)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import cv2

    from maskdet.annotate import draw
    from maskdet.imageio import load_image

    if a.output_dir:
        try:
            a.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            print(f"error: cannot create --output-dir {str(a.output_dir)!r} ({e.strerror or e})", file=sys.stderr)
            return 2
    failed = 0
    for path in a.images:
        try:
            frame = load_image(path)
        except (ValueError, FileNotFoundError) as e:
            print(json.dumps({"image": str(path), "error": str(e)}))
            failed += 1
            continue
        faces = pipe(frame)
        print(json.dumps({"image": str(path), **faces.to_dict()}), flush=True)  # the result is out first
        if a.output_dir:
            out = a.output_dir / f"{path.stem}.jpg"
            try:
                written = cv2.imwrite(str(out), draw(frame, faces, blur=a.blur))
            except cv2.error:
                written = False
            if not written:  # imwrite says False, not why: a full disk or a folder that stopped being writable
                print(f"warning: could not write {str(out)!r} (disk full or not writable?)", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


def info_main(argv: list[str]) -> int:
    """`maskdet info`: where the bundled models are and what they score (from their metrics)."""
    argparse.ArgumentParser(prog="maskdet info").parse_args(argv)
    from maskdet.classifier import WEIGHTS_DIR as CLS_DIR
    from maskdet.detector import WEIGHTS_DIR

    info = {"version": __import__("maskdet").__version__, "weights_dir": str(WEIGHTS_DIR)}
    for name, path in (
        ("detector_metrics", WEIGHTS_DIR / "detector_metrics.json"),
        ("classifier_metrics", CLS_DIR / "metrics.json"),
    ):
        info[name] = json.loads(path.read_text()) if path.is_file() else None
    print(json.dumps(info, indent=2))
    return 0


def add_data_args(p: argparse.ArgumentParser) -> None:
    """Which VOC images to evaluate on: the validation side of the split by default."""
    p.add_argument("--data", type=Path, default=SHARED / "datasets" / "facemask-voc", help="VOC folder")
    p.add_argument("--split", type=Path, default=None, help="split JSON (default: the bundled one)")
    p.add_argument("--side", choices=["train", "val", "all"], default="val")
    p.add_argument("--all", dest="side", action="store_const", const="all", help="every image (same as --side all)")


def voc_items(a: argparse.Namespace) -> list:
    from maskdet.data import BUNDLED_SPLIT, load_split, load_voc, select

    items = load_voc(a.data)
    return items if a.side == "all" else select(items, load_split(a.split or BUNDLED_SPLIT)[a.side])


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate.py", description="Evaluate maskdet on a VOC folder or image folder.")
    sub = p.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("faces", help="face detector AP / recall by face size, with YuNet as the baseline")
    add_data_args(f)
    f.add_argument(
        "--detector", nargs="+", default=[None], help="detector files, folders or hub ids, compared (default: bundled)"
    )
    f.add_argument("--imgsz", type=int, nargs="+", default=[DEFAULT_IMGSZ], help="detector input sizes")
    f.add_argument(
        "--zoom", type=zoom_size, default=DEFAULT_ZOOM, help="also run each smaller size with a zoomed pass (0: none)"
    )
    f.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_FLIP,
        help="the photo settings (+zoom) also run on the mirrored image (+flip; default on, as photos run)",
    )
    f.add_argument("--threshold", type=float, default=0.35, help="operating face threshold for recall")
    f.add_argument("--yunet", type=Path, default=SHARED / "weights" / "yunet" / "yunet_s_640_640.onnx")
    f.add_argument("--yunet-threshold", type=float, default=0.6)
    f.add_argument("--json", type=Path, default=None, help="write the full report here")
    e = sub.add_parser("pipeline", help="end to end: per-class AP, mAP, face AP, confusion of matched faces")
    add_data_args(e)
    add_model_args(e, several_sizes=True)
    e.add_argument("--output-dir", type=Path, default=Path("runs/eval"), help="pipeline_eval.json and the plots")
    c = sub.add_parser("classify", help="the classifier alone on an image folder <folder>/<label>/*.jpg")
    c.add_argument("--data", type=Path, required=True, help="image folder with one sub-folder per label")
    c.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument(
        "--output-dir", type=Path, default=Path("runs/eval"), help="classify_eval.json, confusion and reliability plots"
    )
    return p


def _evaluate_faces(a: argparse.Namespace) -> str:
    from maskdet.baselines import YuNetDetector
    from maskdet.detector import FaceDetector, config_name, report_names, run_configs
    from maskdet.face_eval import evaluate_faces, format_table

    items = voc_items(a)
    reports = {}
    detectors = [FaceDetector.load(source) for source in a.detector]
    for det, name in zip(detectors, report_names([det.path for det in detectors]), strict=True):
        for size, zoom, flip in run_configs(det, a.imgsz, a.zoom, a.flip):
            reports[f"maskdet {name} @{config_name(size, zoom, flip)}"] = evaluate_faces(
                lambda frame, conf, det=det, size=size, zoom=zoom, flip=flip: det.detect(
                    frame, conf=conf, imgsz=size, zoom=zoom, flip=flip
                ),
                items,
                a.threshold,
            )
    if a.yunet and Path(a.yunet).is_file():
        yunet = YuNetDetector(a.yunet)
        reports[f"YuNet {Path(a.yunet).name}"] = evaluate_faces(
            lambda frame, conf: yunet.detect(frame, conf=conf), items, a.yunet_threshold
        )
    if a.json:
        a.json.write_text(json.dumps(reports, indent=2) + "\n")
    return format_table(reports)


def _evaluate_pipeline(a: argparse.Namespace) -> str:
    from maskdet.pipeline_eval import evaluate_pipeline, format_reports, json_ready, save_figures

    items = voc_items(a)
    pipe = pipeline_from_args(argparse.Namespace(**{**vars(a), "imgsz": a.imgsz[0], "zoom": None}))
    reports = evaluate_pipeline(pipe, items, a.imgsz, zoom=a.zoom)
    a.output_dir.mkdir(parents=True, exist_ok=True)
    save_figures(reports, a.output_dir)
    config = {
        "data": str(a.data),
        "images": "all" if a.side == "all" else f"{a.side} side of {a.split or 'the bundled split'}",
        "detector": str(pipe.detector.path),
        "classifier": str(pipe.classifier.path),
        "ranking": "face score x label probability, one detection per face (its top class); every_class: "
        "each face once per class (ultralytics val protocol)",
    }
    out = json_ready({"config": config, "reports": reports})
    (a.output_dir / "pipeline_eval.json").write_text(json.dumps(out, indent=2) + "\n")
    return format_reports(reports)


def _evaluate_classifier(a: argparse.Namespace) -> str:
    from maskdet.classifier import MaskClassifier
    from maskdet.classifier_eval import evaluate_classifier, format_classification
    from maskdet.pipeline_eval import json_ready
    from maskdet.plots import save_confusion, save_reliability

    clf = MaskClassifier.from_pretrained(a.classifier)
    m = evaluate_classifier(clf, a.data, a.batch_size)
    m["classifier"] = str(clf.path)
    a.output_dir.mkdir(parents=True, exist_ok=True)
    (a.output_dir / "classify_eval.json").write_text(json.dumps(json_ready(m), indent=2) + "\n")
    panel = {"rows": m["labels"], "columns": m["labels"], "matrix": m["confusion_matrix"]}
    save_confusion(a.output_dir / "classify_confusion.png", {"": panel})
    save_reliability(
        a.output_dir / "classify_reliability.png", {clf.architecture: m["reliability"]}, clf.label_threshold
    )
    return format_classification(m)


def evaluate_main(argv: list[str] | None = None) -> int:
    """`python evaluate.py {faces,pipeline,classify} ...`: print a markdown report, write JSON (and plots)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = evaluate_parser().parse_args(argv)
    run = {"faces": _evaluate_faces, "pipeline": _evaluate_pipeline, "classify": _evaluate_classifier}[a.mode]
    try:
        print(run(a))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


COMMANDS = {"train": train_main, "detect": detect_main, "evaluate": evaluate_main, "info": info_main}


def main(argv: list[str] | None = None) -> int:
    """`maskdet <command> ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: maskdet {{{','.join(COMMANDS)}}} ...\n  train   fine-tune the classifier "
            "(`maskdet train detector ...` for the face detector)\n  detect  label faces in images\n"
            "  info    show the bundled models",
            file=sys.stderr,
        )
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[argv[0]](argv[1:])
