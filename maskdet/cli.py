"""The `maskdet` command line: train, detect, batch, evaluate, info. Scripts at the top level call into here."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from maskdet.assets import CROPS, EXTRA, VOC, WIDER_FACE_TFLITE, YUNET
from maskdet.hub import PushError
from maskdet.presets import LIVE, PHOTO, Preset

TRAIN_COMMANDS = {
    "crops": "cut face crops + synthetic masks into an image folder (the classifier's data)",
    "detector": "train the YOLOv8 face detector",
    "quantize": "INT8 copy of a float detector ONNX",
}


def classifier_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    other = "\n".join(f"  {prog} {name} ...  {text}" for name, text in TRAIN_COMMANDS.items())
    p = argparse.ArgumentParser(
        prog=prog,
        description="Fine-tune the mask classifier (timm + datasets); the first word picks another command.",
        epilog=f"other commands (each has --help):\n{other}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        "--context-prob",
        type=float,
        default=0.0,
        help="share of crops given a wider margin of unrelated surroundings (tight web crops; default 0)",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="K >= 2: K fold models over the training side first (mean and spread in folds.json) and a calibration "
        "fitted on their out-of-fold predictions (temperature, unknown cut-off, stored in config.json)",
    )
    p.add_argument("--no-final", action="store_true", help="folds only: no final model (to compare recipes)")
    p.add_argument(
        "--fold-limit", type=int, default=None, metavar="N", help="train only the first N folds (a quick ablation)"
    )
    p.add_argument("--seed", type=int, default=0, help="draws the training (sampling, augmentation, init of the head)")
    p.add_argument(
        "--fold-seed", type=int, default=0, help="cuts the folds (kept apart from --seed, so seeds pair on one fold)"
    )
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


def crops_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog} crops", description="Cut face crops + synthetic masks into an image folder."
    )
    p.add_argument("--voc", type=Path, default=VOC.default, help="VOC folder (docs/data.md)")
    p.add_argument(
        "--extra-voc",
        type=Path,
        default=EXTRA.default,
        help="a second VOC scene set, split by maskdet/splits/facemask-extra.json (--extra-voc '' for none)",
    )
    p.add_argument(
        "--extra", type=Path, nargs="*", default=[CROPS.default], help="crop folders (`--extra` alone: none)"
    )
    p.add_argument("--yunet", type=Path, default=YUNET.default, help="YuNet ONNX (docs/data.md)")
    p.add_argument("--no-synthetic", action="store_true")
    p.add_argument(
        "--real-texture",
        type=float,
        default=0.0,
        help="share of synthetic masks filled with real mask fabric from the crop folders' with_mask faces",
    )
    p.add_argument("--min-size", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, required=True)
    return p


def calibrate_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog} calibrate",
        description="Fit a classifier's temperature and `unknown` cut-off on labelled crops it did not train on.",
    )
    p.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    p.add_argument("--data", type=Path, required=True, help="held-out crops, <folder>/<label>/*.jpg")
    p.add_argument("--output-dir", type=Path, required=True, help="where the calibrated classifier goes")
    p.add_argument("--seed", type=int, default=0)
    return p


def detector_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{prog} detector", description="Train the YOLOv8 face detector.")
    p.add_argument("--seed", type=int, default=0, help="ultralytics' seed and the INT8 calibration sample")
    p.add_argument("--data", type=Path, default=VOC.default, help="VOC folder (docs/data.md)")
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
    p.add_argument(
        "--extra",
        type=Path,
        nargs="*",
        default=[],
        help=f"more VOC folders, split by their bundled split (e.g. {EXTRA.default})",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help=f"start from a YOLOv8n .tflite (e.g. {WIDER_FACE_TFLITE.default})",
    )
    p.add_argument(
        "--teacher",
        type=Path,
        default=None,
        help="a face detector (.pt, or a .tflite as --init) whose confident unannotated faces are masked out"
        " of the training images (ignore regions)",
    )
    p.add_argument(
        "--classes",
        type=int,
        choices=(1, 3),
        default=1,
        help="1: one class, face (the classifier labels it); 3: a class per mask label",
    )
    p.add_argument("--teacher-conf", type=float, default=0.5, help="teacher score for an ignore region")
    p.add_argument(
        "--restyle",
        default=None,
        help="a detector (file or folder, e.g. maskdet/weights/detector-int8.onnx) whose boxes the --extra sets'"
        " training faces take before training (facemask-extra boxes whole heads; maskdet.train.restyle)",
    )
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--split", type=Path, default=None, help="split JSON (default: the bundled one)")
    p.add_argument("--export-imgsz", type=int, default=640, help="ONNX export size (the model is dynamic)")
    p.add_argument("--output-dir", type=Path, default=Path("runs/detector"))
    return p


def quantize_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog} quantize", description="INT8 copy of a float detector ONNX, calibrated on training images."
    )
    p.add_argument("--detector", type=Path, default=Path("maskdet/weights/detector.onnx"), help="float ONNX export")
    p.add_argument("--data", type=Path, default=VOC.default, help="VOC folder to calibrate on")
    p.add_argument("--split", type=Path, default=None, help="split JSON; its training side (default: bundled)")
    p.add_argument("--images", type=int, default=64, help="how many calibration images")
    p.add_argument("--output", type=Path, required=True)
    return p


def train_main(argv: list[str] | None = None, prog: str = "train.py") -> int:
    """`python train.py ...` / `maskdet train ...`: classifier by default, `crops`, `calibrate`, `detector`,
    `quantize`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = ("python " if prog.endswith(".py") else "") + prog + " " + shlex.join(argv)  # for the model card
    try:
        if argv[:1] == ["crops"]:
            from maskdet.data.crops import CropDataConfig, prepare_crops

            a = crops_parser(prog).parse_args(argv[1:])
            cfg = CropDataConfig(
                voc=a.voc,
                extra_voc=a.extra_voc if str(a.extra_voc) not in ("", ".") else None,
                extra=a.extra,
                yunet=None if a.no_synthetic else a.yunet,
                real_texture=a.real_texture,
                min_size=a.min_size,
                seed=a.seed,
            )
            print(json.dumps(prepare_crops(cfg, a.output)["counts"], indent=2))
        elif argv[:1] == ["calibrate"]:
            from maskdet.train.calibrate import calibrate

            a = calibrate_parser(prog).parse_args(argv[1:])
            print(json.dumps(calibrate(a.classifier, a.data, a.output_dir, seed=a.seed), indent=2))
            print(f"saved to {a.output_dir}")
        elif argv[:1] == ["quantize"]:
            from maskdet.train.quantize import quantize_detector, voc_training_images

            a = quantize_parser(prog).parse_args(argv[1:])
            if not a.detector.is_file():
                raise FileNotFoundError(f"detector ONNX not found: {str(a.detector)!r}")
            images = voc_training_images(a.data, a.split)
            print(f"saved to {quantize_detector(a.detector, a.output, images, limit=a.images)}")
        elif argv[:1] == ["detector"]:
            from maskdet.data.voc import BUNDLED_SPLIT
            from maskdet.train.detector import DetectorTrainConfig, train_detector

            a = detector_parser(prog).parse_args(argv[1:])
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
                extra=tuple(a.extra),
                init=a.init,
                classes=a.classes,
                teacher=a.teacher,
                teacher_conf=a.teacher_conf,
                restyle=a.restyle,
                seed=a.seed,
            )
            print(json.dumps(train_detector(cfg), indent=2))
        else:
            from maskdet.train.classifier import TrainConfig, train

            a = classifier_parser(prog).parse_args(argv)
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
                context_prob=a.context_prob,
                folds=a.folds,
                final=not a.no_final,
                seed=a.seed,
                fold_seed=a.fold_seed,
                fold_limit=a.fold_limit,
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
    except (ValueError, FileNotFoundError, PushError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def push_main(argv: list[str], prog: str = "maskdet push") -> int:
    """`maskdet push USER/REPO`: save a release (both models, metrics, model card) and upload it."""
    p = argparse.ArgumentParser(
        prog="maskdet push",
        description="Publish both models (ONNX), their metrics and a model card to a Hugging Face Hub repo "
        "(docs/model-hub.md). Log in first: `hf auth login` or HF_TOKEN.",
    )
    p.add_argument("repo_id", help="USER/REPO on the hub (created when missing)")
    p.add_argument("--detector", default=None, help="detector folder or .onnx file (default: bundled)")
    p.add_argument("--classifier", default=None, help="classifier folder (default: bundled)")
    p.add_argument("--save-dir", type=Path, default=None, help="save the release here (default: runs/release/REPO)")
    p.add_argument(
        "--folder", type=Path, default=None, help="upload this saved folder as it is (the retry after a failed push)"
    )
    p.add_argument("--save-only", action="store_true", help="save the release and upload nothing")
    p.add_argument("--private", action="store_true", help="create the repo private")
    a = p.parse_args(argv)
    from maskdet.hub import push_folder
    from maskdet.train.release import save_release

    try:
        folder = a.folder
        if folder is None:
            folder = a.save_dir or Path("runs") / "release" / a.repo_id.replace("/", "--")
            save_release(folder, a.detector, a.classifier, a.repo_id)
            print(f"saved to {folder}")
        elif not (folder / "config.json").is_file() and not any(folder.glob("detector*.onnx")):
            raise FileNotFoundError(f"--folder {str(folder)!r} holds no saved model (config.json or detector*.onnx)")
        if not a.save_only:
            repo = push_folder(folder, a.repo_id, private=a.private)
            print(f"pushed to https://huggingface.co/{repo}")
    except (ValueError, FileNotFoundError, PushError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def zoom_size(text: str) -> int | None:
    """argparse type for --zoom: a detector size, or 0 for no zoomed pass (None)."""
    return int(text) or None


def add_model_args(p: argparse.ArgumentParser, preset: Preset = PHOTO, several_sizes: bool = False) -> None:
    """Model and threshold flags shared by every entry point (CLI, detect_video.py, app.py, evaluate.py).

    `preset`: the setting the defaults come from; `LIVE` (video entry points) has no --zoom or --flip,
    whose values then are the preset's (one pass, no mirror).
    """
    p.add_argument("--detector", default=None, help="detector .pt/.onnx file, folder or hub repo id (default: bundled)")
    p.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    p.add_argument("--face-threshold", type=float, default=preset.face_threshold, help="minimum face confidence")
    p.add_argument(
        "--label-threshold",
        type=float,
        default=None,
        help="below this label probability a face is 'unknown' (default: the classifier's calibrated one, "
        "from its config.json; 0 for none)",
    )
    if several_sizes:
        p.add_argument("--imgsz", type=int, nargs="+", default=[preset.imgsz], help="detector input sizes")
    else:
        size = preset.imgsz
        p.add_argument("--imgsz", type=int, default=size, help=f"detector input size, longest side (default {size})")
    if preset.zoom is None and not preset.flip:
        p.set_defaults(zoom=None, flip=False)
        return
    add_photo_args(
        p,
        preset,
        zoom_help=f"detector size of a second pass that adds small faces (default {preset.zoom}; 0: one pass, faster)",
        flip_help="also detect on the mirrored image and fuse the views (default on; ~2x the photo time)",
    )


def add_photo_args(p: argparse.ArgumentParser, preset: Preset, zoom_help: str, flip_help: str | None = None) -> None:
    """--zoom and --flip with the preset's defaults."""
    p.add_argument("--zoom", type=zoom_size, default=preset.zoom, help=zoom_help)
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=preset.flip, help=flip_help)


def pipeline_kwargs(a: argparse.Namespace) -> dict:
    """The `Pipeline` settings the flags of `add_model_args` give (everything but the two models)."""
    return {
        "face_threshold": a.face_threshold,
        "label_threshold": a.label_threshold,
        "imgsz": a.imgsz,
        "zoom": a.zoom,
        "flip": a.flip,
        **({"detector_weight": a.detector_weight} if getattr(a, "detector_weight", None) is not None else {}),
    }


def pipeline_from_args(a: argparse.Namespace):
    from maskdet.pipeline import Pipeline

    return Pipeline.from_pretrained(a.detector, a.classifier, **pipeline_kwargs(a))


def detect_parser(prog: str = "maskdet detect") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Detect faces and mask use in images, folders, globs, videos, a camera or a stream URL.",
        epilog="Images run as photos (--imgsz/--zoom/--flip); videos, cameras and URLs run as live video "
        "(--live-imgsz, one pass, tracked). One JSON line per image, and per video its summary, on stdout.",
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="image, folder, glob ('photos/*.jpg', quoted), video file, camera index (0) or URL (rtsp://...)",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="write annotated images (.jpg) and videos (.mp4)")
    p.add_argument("--save-json", type=Path, default=None, metavar="FILE.jsonl", help="JSON Lines: one line per face")
    p.add_argument("--save-csv", type=Path, default=None, metavar="FILE.csv", help="CSV: one row per face")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the annotated images and videos")
    p.add_argument("--live-imgsz", type=int, default=LIVE.imgsz, help=f"detector size for video (default {LIVE.imgsz})")
    p.add_argument("--max-frames", type=int, default=None, help="stop each video, camera or stream after N frames")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_args(p)
    return p


