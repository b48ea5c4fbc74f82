"""`maskdet batch`: the pipeline over an archive of photos and videos, on Ray Data, from a laptop to a cluster.

The per-frame work is `Pipeline.__call__` and the per-video work is `maskdet.video.process_video` (tracking,
people counts), the very functions `maskdet detect` and `detect_video.py` run; this module only finds the
sources, spreads them over workers and writes what comes back.

Work units: each video is one unit, handled whole by one worker (ByteTrack ids, smoothed labels and people
counts need every frame in order: chunks would need their tracks stitched at the borders), and photos go
`images_per_task` to a unit. Ray Data rows are units; a pool of actors (`BatchWorker`, the pipeline loaded
once each) maps them; the driver commits each finished unit as it arrives.

Output folder:
    faces/part-*.parquet     one row per face (`FACE_SCHEMA`); read the folder as one Parquet dataset
    sources/part-*.jsonl     one summary per source of the same part, written after the Parquet: the commit
    summary.json             the run's table: every source, its status and counts, and totals
    annotated/               with `annotate`: drawn photos (.jpg) and videos (.mp4)
Files are written under a hidden temporary name and renamed, so a killed job leaves no half-written file
that a reader sees, and a part without its sources file (killed between the two renames) is removed at
the next start. `resume` skips every source already committed with the same path, size and mtime.

Ray is optional (`pip install "maskdet[scale]"`); `workers=0` runs the same units in this process.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from maskdet.presets import LIVE, PHOTO
from maskdet.results import Faces, compliance

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
LIST_EXTS = frozenset({".txt", ".lst", ".list"})
COLUMNS = ("key", "source", "frame", "time", "x1", "y1", "x2", "y2", "score", "label", "label_score", "track_id")
INSTALL_HINT = 'maskdet batch runs on Ray, which is not installed: pip install "maskdet[scale]"'
CPU_PER_THREAD = 0.5  # logical CPUs an actor asks Ray for per thread: see `actor_options`


def face_schema():
    """The Parquet schema of `faces/`: one row per face; `time` and `track_id` are null for photos."""
    import pyarrow as pa

    f32 = pa.float32()
    return pa.schema(
        [
            ("key", pa.string()),  # the source's key (path + size + mtime): rows of a file since changed differ
            ("source", pa.string()),
            ("frame", pa.int64()),  # 0 for photos
            ("time", pa.float64()),  # seconds from the start of the video
            ("x1", f32),
            ("y1", f32),
            ("x2", f32),
            ("y2", f32),
            ("score", f32),  # face detector confidence
            ("label", pa.string()),  # with_mask, without_mask, mask_worn_incorrectly or unknown
            ("label_score", f32),
            ("track_id", pa.int64()),  # person number in the video; -1 until a track is confirmed
        ]
    )


# ---------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """One photo or video to process, identified by path, size and modification time."""

    path: str  # absolute local path or a URI (s3://, gs://, file://, ...)
    kind: str  # "image" or "video"
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """What `resume` matches on: a changed file (other size or mtime) is a new source."""
        return hashlib.sha1(f"{self.path}\0{self.size}\0{self.mtime_ns}".encode()).hexdigest()[:20]


def _kind(path: str) -> str | None:
    ext = os.path.splitext(path.split("?", 1)[0])[1].lower()
    return "image" if ext in IMAGE_EXTS else "video" if ext in VIDEO_EXTS else None


def _is_uri(spec: str) -> bool:
    head, sep, _ = spec.partition("://")
    return bool(sep) and head.isalnum() and len(head) > 1  # not a Windows drive letter


def _local_source(path: Path, explicit: bool) -> Source | None:
    kind = _kind(path.name)
    if kind is None:
        if explicit:
            raise ValueError(
                f"{str(path)!r} is neither a photo ({', '.join(sorted(IMAGE_EXTS))}) nor a video "
                f"({', '.join(sorted(VIDEO_EXTS))}); list files end in {', '.join(sorted(LIST_EXTS))}"
            )
        return None
    st = path.stat()
    return Source(str(path.resolve()), kind, st.st_size, st.st_mtime_ns)


def _uri_sources(uri: str) -> Iterator[Source]:
    """Every photo and video at a storage URI that pyarrow can list (a file or a prefix, recursively)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(uri)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"nothing at {uri!r}: check the URI and the credentials")
    scheme = uri.split("://", 1)[0]
    infos = [info] if info.type == pafs.FileType.File else fs.get_file_info(pafs.FileSelector(root, recursive=True))
    for item in sorted(infos, key=lambda i: i.path):
        kind = _kind(item.path) if item.type == pafs.FileType.File else None
        if kind is not None:
            mtime = item.mtime_ns if item.mtime_ns is not None else 0
            yield Source(
                f"{scheme}://{item.path.lstrip('/') if scheme != 'file' else item.path}", kind, item.size, mtime
            )


