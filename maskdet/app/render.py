"""What the app shows and hands out: result JSON, counts line, faces table, video summary, downloads.

Handlers keep the `Faces` of a frame; this module turns it into the JSON the endpoints return (the
edge where Gradio needs plain data), and turns that JSON back into the page's table, text and files
(Gradio passes a result between events as the JSON component's value).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from maskdet.annotate import COLORS
from maskdet.io.export import face_rows, write_rows
from maskdet.results import Faces, VideoSummary, compliance

HEX_COLOURS = {label: "#{2:02x}{1:02x}{0:02x}".format(*bgr) for label, bgr in COLORS.items()}  # as the boxes
TABLE_HEADERS = ["#", "label", "label conf.", "face conf.", "x1", "y1", "x2", "y2"]
MODEL_CARD_URL = "https://github.com/maskdet/maskdet/blob/main/model_card.md"
STOPPED_TEXT = {
    "stop": "**stopped early**",
    "max_frames": "**stopped at this app's length limit**",
    "truncated": "**the file ended early** (cut short or corrupt): the frames before are annotated",
}


# ------------------------------------------------------------------------------------- endpoint JSON


def image_result(faces: Faces, width: int, height: int, inference_ms: float) -> dict[str, Any]:
    """/detect_image's JSON: the faces, counts, compliance, the photo's size and the model's time."""
    return {
        **faces.to_dict(),
        "compliance": compliance(faces.counts()),
        "width": width,
        "height": height,
        "inference_ms": round(inference_ms, 1),
    }