def detect_main(argv: list[str], prog: str = "maskdet detect") -> int:
    """`maskdet detect SOURCE...`: what `yolo predict source=` takes; one JSON line per image or video.

    Exit status: 0 all done, 1 a source could not be read or an output not written (every other result
    is still printed), 2 a model or an output path is unusable (before any work).
    """
    a = detect_parser(prog).parse_args(argv)
    from maskdet.io.export import RowWriter
    from maskdet.io.sources import Source, expand_source

    sources: list[Source | tuple[str, str]] = []
    for text in a.sources:
        try:
            sources += expand_source(text)
        except ValueError as e:
            sources.append((text, str(e)))  # reported in its turn, like an unreadable image
    try:
        for flag, folder in (("--output-dir", a.output_dir), ("--save-json", a.save_json), ("--save-csv", a.save_csv)):
            if folder is not None:
                _make_dir(folder if flag == "--output-dir" else folder.parent, flag)
        pipe = pipeline_from_args(a)
        rows = RowWriter(a.save_json, a.save_csv)
    except (ValueError, FileNotFoundError) as e:  # a model: the message names the file and the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # --save-json / --save-csv is a folder, or not writable
        print(f"error: cannot write {e.filename!r} ({e.strerror or e})", file=sys.stderr)
        return 2
    from tqdm import tqdm

    images = sum(isinstance(s, Source) and s.kind == "image" for s in sources)
    bar = tqdm(total=images, unit="image", file=sys.stderr, disable=a.quiet or images < 2, dynamic_ncols=True)
    failed = 0
    with rows, bar:
        for source in sources:
            if not isinstance(source, Source):
                failed += _report(source[0], source[1])
            elif source.is_video:
                failed += _detect_video(source, pipe, a, rows)
            else:
                failed += _detect_image(source, pipe, a, rows)
                bar.update()
    if a.save_json or a.save_csv:
        saved = " and ".join(str(f) for f in (a.save_json, a.save_csv) if f)
        print(f"{rows.rows} face rows saved to {saved}", file=sys.stderr)
    return 1 if failed else 0