def _expand(spec: str, base: Path, seen_lists: set[Path]) -> Iterator[Source]:
    if _is_uri(spec):
        yield from _uri_sources(spec)
        return
    path = (base / spec).expanduser() if not os.path.isabs(os.path.expanduser(spec)) else Path(spec).expanduser()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and (src := _local_source(p, explicit=False)) is not None:
                yield src
    elif path.is_file() and path.suffix.lower() in LIST_EXTS:
        if path.resolve() in seen_lists:
            raise ValueError(f"list file {str(path)!r} includes itself")
        seen_lists.add(path.resolve())
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):  # relative entries are relative to the list file
                yield from _expand(line, path.parent, seen_lists)
    elif path.is_file():
        yield _local_source(path, explicit=True)  # type: ignore[misc]
    elif glob.has_magic(str(path)):
        for p in sorted(glob.glob(str(path), recursive=True)):
            if os.path.isfile(p) and (src := _local_source(Path(p), explicit=False)) is not None:
                yield src
    else:
        raise FileNotFoundError(f"source not found: {spec!r} (expected a folder, a glob, a list file or a URI)")


def find_sources(specs: Iterable[str | Path]) -> list[Source]:
    """Photos and videos from folders (recursive), globs, list files (one source per line) and URIs.

    Raises:
        FileNotFoundError: a source that does not exist.
        ValueError: a named file that is neither a photo nor a video, or nothing found at all.
    """
    specs = [str(s) for s in specs]
    found: dict[str, Source] = {}
    for spec in specs:
        for src in _expand(spec, Path.cwd(), set()):
            found.setdefault(src.path, src)
    if not found:
        raise ValueError(
            f"no photos or videos found in {specs}; supported: {', '.join(sorted(IMAGE_EXTS | VIDEO_EXTS))}"
        )
    return list(found.values())


def plan_units(sources: Sequence[Source], images_per_task: int = 8) -> list[list[Source]]:
    """Work units: one per video (longest work first, so the tail is short), photos `images_per_task` a unit."""
    if images_per_task < 1:
        raise ValueError(f"images_per_task must be at least 1, but got {images_per_task}")
    videos = sorted((s for s in sources if s.kind == "video"), key=lambda s: -s.size)
    images = [s for s in sources if s.kind == "image"]
    return [[v] for v in videos] + [images[i : i + images_per_task] for i in range(0, len(images), images_per_task)]


# -------------------------------------------------------------------------------------- per source work


@dataclass(frozen=True)
class BatchSettings:
    """What every worker needs to build its pipelines; plain values, so it pickles to any node.

    Photos run the photo setting (`imgsz` + `zoom` + `flip`, as `maskdet detect`), videos the live one
    (`video_imgsz`, one pass, as `detect_video.py`).
    """

    detector: str | None = None
    classifier: str | None = None
    face_threshold: float = PHOTO.face_threshold
    label_threshold: float = 0.0
    imgsz: int = PHOTO.imgsz
    zoom: int | None = None
    flip: bool = False
    video_imgsz: int = LIVE.imgsz
    track: bool = True
    annotate_dir: str | None = None

    def pipelines(self):
        """(photo pipeline, video pipeline), sharing one detector and one classifier."""
        from maskdet.pipeline import Pipeline

        photo = Pipeline.from_pretrained(
            self.detector,
            self.classifier,
            face_threshold=self.face_threshold,
            label_threshold=self.label_threshold,
            imgsz=self.imgsz,
            zoom=self.zoom,
            flip=self.flip,
        )
        return photo, replace(photo.with_preset(LIVE), imgsz=self.video_imgsz)


