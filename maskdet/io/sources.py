"""What `maskdet detect` takes, as `yolo predict source=` does: files, folders, globs, videos, cameras, URLs.

`expand_sources` turns the command line's words into a flat, ordered list of `Source`s; nothing is
opened here. Images go through `load_image`; videos, camera indexes and stream URLs go to the video
engine (`maskdet.video.process_video`), which says in one line what is wrong with a source it cannot open.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts", ".asf", ".flv")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_GLOB = re.compile(r"[*?[]")


@dataclass(frozen=True)
class Source:
    """One thing to run on.

    Attributes:
        kind: "image", "video" (a file), "camera" (an index or /dev/video*) or "url" (a stream or a remote
            video, read by FFmpeg). A file that does not exist keeps the kind of its extension: the loader
            says it is missing.
        target: the path, index or URL as given (folders and globs are already expanded).
    """

    kind: str
    target: str

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "camera", "url")


def _file_kind(path: Path) -> str:
    """Videos by extension; everything else is tried as an image (load_image says if it is not one)."""
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def _in_folder(folder: Path) -> list[Source]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    return [Source(_file_kind(p), str(p)) for p in files]


def expand_source(text: str) -> list[Source]:
    """One command-line word -> its sources, in a stable (sorted) order.

    A digit string is a camera index, `scheme://...` a URL, an existing folder its images and videos (not
    recursive), a pattern with `*`, `?` or `[` a glob (`**` recursive), anything else a file.

    Raises:
        ValueError: a folder or a glob with no image or video in it; the message names it.
    """
    text = str(text).strip()
    if text.isdigit() or text.startswith("/dev/video"):
        return [Source("camera", text)]
    if _URL.match(text):
        return [Source("url", text)]
    path = Path(text).expanduser()
    if path.is_dir():
        found = _in_folder(path)
        if not found:
            raise ValueError(
                f"folder {text!r} holds no image or video (looked for {', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})"
            )
        return found
    if path.exists() or not _GLOB.search(text):
        return [Source(_file_kind(path), text)]
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
    found = [Source(_file_kind(p), str(p)) for p in matches if p.is_file()]
    if not found:
        raise ValueError(f"the pattern {text!r} matches no file (quote it so that the shell does not expand it)")
    return found


def expand_sources(texts: list[str]) -> list[Source]:
    """Every word of the command line, expanded in order (see `expand_source`); duplicates kept."""
    return [source for text in texts for source in expand_source(text)]
