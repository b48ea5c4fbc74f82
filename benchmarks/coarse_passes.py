"""What the photo setting's big-face coarse passes (320 and 160 px) cost: the photo setting with and
without them, interleaved photo by photo so that load drifts hit both alike.

    python benchmarks/coarse_passes.py                 # 40 facemask-voc validation photos, 3 rounds
    python benchmarks/coarse_passes.py --quick         # 3 generated scenes, 1 round (smoke)

Prints the median per-photo ratio (with / without) and its quartiles, and both medians in ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photos(quick: bool, n: int) -> list:
    import cv2

    if quick:
        from maskdet.data.scenes import example_scene

        return [example_scene(i, 640, 480) for i in range(3)]
    from maskdet.assets import VOC
    from maskdet.data.voc import BUNDLED_SPLIT, load_split, load_voc, select

    items = select(load_voc(VOC.check(VOC.default, "the photos")), load_split(BUNDLED_SPLIT)["val"])[:n]
    return [cv2.imread(str(it.path)) for it in items]


def measure(detector, frames: list, rounds: int) -> dict:
    """Per photo and round, the photo setting timed with the coarse passes, then without (same detector)."""
    import maskdet.detector as d
    from maskdet.presets import PHOTO

    coarse = d.coarse_sizes

    def once(frame, with_coarse: bool) -> float:
        d.coarse_sizes = coarse if with_coarse else (lambda imgsz: [])
        start = time.perf_counter()
        detector.detect(frame, conf=PHOTO.face_threshold, imgsz=PHOTO.imgsz, zoom=PHOTO.zoom, flip=PHOTO.flip)
        return time.perf_counter() - start

    try:
        once(frames[0], True), once(frames[0], False)  # warm-up
        pairs = [(once(f, True), once(f, False)) for _ in range(rounds) for f in frames]
    finally:
        d.coarse_sizes = coarse
    ratios = [a / b for a, b in pairs]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {
        "pairs": len(pairs),
        "ratio": statistics.median(ratios),
        "quartiles": (q[0], q[2]),
        "with_ms": 1000 * statistics.median(a for a, _ in pairs),
        "without_ms": 1000 * statistics.median(b for _, b in pairs),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", default=None, help="detector file, folder or hub id (default: bundled)")
    p.add_argument("--photos", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    from maskdet.detector import FaceDetector

    r = measure(FaceDetector.load(a.detector), photos(a.quick, a.photos), 1 if a.quick else a.rounds)
    print(
        f"photo setting with / without the coarse passes: median per-photo ratio {r['ratio']:.3f} "
        f"(quartiles {r['quartiles'][0]:.3f}-{r['quartiles'][1]:.3f}, {r['pairs']} pairs); "
        f"median {r['with_ms']:.1f} vs {r['without_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