def face_columns(key: str, source: str, faces: Sequence[Faces], fps: float | None = None) -> dict[str, list]:
    """Rows (as columns, `COLUMNS` order) for the faces of consecutive frames; times when `fps` is given."""
    out: dict[str, list] = {name: [] for name in COLUMNS}
    for i, f in enumerate(faces):
        n = len(f)
        if not n:
            continue
        out["key"] += [key] * n
        out["source"] += [source] * n
        out["frame"] += [i] * n
        out["time"] += [None if fps is None else round(i / fps, 6)] * n
        for j, name in enumerate(("x1", "y1", "x2", "y2")):
            out[name] += f.boxes[:, j].tolist()
        out["score"] += f.scores.tolist()
        out["label"] += f.labels
        out["label_score"] += f.label_scores.tolist()
        out["track_id"] += [None] * n if f.track_ids is None else f.track_ids.tolist()
    return out


@contextlib.contextmanager
def _local_copy(source: Source) -> Iterator[str]:
    """A local path for `source`: itself, or a temporary download of a URI (OpenCV reads files only)."""
    if not _is_uri(source.path):
        yield source.path
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(source.path)
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(path)[1], prefix="maskdet-batch-")
    try:
        with os.fdopen(fd, "wb") as out, fs.open_input_stream(path) as stream:
            while chunk := stream.read(1 << 22):
                out.write(chunk)
        yield tmp
    finally:
        os.unlink(tmp)


def _annotated_path(folder: str, source: Source, ext: str) -> Path:
    stem = Path(source.path.split("?", 1)[0]).stem[:80]
    return Path(folder) / f"{stem}-{source.key[:8]}{ext}"


def _replace_into(tmp: Path, final: Path) -> None:
    if tmp.is_file():
        os.replace(tmp, final)


def _process_image(pipe, source: Source, path: str, annotate_dir: str | None) -> tuple[dict, dict]:
    from maskdet.io.images import load_image

    frame = load_image(path)
    faces = pipe(frame)
    counts = faces.counts()
    summary = {
        "width": frame.shape[1],
        "height": frame.shape[0],
        "faces": len(faces),
        "faces_per_label": counts,
        "compliance": compliance(counts),
    }
    if annotate_dir:
        import cv2

        from maskdet.annotate import draw

        final = _annotated_path(annotate_dir, source, ".jpg")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp.jpg")
        if not cv2.imwrite(str(tmp), draw(frame, faces)):
            raise OSError(f"cannot write {str(final)!r} (disk full or not writable?)")
        _replace_into(tmp, final)
        summary["annotated"] = str(final)
    return face_columns(source.key, source.path, [faces]), summary


def _process_video(pipe, source: Source, path: str, settings: BatchSettings) -> tuple[dict, dict]:
    from maskdet.video import open_source, process_video

    src = open_source(path)
    fps = src.fps
    frames: list[Faces] = []
    final = tmp = None
    if settings.annotate_dir:
        final = _annotated_path(settings.annotate_dir, source, ".mp4")
        tmp = final.with_name(f".{final.name}.tmp.mp4")
    try:
        summary = process_video(
            pipe, src, tmp, track=settings.track, on_frame=lambda _annotated, faces: frames.append(faces)
        )
        if summary["stopped"] == "interrupted":  # Ctrl-C inside process_video: not a finished video
            raise KeyboardInterrupt
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    if final is not None:
        final.parent.mkdir(parents=True, exist_ok=True)
        _replace_into(tmp, final)
        summary["output"] = str(final)
    summary["source"] = source.path
    return face_columns(source.key, source.path, frames, fps=fps), summary