def batch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="maskdet batch",
        description="Run the pipeline over an archive of photos and videos on Ray: locally by default, or on a "
        "cluster (--address). One Parquet row per face, a summary per source; see docs/scale-out.md.",
    )
    p.add_argument("sources", nargs="+", help="folders (recursive), globs, list files (.txt: one per line) or URIs")
    p.add_argument("--output", type=Path, required=True, help="output folder: faces/*.parquet, sources/, summary.json")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Ray actors, each loading the models once (default: one per CPU of the cluster; 0: no Ray, this "
        "process). Threads per actor = CPUs / workers, so actors x threads = cores; each actor asks Ray for "
        "half a CPU per thread, which leaves Ray Data room to schedule its own tasks",
    )
    p.add_argument("--threads", type=int, default=None, help="threads per actor (default: CPUs / workers)")
    p.add_argument("--address", default=None, help="join a running cluster: auto or ray://HOST:PORT (default: local)")
    p.add_argument("--resume", action="store_true", help="skip sources done in --output (same path, size, mtime)")
    p.add_argument("--annotate", action="store_true", help="also write drawn photos and videos to --output/annotated")
    p.add_argument("--images-per-task", type=int, default=8, help="photos per work unit (each video is one unit)")
    p.add_argument("--no-track", action="store_true", help="videos: label every frame alone (no ids or people)")
    add_model_args(p)
    p.add_argument(
        "--video-imgsz",
        type=int,
        default=LIVE.imgsz,
        help=f"detector input size for videos (default {LIVE.imgsz}, one pass, as detect_video.py)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def batch_main(argv: list[str], prog: str = "maskdet batch") -> int:
    """`maskdet batch SOURCE... --output DIR`: 0 when every source was processed, 1 when some failed."""
    a = batch_parser().parse_args(argv)
    from maskdet._env import configure_offline
    from maskdet.batch import BatchJob, BatchSettings, format_table, run_batch

    configure_offline()
    try:
        settings = BatchSettings(
            detector=a.detector,
            classifier=a.classifier,
            **pipeline_kwargs(a),
            video_imgsz=a.video_imgsz,
            track=not a.no_track,
            annotate_dir=str((a.output / "annotated").resolve()) if a.annotate else None,
        )
        job = BatchJob(
            a.sources,
            a.output,
            settings,
            workers=a.workers,
            threads=a.threads,
            address=a.address,
            resume=a.resume,
            images_per_task=a.images_per_task,
            progress=not a.quiet,
        )
        summary = run_batch(job)
    except (ImportError, ValueError, FileNotFoundError) as e:  # no Ray, bad sources, a used --output
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(summary))
    return 1 if summary["failed"] else 0


