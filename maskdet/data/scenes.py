"""Generated street-like scenes with faces, masked or not: inputs for the load test and the tests.

Real faces cut from the bundled CC0 example photos (maskdet/examples) by default; drawn ones with
OpenCV and the synthetic masks of training on request.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def _cartoon_face(img: np.ndarray, cx: int, cy: int, size: int, placement: str | None, rng) -> None:
    """Draw a simple face (and a synthetic mask, as in training) centred at (cx, cy), in place."""
    import cv2

    from maskdet.data.synth import draw_mask

    skin = tuple(int(c) for c in rng.choice([(140, 170, 220), (100, 140, 190), (70, 100, 150), (170, 200, 235)]))
    w, h = size, int(size * 1.3)
    cv2.ellipse(img, (cx, cy), (w // 2, h // 2), 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy - h // 3), (w // 2 + 2, h // 4), 0, 180, 360, (40, 40, 60), -1, cv2.LINE_AA)  # hair
    ex, ey = w // 5, cy - h // 10
    for x in (cx - ex, cx + ex):
        cv2.circle(img, (x, ey), max(2, size // 14), (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(img, (x, ey), max(1, size // 28), (40, 30, 30), -1, cv2.LINE_AA)
    nose = (cx, cy + h // 20)
    cv2.line(img, (cx, ey + 4), nose, (80, 100, 150), max(1, size // 40), cv2.LINE_AA)
    mouth_y = cy + h // 5
    cv2.ellipse(img, (cx, mouth_y), (w // 6, h // 20), 0, 0, 180, (60, 60, 170), max(1, size // 30), cv2.LINE_AA)
    if placement:
        landmarks = np.array(
            [[cx - ex, ey], [cx + ex, ey], list(nose), [cx - w // 6, mouth_y], [cx + w // 6, mouth_y]], np.float32
        )
        img[:] = draw_mask(img, landmarks, placement, rng)


# Faces in the bundled CC0 example photos (maskdet/examples, facemask-voc): file, VOC box, label.
REAL_FACES = (
    ("maksssksksss86.jpg", (231, 76, 290, 144), "with_mask"),
    ("maksssksksss86.jpg", (335, 135, 395, 198), "without_mask"),
    ("maksssksksss99.jpg", (99, 87, 176, 165), "with_mask"),
    ("maksssksksss86.jpg", (22, 121, 77, 181), "with_mask"),
    ("maksssksksss99.jpg", (181, 54, 273, 162), "mask_worn_incorrectly"),
    ("maksssksksss99.jpg", (289, 99, 355, 233), "with_mask"),
)


@functools.cache
def _example_photo(name: str) -> np.ndarray:
    """A bundled example photo, read once: scenes are made per frame by the load test and the tests."""
    import cv2

    photo = cv2.imread(str(Path(__file__).parents[1] / "examples" / name), cv2.IMREAD_COLOR)
    photo.flags.writeable = False  # shared between calls
    return photo


def _real_face(index: int, width: int, height: int) -> np.ndarray:
    """One of `REAL_FACES` with 20% context a side, resized to (height, width) BGR."""
    import cv2

    name, (x1, y1, x2, y2), _ = REAL_FACES[index % len(REAL_FACES)]
    photo = _example_photo(name)
    mx, my = (x2 - x1) // 5, (y2 - y1) // 5
    crop = photo[max(0, y1 - my) : y2 + my, max(0, x1 - mx) : x2 + mx]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def example_scene(seed: int, width: int = 640, height: int = 480, n: int = 3, real: bool = True) -> np.ndarray:
    """A generated street-like scene (BGR) with `n` faces: real faces cut from the bundled CC0 photos
    (what a face detector trained on photos finds), or with `real=False` drawn ones, masked or not."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    top, bottom = rng.uniform(150, 230, 3), rng.uniform(60, 140, 3)
    img = (top * (1 - y) + bottom * y).repeat(width, axis=1).astype(np.uint8)
    placements = ["correct", None, "below_nose", "correct", None, "chin"]
    size = max(24, min(width // (n + 1), height // 3))
    for i in range(n):
        cx = int((i + 1) * width / (n + 1) + rng.integers(-size // 4, size // 4 + 1))
        cy = int(height / 2 + rng.integers(-height // 8, height // 8 + 1))
        if real:
            w, h = size, int(size * 1.25)
            x0, y0 = min(max(0, cx - w // 2), width - w), min(max(0, cy - h // 2), height - h)
            img[y0 : y0 + h, x0 : x0 + w] = _real_face(i + seed, w, h)
        else:
            _cartoon_face(img, cx, cy, size, placements[(i + seed) % len(placements)], rng)
    return img