def process_source(photo, video, source: Source, settings: BatchSettings) -> dict[str, Any]:
    """One source through the pipeline: {"key", "faces": columns, "summary": dict}; failures are reported
    in the summary (status "error", the reason) with no rows, never raised: one bad file stops nothing."""
    from maskdet._errors import brief

    start = time.perf_counter()
    head = {"source": source.path, "kind": source.kind, "key": source.key, "size": source.size}
    head["mtime_ns"] = source.mtime_ns
    try:
        with _local_copy(source) as path:
            if source.kind == "image":
                columns, summary = _process_image(photo, source, path, settings.annotate_dir)
            else:
                columns, summary = _process_video(video, source, path, settings)
        summary = {**head, "status": "ok", **summary}
    except (ValueError, OSError) as e:  # unreadable, corrupt, truncated, unwritable: the message says which
        columns, summary = face_columns(source.key, source.path, []), {**head, "status": "error", "error": str(e)}
    except Exception as e:  # a model or library failure on this one input
        columns, summary = face_columns(source.key, source.path, []), {**head, "status": "error", "error": brief(e)}
    summary["seconds"] = round(time.perf_counter() - start, 3)
    summary["worker"] = f"{socket.gethostname()}:{os.getpid()}"  # which node and process did it
    return {"key": source.key, "faces": columns, "summary": summary}


class BatchWorker:
    """The map_batches callable: loads the pipelines once per actor, then runs whole units.

    Args:
        settings: models and thresholds.
        threads: onnxruntime (and torch) threads for this actor; actors x threads should equal the cores.
    """

    def __init__(self, settings: BatchSettings, threads: int = 1) -> None:
        from maskdet._env import configure_offline

        configure_offline()
        self.settings = settings
        before = os.environ.get("MASKDET_THREADS")
        os.environ["MASKDET_THREADS"] = str(max(1, int(threads)))  # read once, when the sessions are built
        try:
            self.photo, self.video = settings.pipelines()
        finally:  # in-process runs (workers=0) leave the caller's setting as it was
            if before is None:
                del os.environ["MASKDET_THREADS"]
            else:
                os.environ["MASKDET_THREADS"] = before

    def run(self, unit: Sequence[Source]) -> list[dict[str, Any]]:
        return [process_source(self.photo, self.video, s, self.settings) for s in unit]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        """A batch of units (column "unit": JSON lists of sources) -> one row per source (JSON columns)."""
        out: dict[str, list] = {"key": [], "faces": [], "summary": []}
        for text in batch["unit"]:
            for rec in self.run([Source(**s) for s in json.loads(str(text))]):
                out["key"].append(rec["key"])
                out["faces"].append(json.dumps(rec["faces"]))
                out["summary"].append(json.dumps(rec["summary"]))
        return out


# ----------------------------------------------------------------------------------------------- output


