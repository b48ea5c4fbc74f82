"""Image loading at the boundary: anything a user hands us -> one (H, W, 3) uint8 BGR array.

Decoding goes through Pillow so that EXIF orientation, palette, CMYK, 16-bit and alpha images all
come out right, and a decompression bomb is refused from its header before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; beyond that an upload is a bomb or a mistake, not a photo
MAX_BYTES = 50 * 1024 * 1024
MIN_SIDE = 8  # nothing smaller can hold a face

ImageInput = str | os.PathLike | bytes | bytearray | Image.Image | np.ndarray


def _check_size(width: int, height: int, what: str) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValueError(f"{what} is {width}x{height} pixels; images must be at least {MIN_SIDE}x{MIN_SIDE}")
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {MAX_PIXELS:,}; resize it first"
        )


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):  # Pillow's 32-bit "I" mode and friends: scale by the max
        hi = max(int(arr.max()), 1)
        return (arr.astype(np.float64) * (255.0 / (65535 if hi > 255 else 255))).clip(0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float64))
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        return (arr * scale).clip(0, 255).astype(np.uint8)
    raise ValueError(f"unsupported array dtype {arr.dtype}; pass uint8, uint16 or float images")


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    """Composite on white: transparent regions become background, not random colour."""
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def pil_to_bgr(img: Image.Image, what: str = "image") -> np.ndarray:
    """Any Pillow image (any mode, EXIF-rotated, first frame of an animation) -> uint8 BGR."""
    _check_size(*img.size, what)
    try:
        img.seek(0)
    except (EOFError, AttributeError):
        pass
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not cost the user the picture
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _to_uint8(np.asarray(img))
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or img.mode == "RGBA":
        img = _flatten_alpha(img.convert("RGBA"))
    elif img.mode != "RGB":
        img = img.convert("RGB")
    rgb = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


_HEIF = False


def _open(fp):
    """Pillow's own `Image.open` (ultralytics replaces it with one that tries to pip-install pi-heif),
    with HEIC/HEIF (phone photos) registered once via pi-heif when it is installed."""
    global _HEIF
    if not _HEIF:
        try:
            from pi_heif import register_heif_opener

            register_heif_opener()
        except ImportError:
            pass
        _HEIF = True
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)(fp)


def _decode(data: bytes | io.BufferedIOBase, what: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = _open(data if not isinstance(data, bytes) else io.BytesIO(data))
            _check_size(*img.size, what)  # before decoding a single pixel
            img.load()
            return pil_to_bgr(img, what)
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"{what} is over the limit of {MAX_PIXELS:,} pixels: a decompression bomb? ({e})") from e
    except UnidentifiedImageError as e:  # Pillow's own text repeats the file object's repr
        raise ValueError(f"{what} is not a readable image (not JPEG, PNG, WebP, GIF, BMP, TIFF or HEIC data)") from e
    except (OSError, SyntaxError, EOFError, IndexError, TypeError) as e:  # truncated or corrupt data
        raise ValueError(f"{what} is corrupt or truncated and cannot be decoded ({e})") from e


def array_to_bgr(arr: np.ndarray, what: str = "array") -> np.ndarray:
    """An array in BGR (or gray, or BGRA) order -> contiguous uint8 BGR."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"{what} must have shape (H, W), (H, W, 3) or (H, W, 4), but got {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], what)
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def load_image(src: ImageInput) -> np.ndarray:
    """Load an image from a path, bytes, a PIL image or an array.

    Args:
        src: file path, encoded bytes, `PIL.Image.Image`, or an array already in BGR order
            ((H, W), (H, W, 3) or (H, W, 4); uint8, uint16 or float in [0, 1]).

    Returns:
        (H, W, 3) uint8 BGR array, EXIF orientation applied.

    Raises:
        ValueError: empty, corrupt, truncated, too small or too large input (the message says which).
        FileNotFoundError: a path that does not exist.
    """
    if isinstance(src, np.ndarray):
        return array_to_bgr(src)
    if isinstance(src, Image.Image):
        return pil_to_bgr(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ValueError("image data is empty (0 bytes)")
        if len(data) > MAX_BYTES:
            raise ValueError(f"image data is {len(data):,} bytes, over the limit of {MAX_BYTES:,}")
        return _decode(data, "image data")
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {str(path)!r}")
        size = path.stat().st_size
        if size == 0:
            raise ValueError(f"image file {str(path)!r} is empty (0 bytes)")
        if size > MAX_BYTES:
            raise ValueError(f"image file {str(path)!r} is {size:,} bytes, over the limit of {MAX_BYTES:,}")
        with open(path, "rb") as f:
            return _decode(f, f"image file {str(path)!r}")
    raise ValueError(f"cannot load an image from {type(src).__name__}; pass a path, bytes, a PIL image or an array")


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[..., ::-1])


def rgb_to_bgr(frame: Any) -> np.ndarray:
    """RGB from Gradio/PIL at the edge -> BGR inside the package (same validation as `load_image`)."""
    if isinstance(frame, Image.Image):
        return pil_to_bgr(frame)
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = np.concatenate([arr[..., 2::-1], arr[..., 3:]], axis=2)
    return array_to_bgr(arr)
