"""Synthetic masks drawn at YuNet landmarks: the way MaskedFace-Net was built.

Real `mask_worn_incorrectly` faces are rare (99 in the VOC set), so we draw masks onto maskless faces
in the ways real ones are worn: over nose and mouth (correct); and incorrectly: below the nose tip
(nose out), on the chin only, hanging from one ear (the other strap off: the mask swings down and
sideways, nose and half the mouth out) and pulled down under the chin onto the neck. Correct and
incorrect masks share colours and textures, so the classifier has to learn the placement, not the
look of a synthetic mask. Masks can instead be filled with real fabric, patches cut from the lower
face of real masked faces (`mask_patches`, `train.py crops --real-texture`); off by default, since it
cost precision on real faces (docs/classifier-v2.md). Low resolution, where real badly worn masks
mostly are, comes from the training-time degradation (`training.degrade`), applied to every source alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

PLACEMENTS = {
    "correct": "with_mask",
    "below_nose": "mask_worn_incorrectly",
    "chin": "mask_worn_incorrectly",
    "one_ear": "mask_worn_incorrectly",
    "under_chin": "mask_worn_incorrectly",
}
_PALETTE = [  # BGR: surgical blue, white, black, grey, navy, pink, khaki, red, green
    (225, 200, 150),
    (240, 240, 240),
    (30, 30, 30),
    (150, 150, 150),
    (90, 40, 20),
    (190, 170, 240),
    (130, 170, 190),
    (50, 50, 190),
    (80, 140, 60),
]


def detect_landmarks(detector: cv2.FaceDetectorYN, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The most confident face: (xyxy box (4,), landmarks (5, 2): right eye, left eye, nose, mouth right, left)."""
    h, w = image.shape[:2]
    detector.setInputSize((w, h))
    _, faces = detector.detect(image)
    if faces is None or not len(faces):
        return None
    best = faces[np.argmax(faces[:, -1])]
    x, y, bw, bh = best[:4]
    return np.array([x, y, x + bw, y + bh], np.float32), best[4:14].reshape(5, 2).astype(np.float32)


def yunet(model_path: str | Path, score: float = 0.6) -> cv2.FaceDetectorYN:
    return cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score, 0.3, 5000)


def mask_patches(images: Sequence[np.ndarray], detector: cv2.FaceDetectorYN, min_side: int = 40) -> list[np.ndarray]:
    """Real mask fabric: the lower middle of each masked face YuNet finds (rows 62-92%, columns 22-78%
    of its box), where a mask worn correctly is. Faces under `min_side` px give too few pixels.
    """
    patches = []
    for image in images:
        found = detect_landmarks(detector, image)
        if found is None:
            continue
        x1, y1, x2, y2 = found[0]
        w, h = x2 - x1, y2 - y1
        if min(w, h) < min_side:
            continue
        ih, iw = image.shape[:2]
        top, bottom = max(0, int(y1 + 0.62 * h)), min(ih, int(y1 + 0.92 * h))
        left, right = max(0, int(x1 + 0.22 * w)), min(iw, int(x1 + 0.78 * w))
        if bottom - top >= 8 and right - left >= 8:
            patches.append(image[top:bottom, left:right].copy())
    return patches


