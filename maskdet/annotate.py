"""draw(frame, faces) -> annotated copy: boxes coloured per label, label + score, a count banner.

Line widths and text scale follow the frame width so the drawing stays legible from 320 px to 1920 px.
"""

from __future__ import annotations

import cv2
import numpy as np

from maskdet.boxes import expand_boxes
from maskdet.results import UNKNOWN, Faces, counts_text

# BGR
COLORS = {
    "with_mask": (80, 175, 76),  # green
    "without_mask": (54, 67, 244),  # red
    "mask_worn_incorrectly": (0, 152, 255),  # orange
    UNKNOWN: (158, 158, 158),  # grey
}
SHORT = {"with_mask": "mask", "without_mask": "no mask", "mask_worn_incorrectly": "incorrect"}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _scale(width: int) -> tuple[int, float]:
    """(line thickness, font scale) for a frame `width` pixels wide."""
    thickness = max(1, round(width / 480))
    return thickness, max(0.35, width / 1400)


def summary_text(faces: Faces) -> str:
    """'3 faces: 2 mask, 1 no mask' (zero counts left out)."""
    n = len(faces)
    return f"{n} face" + ("" if n == 1 else "s") + counts_text(faces.counts(), lead=": ", short=SHORT)


def blur_faces(frame: np.ndarray, faces: Faces, margin: float = 0.1) -> np.ndarray:
    """Pixelate every face in place (privacy); returns `frame`."""
    h, w = frame.shape[:2]
    for x1, y1, x2, y2 in expand_boxes(faces.boxes, margin, w, h):
        roi = frame[y1:y2, x1:x2]
        small = cv2.resize(roi, (max(1, (x2 - x1) // 8), max(1, (y2 - y1) // 8)), interpolation=cv2.INTER_AREA)
        frame[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return frame


def draw(frame: np.ndarray, faces: Faces, blur: bool = False, banner: bool = True, extra: str = "") -> np.ndarray:
    """Annotate a copy of a BGR frame.

    Args:
        frame: (H, W, 3) uint8 BGR; not modified.
        faces: what to draw.
        blur: pixelate faces first (privacy).
        banner: draw the count banner at the top.
        extra: text appended to the banner (e.g. "12.5 FPS").

    Returns:
        The annotated (H, W, 3) uint8 BGR copy.
    """
    out = frame.copy()
    if blur and len(faces):
        blur_faces(out, faces)
    h, w = out.shape[:2]
    thickness, font_scale = _scale(w)
    labels = faces.labels
    for i, (x1, y1, x2, y2) in enumerate(np.round(faces.boxes).astype(int)):
        color = COLORS.get(labels[i], COLORS[UNKNOWN])
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = SHORT.get(labels[i], labels[i])
        if labels[i] != UNKNOWN:
            text += f" {faces.label_scores[i]:.0%}"
        if faces.track_ids is not None and faces.track_ids[i] >= 0:  # -1: not (yet) a confirmed track
            text = f"#{faces.track_ids[i]} " + text
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, max(1, thickness - 1))
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(h - 1, y2 + th + base + 2)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + 1), color, -1)
        cv2.putText(
            out, text, (x1 + 1, ty - base + 1), FONT, font_scale, (255, 255, 255), max(1, thickness - 1), cv2.LINE_AA
        )
    if banner:
        text_strip(out, summary_text(faces) + (f"  |  {extra}" if extra else ""), 1.3)
    return out


def text_strip(frame: np.ndarray, text: str, size: float = 1.0, bottom: bool = False) -> np.ndarray:
    """Write white `text` on a dimmed strip at the top-left (the per-frame banner) or, with `bottom`, the
    bottom-left (the video's status bar) of `frame`, in place; `size` scales the font for the frame width.
    Returns `frame`."""
    h, w = frame.shape[:2]
    thickness, font_scale = _scale(w)
    scale = font_scale * size
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(3, th // 3)
    if bottom:
        strip, y = frame[max(0, h - th - base - 2 * pad) :, : min(w, tw + 2 * pad)], h - base - pad
    else:
        strip, y = frame[: th + base + 2 * pad, : min(w, tw + 2 * pad)], th + pad
    strip[:] = (strip * 0.35).astype(np.uint8)
    cv2.putText(frame, text, (pad, y), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return frame
