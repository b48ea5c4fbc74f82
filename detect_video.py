"""Face-mask detection on a webcam, a video file or a stream, with tracking, counts, events and a summary.

    python detect_video.py --source 0                                  # webcam in a window; q or Esc quits
    python detect_video.py --source in.mp4 --output out.mp4 --events events.jsonl --summary summary.json
    python detect_video.py --source rtsp://host/stream --no-display --events events.jsonl   # Ctrl-C stops

The work happens in `maskdet.video`; the flags, window and progress bar in `maskdet.video_cli`.
"""

from __future__ import annotations

import sys

from maskdet.video_cli import Window, build_parser, has_display, main, parse_line, progress_bar, run, warnings

__all__ = ["Window", "build_parser", "has_display", "main", "parse_line", "progress_bar", "run", "warnings"]

if __name__ == "__main__":
    sys.exit(main())