def frame_result(
    faces: Faces,
    fps: float,
    latency_ms: float,
    frame: int,
    people: dict[str, int] | None,
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """/detect_frame's JSON: the faces, counts, compliance, the stream's FPS, people and new events."""
    return {
        **faces.to_dict(),
        "compliance": compliance(faces.counts()),
        "fps": round(fps, 2),
        "latency_ms": round(latency_ms, 1),
        "frame": frame,
        "tracking": people is not None,
        "people": people,
        "events": events,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)  # Path and anything else


def video_json(summary: VideoSummary) -> str:
    """/detect_video's JSON text: the summary without its server paths (source, output)."""
    data = {k: v for k, v in summary.to_dict().items() if k not in ("source", "output")}
    return json.dumps(data, indent=1, default=_jsonable)


# ------------------------------------------------------------------------------------- the page


def table_rows(rows: list[dict[str, Any]]) -> list[list]:
    """The Faces table (one row per face: id, label, confidences, box) from `export.face_rows` rows."""
    return [
        [
            r["face"] + 1 if r["track_id"] is None else r["track_id"],
            *(r[k] for k in ("label", "label_score", "score", "x1", "y1", "x2", "y2")),
        ]
        for r in rows
    ]


def counts_markdown(result: dict) -> str:
    """'**3 faces** · 🟢 2 with mask · 🔴 1 without mask · ...' with the compliance rate."""
    if not isinstance(result, dict) or "counts" not in result:
        return ""
    marks = {k: f'<span style="color:{c}">●</span>' for k, c in HEX_COLOURS.items()}
    n = result.get("num_faces", 0)
    parts = [f"**{n} face{'' if n == 1 else 's'}**"]
    parts += [f"{marks.get(k, '')} {v} {k.replace('_', ' ')}" for k, v in result["counts"].items()]
    rate = result.get("compliance")
    if rate is not None:
        parts.append(f"**{rate:.0%}** wearing a mask correctly")
    return " · ".join(parts)


def video_plot_rows(summary: dict) -> list[dict[str, Any]]:
    """% of faces per label, one row per label and second (seconds without a face left out)."""
    labels = list(summary.get("faces_per_label") or {})
    rows = []
    for row in summary.get("timeline") or []:
        total = sum(row.get(k, 0) for k in labels)
        if total > 0:
            rows += [
                {"time (s)": row["time"], "label": k, "% of faces": round(100 * row.get(k, 0) / total, 1)}
                for k in labels
            ]
    return rows


def video_markdown(summary: dict) -> str:
    """One line under the video: frames, faces, people, compliance, events, speed and why it stopped."""
    text = [
        f"**{summary['frames']} frames** ({summary.get('duration_s', 0):.1f} s at {summary.get('fps', 0):.0f} FPS)",
        f"{summary.get('faces', 0)} face detections",
    ]
    people = summary.get("people")
    if isinstance(people, dict):
        text.append(
            f"**{sum(people.values())} people**" + "".join(f", {v} {k.replace('_', ' ')}" for k, v in people.items())
        )
    rate = summary.get("compliance")
    if isinstance(rate, (int, float)):
        text.append(f"**{rate:.0%}** of {summary.get('compliance_basis', 'faces')} wearing a mask correctly")
    if summary.get("events"):
        text.append(f"{len(summary['events'])} violation events")
    if summary.get("processing_fps"):
        text.append(f"processed at {summary['processing_fps']:.1f} FPS")
    stopped = summary.get("stopped")
    if stopped in STOPPED_TEXT:
        text.append(STOPPED_TEXT[stopped])
    if summary.get("skipped_frames"):
        text.append(f"{summary['skipped_frames']} corrupt frames skipped")
    return " · ".join(text)


def about_markdown(info: dict) -> str:
    """A short summary: the two models, how they run, one headline figure each, licences, the full card."""
    if not info.get("loaded"):
        return f"### Models not loaded\n\n{info.get('error', '')}"
    det, clf = info["detector"], info["classifier"]
    zoom = f" plus a {det['zoom']} px pass for small faces" if det.get("zoom") else ""
    mirrored = (" (both also mirrored)" if zoom else " (also mirrored)") if det.get("flip") else ""
    lines = [
        f"### maskdet {info['version']}",
        "",
        f"- **Face detector** (YOLOv8n): `{det['source']}`, input {det['imgsz']} px for photos{zoom}{mirrored}, "
        f"{det.get('live_imgsz')} px for the webcam and videos.",
    ]
    ap, m = det.get("face_ap50") or {}, det.get("metrics") or {}
    if ap.get("photo") is not None:
        live = f", {ap['live']:.3f} as the webcam runs" if ap.get("live") is not None else ""
        lines.append(f"  Face AP50 {ap['photo']:.3f} as photos run{live} (validation split, 138 photos).")
    elif m.get("map50") is not None:
        lines.append(
            f"  Validation mAP50 {float(m['map50']):.3f} for the class face (ultralytics' own validation at "
            f"{m.get('imgsz', 640)} px, one pass: lower than the photo setting's face AP)."
        )
    else:
        lines.append("  No metrics file beside this model.")
    lines.append(
        f"- **Mask classifier** (`{clf['architecture']}`): `{clf['source']}`, input "
        f"{clf['input_size'][1]}x{clf['input_size'][0]}, labels {', '.join(clf['labels'])}."
    )
    if m := clf.get("metrics"):
        lines.append(
            f"  Accuracy {m.get('accuracy', 0):.3f}, macro-F1 {m.get('macro_f1', 0):.3f} on the validation face crops."
        )
    else:
        lines.append("  No metrics file beside this model.")
    lines += [
        "",
        "Both bundled models are trained by this project on CPU. Code and models: AGPL-3.0 (ultralytics). "
        "Training photos: Face Mask Detection (CC0) and Face-Mask-Detection crops (MIT, research use). "
        "Example photos: CC0, from the validation split.",
        "",
        f"Data, training commands, every figure and the limitations: [model_card.md]({MODEL_CARD_URL}).",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- downloads


def write_image_downloads(result: dict, folder: Path) -> tuple[list[dict[str, Any]], Path, Path]:
    """The result JSON and a CSV of one row per face in `folder`; (the rows, JSON path, CSV path)."""
    json_path, csv_path = folder / "maskdet_result.json", folder / "maskdet_faces.csv"
    rows = face_rows(result, source="upload")
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    write_rows(rows, csv_path=csv_path)
    return rows, json_path, csv_path


def write_video_downloads(text: str, timeline_rows: list[list[Any]], csv_path: Path, json_path: Path) -> None:
    """The timeline as CSV (`VideoSummary.to_csv_rows`: one row a second) and the summary JSON text as a file."""
    with csv_path.open("w", newline="") as f:
        csv.writer(f).writerows(timeline_rows)
    json_path.write_text(text + "\n")
