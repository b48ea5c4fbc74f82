"""Bad input files, made small and on the fly: each case of the README's "Bad input and faults" table.

`IMAGES` and `VIDEOS` map a case name to a function folder -> path. Images are tiny except where the
case is about size (the bomb only claims 20000x20000 in its header).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from video_samples import write_video


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims width x height (a decompression bomb's signature)."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def truncated(fmt: str) -> bytes:
    """The first half of a 200x200 noise image: decoders run out of data mid-image."""
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)), fmt)
    return data[: len(data) // 2]


def _scene(w: int = 96, h: int = 72) -> np.ndarray:
    """RGB with some structure (a gradient and a square), so every format has something to encode."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
    img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (200, 40, 40)
    return img


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _pil(name: str, fmt: str, make_image: Callable[[], Image.Image], **kwargs) -> Callable[[Path], Path]:
    return lambda folder: _write(name, encode(make_image(), fmt, **kwargs))(folder)


def _png16(folder: Path) -> Path:
    path = folder / "deep.png"
    cv2.imwrite(str(path), (_scene()[..., ::-1].astype(np.uint16) * 257))  # 16 bits per channel, colour
    return path


def _gif(folder: Path) -> Path:
    frames = [Image.fromarray(_scene()), Image.fromarray(_scene()[::-1].copy())]
    path = folder / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


IMAGES: dict[str, Callable[[Path], Path]] = {
    "0-byte file": _write("empty.jpg", b""),
    "text renamed .jpg": _write("notes.jpg", b"Meeting notes: bring masks.\n" * 20),
    "truncated JPEG": _write("cut.jpg", truncated("JPEG")),
    "truncated PNG": _write("cut.png", truncated("PNG")),
    "decompression bomb (20000x20000 PNG)": _write("bomb.png", png_with_size(20000, 20000)),
    "1x1 image": _pil("dot.png", "PNG", lambda: Image.new("RGB", (1, 1), (9, 9, 9))),
    "16-bit PNG": _png16,
    "CMYK JPEG": _pil("cmyk.jpg", "JPEG", lambda: Image.fromarray(_scene()).convert("CMYK"), quality=95),
    "grayscale": _pil("gray.png", "PNG", lambda: Image.fromarray(_scene()).convert("L")),
    "RGBA": _pil("alpha.png", "PNG", lambda: Image.fromarray(_scene()).convert("RGBA")),
    "animated GIF": _gif,
}


def _frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    w, h = size
    return [np.full((h, w, 3), 20 + 4 * i, np.uint8) for i in range(n)]


def _no_frames(folder: Path) -> Path:
    return write_video(folder / "no_frames.avi", [], fps=10)


def _truncated_mp4(folder: Path) -> Path:
    path = write_video(folder / "cut.mp4", _frames(30), fps=10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov atom) is at the end: gone
    return path


def _audio_only(folder: Path) -> Path:
    """An AAC track in an .m4a, no video (PyAV, a dependency of supervision, writes it)."""
    import av

    path = folder / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        tone = (np.sin(np.arange(1024) / 5) * 3000).astype(np.int16)[None]
        for _ in range(10):
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.rate = 16000
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _long(folder: Path) -> Path:
    return write_video(folder / "long.mp4", _frames(30), fps=2)  # 15 s, a few KB


def _huge(folder: Path) -> Path:
    return write_video(folder / "huge.avi", _frames(2, (4000, 2200)), fps=10)  # over 3840x2160


VIDEOS: dict[str, Callable[[Path], Path]] = {
    "0-byte video": _write("empty.mp4", b""),
    "text renamed .mp4": _write("notes.mp4", b"not a video\n" * 50),
    "video with no frames": _no_frames,
    "truncated mp4": _truncated_mp4,
    "audio-only file": _audio_only,
    "video over the duration limit (15 s)": _long,
    "video over the frame-size limit (4000x2200)": _huge,
}