def mask_polygon(landmarks: np.ndarray, placement: str, rng: np.random.Generator) -> np.ndarray:
    """(K, 2) int32 outline of a mask in image pixels for one of PLACEMENTS."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {list(PLACEMENTS)}, but got {placement!r}")
    eye_r, eye_l, nose, mouth_r, mouth_l = landmarks
    eyes = (eye_r + eye_l) / 2
    mouth = (mouth_r + mouth_l) / 2
    across = eye_l - eye_r
    eye_dist = float(np.linalg.norm(across)) + 1e-6
    across /= eye_dist
    down = mouth - eyes
    d = float(np.linalg.norm(down)) + 1e-6
    down /= d
    chin = mouth + down * d * rng.uniform(0.75, 0.95)
    if placement in ("correct", "one_ear"):  # one_ear: a correct mask, then swung down from one ear (below)
        top = eyes + down * d * rng.uniform(0.3, 0.45)
    elif placement == "below_nose":
        top = nose + down * (np.dot(mouth - nose, down) * rng.uniform(0.2, 0.45))
    elif placement == "chin":
        top = mouth + down * d * rng.uniform(0.1, 0.25)
    else:  # under_chin: pulled down over the chin onto the neck, the mouth and lower lip free
        top = mouth + down * d * rng.uniform(0.55, 0.75)
        chin = chin + down * d * rng.uniform(0.35, 0.6)
    half_top = eye_dist * rng.uniform(0.95, 1.15)
    half_mid = eye_dist * rng.uniform(0.9, 1.05)
    mid = top + (chin - top) * (0.4 if placement == "chin" else 0.5)
    pts = [top - across * half_top, top + across * half_top * 0.5, top + across * half_top]  # slight peak at the nose
    if placement in ("correct", "one_ear"):
        pts[1] = top - down * d * 0.12
    pts += [mid + across * half_mid]
    for t in np.linspace(0, np.pi, 9)[1:-1]:  # rounded bottom around the chin
        pts.append(chin + across * half_mid * 0.75 * np.cos(t) + down * d * 0.12 * np.sin(t))
    pts += [mid - across * half_mid]
    pts = np.asarray(pts)
    if placement == "one_ear":  # the strap holds at one top corner; the free side drops 25-50 degrees
        side = int(rng.integers(2))
        pivot = pts[2 if side else 0]
        angle = np.deg2rad(rng.uniform(25, 50)) * (-1 if side else 1)  # the free side goes down
        c, s = np.cos(angle), np.sin(angle)
        # rotate in the face's own frame (across, down) so that a tilted face swings the same way
        rel = np.stack([(pts - pivot) @ across, (pts - pivot) @ down], axis=1)
        rel = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], axis=1)
        pts = pivot + rel[:, :1] * across + rel[:, 1:] * down
    return np.round(pts).astype(np.int32)


def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array(
        _PALETTE[rng.integers(len(_PALETTE))] if rng.random() < 0.8 else rng.integers(0, 256, 3), np.float32
    )
    tex = np.broadcast_to(base, (h, w, 3)).copy()
    kind = rng.integers(4)
    if kind == 1:  # pleats / stripes
        period = max(2, int(rng.integers(3, 9)))
        rows = (np.arange(h) // period) % 2 == 0
        tex[rows] *= rng.uniform(0.8, 0.95)
    elif kind == 2:  # fabric noise
        tex += rng.normal(0, 12, (h, w, 1))
    elif kind == 3:  # dots pattern in a second colour
        other = np.array(_PALETTE[rng.integers(len(_PALETTE))], np.float32)
        yy, xx = np.mgrid[0:h, 0:w]
        step = max(3, int(rng.integers(4, 10)))
        tex[((yy % step) < 2) & ((xx % step) < 2)] = other
    shade = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.1), w, dtype=np.float32)[None, :, None]
    return (tex * shade).clip(0, 255)


def _fabric(h: int, w: int, poly: np.ndarray, patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An (h, w, 3) float canvas with `patch` stretched over the polygon's bounding box (mirrored at random)."""
    x, y, bw, bh = cv2.boundingRect(poly.reshape(-1, 1, 2))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    tex = np.zeros((h, w, 3), np.float32)
    filled = cv2.resize(patch, (max(1, bw), max(1, bh)), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
    if x2 > x1 and y2 > y1:
        tex[y1:y2, x1:x2] = filled[y1 - y : y2 - y, x1 - x : x2 - x]
    return tex


def draw_mask(
    image: np.ndarray,
    landmarks: np.ndarray,
    placement: str,
    rng: np.random.Generator,
    patches: Sequence[np.ndarray] = (),
    real_share: float = 0.7,
) -> np.ndarray:
    """A copy of `image` (BGR) with a mask drawn at `placement`, edges softened, straps sometimes.

    With `patches` (from `mask_patches`), a `real_share` of masks are real fabric, lit as it was
    photographed; the rest, and all without patches, are drawn colours lit by the face's own light.
    """
    out = image.astype(np.float32)
    h, w = image.shape[:2]
    poly = mask_polygon(landmarks, placement, rng)
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [poly], 1.0, lineType=cv2.LINE_AA)
    k = max(1, round(min(h, w) / 80)) * 2 + 1
    alpha = cv2.GaussianBlur(alpha, (k, k), 0) * rng.uniform(0.9, 1.0)
    if len(patches) and rng.random() < real_share:
        tex = _fabric(h, w, poly, patches[int(rng.integers(len(patches)))], rng)
    else:
        tex = _texture(h, w, rng)
        light = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), max(2.0, w / 30))
        tex *= (0.6 + 0.4 * light / max(float(light.mean()), 1.0))[..., None].clip(0.5, 1.3)
    out = out * (1 - alpha[..., None]) + tex * alpha[..., None]
    if rng.random() < 0.5 or placement == "one_ear":  # ear straps; one_ear: only the one still on, at the pivot
        color = tuple(float(c) for c in tex[poly[0][1].clip(0, h - 1), poly[0][0].clip(0, w - 1)])
        thick = max(1, w // 60)
        straps = [(poly[0], poly[0] + (poly[0] - poly[2]) // 3), (poly[2], poly[2] + (poly[2] - poly[0]) // 3)]
        if placement == "one_ear":
            straps = [min(straps, key=lambda ab: ab[0][1])]  # the higher corner is the one that did not move
        for a, b in straps:
            cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), color, thick, cv2.LINE_AA)
    return out.clip(0, 255).astype(np.uint8)