def _atomic_write(final: Path, write: Callable[[Path], Any]) -> None:
    """Write through a hidden temporary file in the same folder and rename: readers see all or nothing."""
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def prepare_output(out: Path, resume: bool) -> dict[str, dict]:
    """Create the folders, remove what a killed run left half-done, return committed summaries by key.

    Raises:
        ValueError: `out` holds results already and `resume` is False.
    """
    faces_dir, sources_dir = out / "faces", out / "sources"
    if not resume and sources_dir.is_dir() and any(sources_dir.glob("part-*.jsonl")):
        raise ValueError(f"{str(out)!r} already holds batch results: pass --resume to continue, or an empty --output")
    for folder in (faces_dir, sources_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (faces_dir, sources_dir, out / "annotated"):
        for stale in folder.glob(".*.tmp*"):  # temporary files of a killed run
            stale.unlink(missing_ok=True)
    committed = {p.stem for p in sources_dir.glob("part-*.jsonl")}
    for part in faces_dir.glob("part-*.parquet"):
        if part.stem not in committed:  # killed between the two renames of a commit
            part.unlink()
    return load_summaries(out)


def load_summaries(out: Path) -> dict[str, dict]:
    """Every committed source summary by key, the latest commit winning (a retried failure)."""
    found: dict[str, dict] = {}
    for part in sorted((out / "sources").glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            if line.strip():
                summary = json.loads(line)
                found[summary["key"]] = summary
    return found


class Committer:
    """Writes each finished unit as one Parquet part and then its sources file (the commit)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.prefix = f"part-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.parts = 0

    def commit(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"{self.prefix}-{self.parts:06d}"
        self.parts += 1
        columns = {c: [v for r in records for v in r["faces"][c]] for c in COLUMNS}
        if columns["key"]:
            table = pa.Table.from_pydict(columns, schema=face_schema())
            _atomic_write(self.out / "faces" / f"{name}.parquet", lambda p: pq.write_table(table, p))
        lines = "".join(json.dumps(r["summary"]) + "\n" for r in records)
        _atomic_write(self.out / "sources" / f"{name}.jsonl", lambda p: p.write_text(lines))


def read_faces(out: str | Path):
    """The face rows of a batch output as one pyarrow Table, only those of each source's latest version."""
    import pyarrow.dataset as ds

    out = Path(out)
    keys = [s["key"] for s in json.loads((out / "summary.json").read_text())["sources"]]
    table = ds.dataset(out / "faces", format="parquet", schema=face_schema()).to_table()
    return table.filter(ds.field("key").isin(keys))


def summarize(sources: Sequence[Source], summaries: dict[str, dict], **extra: Any) -> dict[str, Any]:
    """The run's table: one short row per source (in input order) and totals over those done."""
    rows = []
    faces: Counter[str] = Counter()
    people: Counter[str] = Counter()
    for src in sources:
        s = summaries.get(src.key)
        row: dict[str, Any] = {"source": src.path, "kind": src.kind, "key": src.key}
        if s is None:
            row["status"] = "pending"
        else:
            row.update(status=s["status"], faces=s.get("faces"), compliance=s.get("compliance"))
            if s["status"] != "ok":
                row["error"] = s.get("error")
            faces.update(s.get("faces_per_label") or {})
            if s.get("people") is not None:
                row["people"] = s["people_total"]
                people.update(s["people"])
            if src.kind == "video" and s["status"] == "ok":
                row["frames"] = s.get("frames")
        rows.append(row)
    status = Counter(r["status"] for r in rows)
    return {
        **extra,
        "sources_total": len(rows),
        "ok": status["ok"],
        "failed": status["error"],
        "pending": status["pending"],
        "faces": sum(faces.values()),
        "faces_per_label": dict(faces),
        "face_compliance": compliance(faces),
        "people_per_label": dict(people),
        "people_compliance": compliance(people),
        "sources": rows,
    }


def format_table(summary: dict[str, Any], limit: int = 40) -> str:
    """A plain-text table for the terminal: failures always, other rows up to `limit`."""
    rows = summary["sources"]
    shown = [r for r in rows if r["status"] != "ok"] + [r for r in rows if r["status"] == "ok"]
    shown = shown[: max(limit, sum(r["status"] != "ok" for r in rows))]
    lines = [f"{'status':7} {'kind':5} {'faces':>6} {'people':>6} {'compl.':>6}  source"]
    for r in shown:
        comp = "" if r.get("compliance") is None else f"{r['compliance']:.2f}"
        note = f"  ({r['error']})" if r.get("error") else ""
        faces = "" if r.get("faces") is None else r["faces"]
        people = r.get("people", "")
        lines.append(f"{r['status']:7} {r['kind']:5} {faces:>6} {people:>6} {comp:>6}  {r['source']}{note}")
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown)} more in summary.json")
    fc = summary["face_compliance"]
    lines.append(
        f"{summary['ok']} ok, {summary['failed']} failed, {summary['pending']} pending; {summary['faces']} faces "
        f"{dict(summary['faces_per_label'])}, compliance {'-' if fc is None else f'{fc:.2f}'}"
    )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- run


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return ray


