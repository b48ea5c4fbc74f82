"""A generated VOC folder: a few images with faces of each class, one image without faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASSES = ["with_mask", "without_mask", "mask_weared_incorrect"]
COLORS = {"with_mask": (255, 0, 0), "without_mask": (0, 255, 0), "mask_weared_incorrect": (0, 0, 255)}


def voc_xml(stem: str, w: int, h: int, objects: list[tuple[str, tuple]]) -> str:
    objs = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
        f"<ymax>{b[3]}</ymax></bndbox>stray text</object>"
        for n, b in objects
    )
    return (
        f"<annotation><filename>{stem}.png</filename><size><width>{w}</width><height>{h}</height>"
        f"<depth>3</depth></size>{objs}</annotation>"
    )


def make_voc(root: Path, n_images: int = 12, seed: int = 0, duplicates: bool = True) -> Path:
    """Images 160x120 (BGR JPEG); each face a flat colour by class, ~30 px, one box sticks out of the frame."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for i in range(n_images):
        img = np.full((120, 160, 3), 90, np.uint8)
        objects = []
        if i != n_images - 1:  # the last image has no faces
            for j in range(2):
                name = CLASSES[(i + j) % 3] if i % 4 else CLASSES[0]
                x, y = 10 + 70 * j + int(rng.integers(0, 10)), 20 + int(rng.integers(0, 20))
                box = (x, y, x + 30, y + 36)
                img[box[1] : box[3], box[0] : box[2]] = COLORS[name]
                objects.append((name, box))
            if i == 0:
                objects.append(("without_mask", (150, 100, 175, 130)))  # partly outside: clipped
        cv2.imwrite(str(root / "images" / f"img{i}.jpg"), img)
        (root / "annotations" / f"img{i}.xml").write_text(voc_xml(f"img{i}", 160, 120, objects))
    if duplicates:
        (root / "DUPLICATES.txt").write_text("# pairs\nimg1.jpg\timg2.jpg\n")
    return root
