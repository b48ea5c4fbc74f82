"""End-to-end latency per frame: maskdet's pipeline vs a YuNet + same-classifier baseline, same run.

Frames are 640x480 with 0, 1, 5 and 20 faces pasted from facemask-crops (or flat synthetic faces with
--synthetic) on a smooth background; the crops and YuNet come from $MASKDET_SHARED or ../shared (docs/data.md).
Every configuration runs the same frames;
figures are medians and 90th percentiles over --repeats calls after a warm-up (configurations take
turns over --rounds rounds, so the machine's slow spells are shared), and the ratio column
is this configuration's median over the baseline's median on the same frames (lower is faster). Without
the YuNet file there is no baseline: the table has no ratio column and says why.

    python benchmarks/latency.py                      # full table (bundled models)
    python benchmarks/latency.py --quick              # one size, few repeats (smoke)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline: YuNet + classifier"


def face_images(folder: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` face crops from an image folder (recursively), or flat ellipse faces when there is none."""
    paths = sorted(folder.rglob("*.jpg")) if folder.is_dir() else []
    rng = np.random.default_rng(seed)
    if paths:
        return [cv2.imread(str(paths[i])) for i in rng.choice(len(paths), n, replace=len(paths) < n)]
    faces = []
    for _ in range(n):
        img = np.full((120, 100, 3), 200, np.uint8)
        cv2.ellipse(img, (50, 60), (40, 55), 0, 0, 360, tuple(int(v) for v in rng.integers(90, 220, 3)), -1)
        faces.append(img)
    return faces


def make_frame(n_faces: int, faces: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """A 640x480 BGR frame with `n_faces` faces on a grid, sized so that 20 still fit."""
    yy, xx = np.mgrid[0:480, 0:640]
    frame = np.dstack([(xx / 640 * 120 + 60), (yy / 480 * 80 + 80), np.full_like(xx, 110.0)]).astype(np.uint8)
    if n_faces == 0:
        return frame
    cols = min(n_faces, 5)
    rows = -(-n_faces // cols)
    cell_w, cell_h = 640 // cols, 480 // rows
    side = int(min(cell_w, cell_h) * 0.8)
    for i in range(n_faces):
        r, c = divmod(i, cols)
        face = cv2.resize(faces[i % len(faces)], (side, side))
        y, x = r * cell_h + (cell_h - side) // 2, c * cell_w + (cell_w - side) // 2
        frame[y : y + side, x : x + side] = face
    return frame


def timings(call, repeats: int, warmup: int = 2) -> tuple[list[float], object]:
    """Milliseconds of `repeats` calls of `call()` after `warmup` ones, and the last result."""
    for _ in range(warmup):
        call()
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - t) * 1000)
    return times, result


def median_p90(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def configurations(args) -> dict:
    """name -> callable(frame) -> Faces; the baseline first."""
    from maskdet.classifier import MaskClassifier
    from maskdet.detector import FaceDetector
    from maskdet.eval.baselines import YuNetDetector
    from maskdet.eval.runs import report_names, run_sizes
    from maskdet.pipeline import Pipeline

    configs = {}
    clf = {b: MaskClassifier.from_pretrained(args.classifier, backend=b) for b in args.classifier_backends}
    main_clf = clf[args.classifier_backends[0]]
    if args.yunet.is_file():
        yunet = YuNetDetector(args.yunet)
        configs[BASELINE] = Pipeline(yunet, main_clf, face_threshold=0.6, iou=0.3)
    detectors = [FaceDetector.load(det_path) for det_path in args.detectors]
    for det, det_name in zip(detectors, report_names([det.path for det in detectors]), strict=True):
        for size in run_sizes(det, args.imgsz):
            for backend, c in clf.items():
                name = f"maskdet {det_name} @{size}, {backend} clf"
                configs[name] = Pipeline(det, c, imgsz=size)
    return configs


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from maskdet.assets import CROPS, YUNET

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detectors", nargs="+", default=[None], help="detector files (default: bundled)")
    p.add_argument("--classifier", default=None, help="classifier folder (default: bundled)")
    p.add_argument("--classifier-backends", nargs="+", default=["auto"], choices=["auto", "torch", "onnx"])
    p.add_argument("--imgsz", nargs="+", type=int, default=[320, 480, 640])
    p.add_argument("--faces", nargs="+", type=int, default=[0, 1, 5, 20])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3, help="configurations take turns, --repeats split over rounds")
    p.add_argument("--yunet", type=Path, default=YUNET.default, help="the baseline's model (docs/data.md)")
    p.add_argument("--face-folder", type=Path, default=CROPS.default / "without_mask", help="real face crops")
    p.add_argument("--synthetic", action="store_true", help="flat synthetic faces instead of real crops")
    p.add_argument("--quick", action="store_true", help="one size, 1 and 5 faces, 3 repeats")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.imgsz, args.faces, args.repeats = args.imgsz[:1], [1, 5], 3
    # torch's OpenMP threads spin after each call; in one process with onnxruntime and OpenCV that spin
    # steals the cores from whichever configuration runs next. Passive waiting keeps turns independent.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from maskdet._env import configure_offline, num_threads

    configure_offline()
    with contextlib.suppress(ImportError):  # the torch classifier backend, when installed
        import torch

        torch.set_num_threads(num_threads())
    faces = face_images(Path("/nonexistent") if args.synthetic else args.face_folder, 20)
    frames = {n: make_frame(n, faces) for n in args.faces}
    configs = configurations(args)
    # Configurations take turns over several rounds, so that a slower or faster spell of the machine
    # (other processes, clock changes) is shared by all of them instead of landing on one.
    rounds = max(1, min(args.rounds, args.repeats))
    times: dict[tuple[str, int], list[float]] = {(name, n): [] for name in configs for n in frames}
    found: dict[tuple[str, int], int] = {}
    for _ in range(rounds):
        for name, fn in configs.items():
            for n, frame in frames.items():
                t, result = timings(lambda fn=fn, frame=frame: fn(frame), args.repeats // rounds)
                times[name, n] += t
                found[name, n] = len(result)
    results: dict[str, dict] = {name: {} for name in configs}
    for (name, n), t in times.items():
        median, p90 = median_p90(t)
        results[name][n] = {"median_ms": median, "p90_ms": p90, "faces_found": found[name, n]}
    base = results.get(BASELINE)
    print(f"640x480 frames, {num_threads()} threads, median / p90 ms over {args.repeats} calls")
    if base is None:  # a ratio against one of our own rows would read as a comparison with YuNet
        print(f"no baseline, so no ratios: {YUNET.missing(args.yunet, '--yunet')}")
        print("cells: median / p90 ms (faces found), FPS")
    else:
        print("cells: median / p90 ms (faces found), FPS, ratio = median / baseline median")
    print("| configuration | " + " | ".join(f"{n} faces" for n in args.faces) + " |")
    print("|---|" + "---|" * len(args.faces))
    for name, per_n in results.items():
        cells = []
        for n in args.faces:
            r = per_n[n]
            cell = f"{r['median_ms']:.1f} / {r['p90_ms']:.1f} ({r['faces_found']}), {1000 / r['median_ms']:.1f}"
            cells.append(cell if base is None else f"{cell}, {r['median_ms'] / base[n]['median_ms']:.2f}x")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