def actor_options(threads: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ray resources per actor: `CPU_PER_THREAD` logical CPUs per thread (not a whole CPU) so that Ray
    Data's own tasks still get a slot: with whole CPUs, as many actors as cores leave none and the job
    hangs (seen on 2 cores). Ray Data spreads actors over the nodes by default. `extra` adds e.g. num_gpus."""
    return {"num_cpus": CPU_PER_THREAD * threads, **(extra or {})}


@dataclass
class BatchJob:
    """One `maskdet batch` run.

    Attributes:
        sources: folders, globs, list files or URIs.
        output: the output folder (must be shared by the driver only; with `annotate`, by the workers too).
        settings: models and thresholds for the workers.
        workers: actors; None: one per CPU of the cluster (at most one per unit); 0: no Ray, this process.
        threads: threads per actor; None: the cluster's CPUs / workers, so actors x threads = cores.
        address: None: a local Ray for this job; "auto" or "ray://host:port": an existing cluster.
        resume: skip sources already committed in `output` (same path, size and mtime).
        images_per_task: photos per work unit (each video is its own).
        runtime_env: Ray runtime_env for the job (e.g. {"pip": ["maskdet[scale]"]} on a bare cluster).
        actor_extra: more Ray options per actor, e.g. {"num_gpus": 1}.
    """

    sources: Sequence[str | Path]
    output: Path
    settings: BatchSettings = field(default_factory=BatchSettings)
    workers: int | None = None
    threads: int | None = None
    address: str | None = None
    resume: bool = False
    images_per_task: int = 8
    runtime_env: dict[str, Any] | None = None
    actor_extra: dict[str, Any] | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: no Ray), but got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, but got {self.threads}")


def _results_local(units: list[list[Source]], job: BatchJob) -> Iterator[list[dict]]:
    from maskdet._env import num_threads

    worker = BatchWorker(job.settings, job.threads or num_threads())
    for unit in units:
        yield worker.run(unit)


def _start_ray(job: BatchJob):
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs: dict[str, Any] = {"runtime_env": job.runtime_env, "log_to_driver": False}
    if job.address is None:  # a private local Ray on loopback for this job
        kwargs.update(include_dashboard=False, _node_ip_address="127.0.0.1")
    ray.init(address=job.address, **kwargs)
    return ray, True


def _results_ray(units: list[list[Source]], job: BatchJob) -> Iterator[list[dict]]:
    ray, started = _start_ray(job)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = min(job.workers or cpus, len(units))
        threads = job.threads or max(1, cpus // workers)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = job.progress
        ctx.execution_options.preserve_order = False  # commit units as they finish
        items = [{"unit": json.dumps([asdict(s) for s in unit])} for unit in units]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            BatchWorker,
            batch_size=1,
            batch_format="numpy",
            fn_constructor_kwargs={"settings": job.settings, "threads": threads},
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
            **actor_options(threads, job.actor_extra),
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            yield [
                {"key": k, "faces": json.loads(f), "summary": json.loads(s)}
                for k, f, s in zip(batch["key"], batch["faces"], batch["summary"], strict=True)
            ]
    finally:
        if started:
            ray.shutdown()


def run_batch(job: BatchJob, on_commit: Callable[[list[dict]], Any] | None = None) -> dict[str, Any]:
    """Find the sources, skip those done (with `resume`), run the rest, commit each unit as it finishes.

    Args:
        job: what to run and where.
        on_commit: called with each committed unit's records (progress hooks, tests).

    Returns:
        The run's table (`summarize`), also written to `output/summary.json`; with Ctrl-C what finished
        is committed and the summary written before KeyboardInterrupt goes on up.

    Raises:
        ImportError: Ray is missing (the message says what to install); FileNotFoundError / ValueError:
        bad sources, or an output folder holding results without `resume`.
    """
    start = time.perf_counter()
    if job.workers != 0:
        _import_ray()  # before any output is created
    sources = find_sources(job.sources)
    done = prepare_output(job.output, job.resume)
    ok = {k for k, s in done.items() if s["status"] == "ok"}
    todo = [s for s in sources if s.key not in ok]
    units = plan_units(todo, job.images_per_task)
    committer = Committer(job.output)
    results = _results_local if job.workers == 0 else _results_ray
    try:
        if units:
            for records in results(units, job):
                committer.commit(records)
                for r in records:
                    done[r["key"]] = r["summary"]
                    if r["summary"]["status"] != "ok":
                        print(f"failed: {r['summary']['source']}: {r['summary']['error']}", file=sys.stderr)
                if on_commit is not None:
                    on_commit(records)
    finally:
        summary = summarize(
            sources,
            done,
            output=str(job.output),
            skipped=len(sources) - len(todo),
            seconds=round(time.perf_counter() - start, 2),
        )
        _atomic_write(job.output / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
    return summary
