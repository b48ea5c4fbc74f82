"""Results as rows, one per face, for spreadsheets and log pipelines: JSON Lines and CSV.

The same flat row serves `maskdet detect --save-json/--save-csv` and the app's image downloads:
where the face came from (source, frame, time), what it is (label, scores, per-class probabilities),
where it is (box), and its track id in videos.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

from maskdet.results import LABELS

BASE_COLUMNS = ("source", "frame", "time", "face", "track_id", "label", "label_score", "score", "x1", "y1", "x2", "y2")


def face_rows(
    result: dict[str, Any], source: str = "", frame: int | None = None, time: float | None = None
) -> list[dict[str, Any]]:
    """`Faces.to_dict()` (or an API result) -> one flat dict per face.

    Args:
        result: {"faces": [{"box", "score", "label", "label_score", "probs", "track_id"?}, ...]}.
        source: the image, video or camera the faces came from.
        frame: the frame index in a video (None for a photo).
        time: seconds into the video (None for a photo).
    """
    rows = []
    for i, face in enumerate(result.get("faces", [])):
        x1, y1, x2, y2 = face["box"]
        row = {
            "source": source,
            "frame": frame,
            "time": time,
            "face": i,
            "track_id": face.get("track_id"),
            "label": face["label"],
            "label_score": face["label_score"],
            "score": face["score"],
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
        }
        row.update({f"p_{name}": p for name, p in face.get("probs", {}).items()})
        rows.append(row)
    return rows


def columns(names: tuple[str, ...] = LABELS) -> list[str]:
    """CSV header: the base columns, then one probability column per label."""
    return [*BASE_COLUMNS, *(f"p_{name}" for name in names)]


class RowWriter:
    """Append face rows to a JSON Lines file, a CSV file, or both, flushed per source.

    A context manager: both files are closed, and hold every row written, even when the run stops early.
    Either path may be None. The CSV header carries the default labels' probability columns; rows of
    a classifier with other labels keep their probabilities in the JSON Lines file.
    """

    def __init__(self, jsonl: str | Path | None = None, csv_path: str | Path | None = None) -> None:
        self._jsonl: TextIO | None = None
        self._csv: TextIO | None = None
        self._writer: csv.DictWriter | None = None
        self.rows = 0
        if jsonl is not None:
            self._jsonl = _open(jsonl)
        if csv_path is not None:
            self._csv = _open(csv_path)
            self._writer = csv.DictWriter(self._csv, fieldnames=columns(), extrasaction="ignore")
            self._writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if self._jsonl is not None:
                self._jsonl.write(json.dumps(row) + "\n")
            if self._writer is not None:
                self._writer.writerow(row)
        self.rows += len(rows)
        for f in (self._jsonl, self._csv):
            if f is not None:
                f.flush()

    def close(self) -> None:
        for f in (self._jsonl, self._csv):
            if f is not None:
                f.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: str | Path) -> TextIO:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", newline="")


def write_rows(rows: list[dict[str, Any]], jsonl: str | Path | None = None, csv_path: str | Path | None = None) -> None:
    """Write all `rows` at once (the app's downloads)."""
    with RowWriter(jsonl, csv_path) as writer:
        writer.write(rows)