def _make_dir(folder: Path, flag: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create {flag} {str(folder)!r} ({e.strerror or e})") from e


def _report(source: str, error: str, key: str = "image") -> int:
    """A source that gave no result: a JSON line in its place on stdout and one line on stderr; counts 1."""
    print(json.dumps({key: source, "error": error}), flush=True)
    print(f"error: {source}: {error}", file=sys.stderr)
    return 1


def _detect_image(source, pipe, a: argparse.Namespace, rows) -> int:
    """One image: its JSON line, its rows, its annotated copy; 1 when it failed."""
    import cv2

    from maskdet.annotate import draw
    from maskdet.io.export import face_rows
    from maskdet.io.images import load_image

    path = Path(source.target)
    try:
        frame = load_image(path)
    except (ValueError, FileNotFoundError) as e:
        return _report(source.target, str(e))
    faces = pipe(frame)
    result = faces.to_dict()
    print(json.dumps({"image": source.target, **result}), flush=True)  # the result is out first
    rows.write(face_rows(result, source.target))
    if a.output_dir:
        out = a.output_dir / f"{path.stem}.jpg"
        try:
            written = cv2.imwrite(str(out), draw(frame, faces, blur=a.blur))
        except cv2.error:
            written = False
        if not written:  # imwrite says False, not why: a full disk or a folder that stopped being writable
            print(f"warning: could not write {str(out)!r} (disk full or not writable?)", file=sys.stderr)
            return 1
    return 0


def progress_bar(src, max_frames: int | None = None, desc: str | None = None, disable: bool = False):
    """A tqdm bar on stderr over the frames `src` (a `VideoSource`) will give: its length, or `max_frames`."""
    from tqdm import tqdm

    from maskdet.video import planned_frames

    total = planned_frames(src, max_frames)
    return tqdm(total=total, unit="frame", file=sys.stderr, disable=disable, dynamic_ncols=True, desc=desc)


def _detect_video(source, pipe, a: argparse.Namespace, rows) -> int:
    """A video file, camera or URL through the video engine (tracking, live settings); 1 when it failed."""
    import time
    from dataclasses import replace

    from maskdet.io.export import face_rows
    from maskdet.video import OutputError, open_source, run_video

    try:
        src = open_source(source.target)
    except (ValueError, FileNotFoundError) as e:
        return _report(source.target, str(e), key="video")
    output = None
    if a.output_dir:
        name = "camera" + source.target.strip("/").replace("/", "_") if source.kind == "camera" else None
        output = a.output_dir / f"{name or Path(source.target.split('?')[0]).stem or 'stream'}.mp4"
    bar = progress_bar(src, a.max_frames, desc=source.target, disable=a.quiet)
    t0, count = time.monotonic(), 0

    def on_frame(_annotated, faces) -> None:
        nonlocal count
        seconds = time.monotonic() - t0 if src.live else count / src.fps
        rows.write(face_rows(faces.to_dict(), source.target, frame=count, time=round(seconds, 3)))
        count += 1
        bar.update()

    live = replace(pipe.with_preset("live"), imgsz=a.live_imgsz)  # the same models, as detect_video.py runs
    try:
        with bar:
            summary = run_video(live, src, output, blur=a.blur, max_frames=a.max_frames, on_frame=on_frame, track=True)
    except (OutputError, ValueError) as e:
        return _report(source.target, str(e), key="video")
    print(json.dumps({"video": source.target, **summary.brief()}), flush=True)
    return 0


def info_main(argv: list[str], prog: str = "maskdet info") -> int:
    """`maskdet info`: where the bundled models are and what they score (from their metrics)."""
    argparse.ArgumentParser(prog=prog, description="Show the bundled models and their metrics.").parse_args(argv)
    from maskdet.hub import CLASSIFIER, WEIGHTS_DIR

    info = {"version": __import__("maskdet").__version__, "weights_dir": str(WEIGHTS_DIR)}
    for name, path in (
        ("detector_metrics", WEIGHTS_DIR / "detector_metrics.json"),
        ("classifier_metrics", CLASSIFIER.bundled / "metrics.json"),
    ):
        info[name] = json.loads(path.read_text()) if path.is_file() else None
    print(json.dumps(info, indent=2))
    return 0


def add_data_args(p: argparse.ArgumentParser) -> None:
    """Which VOC images to evaluate on: the validation side of the split by default."""
    p.add_argument("--data", type=Path, default=VOC.default, help="VOC folder (docs/data.md)")
    p.add_argument("--split", type=Path, default=None, help="split JSON (default: the bundled one)")
    p.add_argument("--side", choices=["train", "val", "all"], default="val")
    p.add_argument("--all", dest="side", action="store_const", const="all", help="every image (same as --side all)")


def voc_items(a: argparse.Namespace) -> list:
    from maskdet.data.voc import BUNDLED_SPLIT, load_split, load_voc, select

    items = load_voc(a.data)
    return items if a.side == "all" else select(items, load_split(a.split or BUNDLED_SPLIT)[a.side])


def evaluate_parser(prog: str = "evaluate.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Evaluate maskdet on a VOC folder or image folder.")
    sub = p.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("faces", help="face detector AP / recall by face size, with YuNet as the baseline")
    add_data_args(f)
    f.add_argument(
        "--detector", nargs="+", default=[None], help="detector files, folders or hub ids, compared (default: bundled)"
    )
    f.add_argument("--imgsz", type=int, nargs="+", default=[PHOTO.imgsz], help="detector input sizes")
    add_photo_args(
        f,
        PHOTO,
        zoom_help="also run each smaller size with a zoomed pass (0: none)",
        flip_help="the photo settings (+zoom) also run on the mirrored image (+flip; default on, as photos run)",
    )
    f.add_argument("--threshold", type=float, default=PHOTO.face_threshold, help="operating face threshold for recall")
    f.add_argument("--yunet", type=Path, default=YUNET.default, help="YuNet ONNX (docs/data.md)")
    f.add_argument("--yunet-threshold", type=float, default=0.6)
    f.add_argument("--json", type=Path, default=None, help="write the full report here")
    e = sub.add_parser("pipeline", help="end to end: per-class AP, mAP, face AP, confusion of matched faces")
    add_data_args(e)
    add_model_args(e, several_sizes=True)
    e.add_argument(
        "--output-dir", type=Path, default=Path("runs/eval"), help="pipeline_eval.json, predictions.npz and the plots"
    )
    e.add_argument(
        "--detector-weight",
        type=float,
        default=None,
        help="a 3-class detector's share in the label scores (default 0.5; 0: the classifier's alone)",
    )
    m = sub.add_parser(
        "compare", help="two `pipeline` runs on the same images: B - A in mAP50 and face AP50, paired bootstrap"
    )
    add_data_args(m)
    m.add_argument("a", type=Path, help="output dir of the first `evaluate.py pipeline` run (the baseline)")
    m.add_argument("b", type=Path, help="output dir of the second run")
    m.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the images")
    m.add_argument("--level", type=float, default=0.9, help="interval coverage")
    m.add_argument("--json", type=Path, default=None, help="write the full result here")
    u = sub.add_parser("closeups", help="big faces: found and labelled right on face crops, whole and pasted")
    u.add_argument(
        "--data", type=Path, default=CROPS.default, help="image folder <folder>/<label>/*.jpg (docs/data.md)"
    )
    u.add_argument("--per-label", type=int, default=150, help="crops sampled per label (seeded)")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--detector", nargs="+", default=[None], help="detectors compared (default: bundled)")
    u.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    u.add_argument("--imgsz", type=int, nargs="+", default=[PHOTO.imgsz, LIVE.imgsz], help="detector input sizes")
    add_photo_args(u, PHOTO, zoom_help="photo setting's zoomed pass (0: none)")
    u.add_argument("--face-threshold", type=float, default=PHOTO.face_threshold)
    u.add_argument("--json", type=Path, default=None, help="write the full report here")
    c = sub.add_parser("classify", help="the classifier alone on an image folder <folder>/<label>/*.jpg")
    c.add_argument("--data", type=Path, required=True, help="image folder with one sub-folder per label")
    c.add_argument("--classifier", default=None, help="classifier folder or hub repo id (default: bundled)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument(
        "--output-dir", type=Path, default=Path("runs/eval"), help="classify_eval.json, confusion and reliability plots"
    )
    return p


def detector_settings(a: argparse.Namespace) -> Iterator[tuple]:
    """(report name, detector, size, zoom, flip) for every `--detector` at every setting it runs: each
    `--imgsz` alone, then as photos run (`run_configs`); names as `report_names` and `config_name` give."""
    from maskdet.detector import FaceDetector
    from maskdet.eval.runs import config_name, report_names, run_configs

    detectors = [FaceDetector.load(source) for source in a.detector]
    for det, name in zip(detectors, report_names([det.path for det in detectors]), strict=True):
        for size, zoom, flip in run_configs(det, a.imgsz, a.zoom, a.flip):
            yield f"{name} @{config_name(size, zoom, flip)}", det, size, zoom, flip


def _evaluate_faces(a: argparse.Namespace) -> str:
    from maskdet.eval.baselines import YuNetDetector
    from maskdet.eval.faces import evaluate_faces, format_table

    items = voc_items(a)
    reports = {}
    for name, det, size, zoom, flip in detector_settings(a):
        reports[f"maskdet {name}"] = evaluate_faces(
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
    elif a.yunet:  # `--yunet ""` leaves the baseline out on purpose
        print(f"note: no YuNet baseline in this report: {YUNET.missing(a.yunet, '--yunet')}", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(reports, indent=2) + "\n")
    return format_table(reports)


def _evaluate_pipeline(a: argparse.Namespace) -> str:
    from maskdet.eval.compare import PREDICTIONS, save_predictions
    from maskdet.eval.pipeline import evaluate_pipeline, format_reports, json_ready, save_figures

    items = voc_items(a)
    pipe = pipeline_from_args(argparse.Namespace(**{**vars(a), "imgsz": a.imgsz[0], "zoom": None}))
    predictions: dict = {}
    reports = evaluate_pipeline(pipe, items, a.imgsz, zoom=a.zoom, predictions=predictions)
    a.output_dir.mkdir(parents=True, exist_ok=True)
    save_predictions(a.output_dir / PREDICTIONS, [it.stem for it in items], predictions)
    save_figures(reports, a.output_dir)
    config = {
        "data": str(a.data),
        "images": "all" if a.side == "all" else f"{a.side} side of {a.split or 'the bundled split'}",
        "detector": str(pipe.detector.path),
        "classifier": str(pipe.classifier.path),
        "ranking": "face score x label probability, one detection per face (its top class); every_class: "
        "each face once per class (ultralytics val protocol); true_labels: each found face given its true "
        "label (a perfect classifier behind this detector)",
    }
    out = json_ready({"config": config, "reports": reports})
    (a.output_dir / "pipeline_eval.json").write_text(json.dumps(out, indent=2) + "\n")
    return format_reports(reports)


def _evaluate_compare(a: argparse.Namespace) -> str:
    from maskdet.eval.compare import PREDICTIONS, compare_runs, format_comparison, load_predictions

    if a.resamples < 1 or not 0 < a.level < 1:
        raise ValueError(f"--resamples must be >= 1 and --level in (0, 1), but got {a.resamples} and {a.level}")
    items = voc_items(a)
    stems = [it.stem for it in items]
    runs = []
    for folder in (a.a, a.b):
        saved, faces = load_predictions(folder / PREDICTIONS)
        if saved != stems:
            raise ValueError(f"{str(folder)!r} holds predictions for other images than --data/--split/--side give")
        runs.append(faces)
    result = compare_runs(items, *runs, resamples=a.resamples, level=a.level)
    if not result:
        raise ValueError(f"{str(a.a)!r} and {str(a.b)!r} share no setting ({list(runs[0])} vs {list(runs[1])})")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return format_comparison(result, str(a.a), str(a.b))


def _evaluate_closeups(a: argparse.Namespace) -> str:
    from maskdet.classifier import MaskClassifier
    from maskdet.eval.closeups import closeup_cases, evaluate_closeups, format_closeups
    from maskdet.pipeline import Pipeline

    cases = closeup_cases(CROPS.check(a.data, "--data"), a.per_label, a.seed)
    classifier = MaskClassifier.from_pretrained(a.classifier)
    reports = {}
    for name, det, size, zoom, flip in detector_settings(a):
        pipe = Pipeline(det, classifier, face_threshold=a.face_threshold, imgsz=size, zoom=zoom, flip=flip)
        reports[name] = evaluate_closeups(pipe, cases)
    if a.json:
        a.json.write_text(json.dumps(reports, indent=2) + "\n")
    return format_closeups(reports)


def _evaluate_classifier(a: argparse.Namespace) -> str:
    from maskdet.classifier import MaskClassifier
    from maskdet.eval.classifier import evaluate_classifier, format_classification
    from maskdet.eval.pipeline import json_ready
    from maskdet.eval.plots import save_confusion, save_reliability

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


def evaluate_main(argv: list[str] | None = None, prog: str = "evaluate.py") -> int:
    """`python evaluate.py {faces,pipeline,compare,closeups,classify} ...`: print a markdown report, write JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = evaluate_parser(prog).parse_args(argv)
    run = {
        "faces": _evaluate_faces,
        "pipeline": _evaluate_pipeline,
        "compare": _evaluate_compare,
        "closeups": _evaluate_closeups,
        "classify": _evaluate_classifier,
    }[a.mode]
    try:
        print(run(a))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


COMMANDS = {
    "detect": (detect_main, "label faces in images, folders, globs, videos, a camera or a stream URL"),
    "train": (train_main, "fine-tune the classifier; `maskdet train crops|detector|quantize ...` for the rest"),
    "evaluate": (evaluate_main, "accuracy: `maskdet evaluate faces|pipeline|closeups|classify ...`"),
    "batch": (batch_main, "photos and videos in bulk, on Ray (pip install maskdet[scale]; docs/scale-out.md)"),
    "info": (info_main, "show the bundled models and their metrics"),
    "push": (push_main, "publish both models to a hub repo (docs/model-hub.md)"),
}


def usage() -> str:
    lines = [f"usage: maskdet {{{','.join(COMMANDS)}}} ... | --version", "", "commands (each has --help):"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "app: python app.py    video in a window: python detect_video.py --source 0"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`maskdet <command> ...`, or `maskdet --version`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        from maskdet import __version__

        print(f"maskdet {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(
            f"{usage()}\n\nmaskdet: error: unknown command {argv[0]!r}; use one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    run, _ = COMMANDS[argv[0]]
    return run(argv[1:], prog=f"maskdet {argv[0]}")
