"""`maskdet batch` throughput: the plain sequential loop vs Ray with 1 and 2 actors, in the same run.

Photos (generated 640x480 scenes, 3 faces each) and videos (generated 640x480 clips) go through
`run_batch` three ways: `workers=0` (no Ray: the sequential loop in this process, every core as threads),
1 actor with every core as threads, and 2 actors with cores / 2 threads each (actors x threads = cores).
Configurations take turns over --repeats rounds, so the machine's slow spells are shared; figures are
medians. Throughput is measured in the steady state: from the moment every worker has committed its first
unit (models loaded, actors up) to the last commit, so actor start-up is reported apart, not averaged in.
A tiny set (160x120 photos, one per Ray task) gives Ray's overhead per item: the time per item at one
actor minus the sequential loop's.

    python benchmarks/batch.py                 # the full run (a few minutes on 2 cores)
    python benchmarks/batch.py --quick         # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maskdet._env import configure_offline  # noqa: E402
from maskdet.batch import BatchJob, BatchSettings, Committer, face_columns, run_batch  # noqa: E402
from maskdet.data.scenes import example_scene  # noqa: E402


def make_set(folder: Path, photos: int, videos: int, frames: int, size: tuple[int, int]) -> dict[str, Path]:
    """Generated photos and videos (moving scenes) in sub-folders of `folder`."""
    w, h = size
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    for i in range(photos):
        cv2.imwrite(str(folder / "photos" / f"p{i:04d}.jpg"), example_scene(i, w, h, 3))
    for v in range(videos):
        base = example_scene(100 + v, w, h, 3)
        writer = cv2.VideoWriter(str(folder / "videos" / f"v{v:03d}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
        for i in range(frames):
            writer.write(np.roll(base, 4 * i, axis=1))
        writer.release()
    return {"photos": folder / "photos", "videos": folder / "videos"}


def steady_rate(commits: list[tuple[float, int, str]]) -> float | None:
    """Items per second from the moment every worker committed once to the last commit."""
    first: dict[str, float] = {}
    for t, _n, worker in commits:
        first.setdefault(worker, t)
    start = max(first.values())
    items = sum(n for t, n, _w in commits if t > start)
    end = commits[-1][0]
    return items / (end - start) if end > start and items else None


def one_run(source: Path, out: Path, settings: BatchSettings, workers: int, threads: int, per_task: int) -> dict:
    commits: list[tuple[float, int, str]] = []

    def on_commit(records: list[dict]) -> None:
        n = sum(r["summary"].get("frames", 1) for r in records)  # frames for videos, 1 per photo
        commits.append((time.perf_counter(), n, records[0]["summary"]["worker"]))

    start = time.perf_counter()
    job = BatchJob([source], out, settings, workers=workers, threads=threads, images_per_task=per_task, progress=False)
    summary = run_batch(job, on_commit=on_commit)
    if summary["failed"] or summary["pending"]:
        raise RuntimeError(f"benchmark run failed: {summary['sources'][:3]}")
    return {
        "wall_s": time.perf_counter() - start,
        "startup_s": commits[0][0] - start,
        "rate": steady_rate(commits),
        "items": sum(n for _t, n, _w in commits),
    }


def commit_cost(folder: Path, units: int = 200, per_unit: int = 8, faces: int = 3) -> float:
    """Milliseconds the driver spends per unit (JSON decode + Parquet part + sources file): its ceiling."""
    from maskdet.results import Faces

    f = Faces(np.tile([[10, 10, 50, 60]], (faces, 1)), np.full(faces, 0.9)).with_labels(
        np.zeros(faces, int), np.tile([[0.8, 0.1, 0.1]], (faces, 1))
    )
    record = {"key": "k" * 20, "faces": face_columns("k" * 20, "/a/b.jpg", [f]), "summary": {"status": "ok"}}
    text = json.dumps(record)
    (folder / "faces").mkdir(parents=True)
    (folder / "sources").mkdir()
    committer = Committer(folder)
    start = time.perf_counter()
    for _ in range(units):
        committer.commit([json.loads(text) for _ in range(per_unit)])
    return 1000 * (time.perf_counter() - start) / units


def median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(a: argparse.Namespace) -> dict:
    import ray

    configure_offline()
    cores = a.cores or os.cpu_count() or 1
    half = max(1, cores // 2)
    configs = {  # name: (workers, threads per worker)
        f"sequential, {cores} threads": (0, cores),
        f"Ray, 1 actor x {cores} threads": (1, cores),
        f"sequential, {half} thread(s)": (0, half),
        f"Ray, 1 actor x {half} thread(s)": (1, half),
        f"Ray, 2 actors x {half} thread(s)": (2, half),
    }
    settings = BatchSettings(imgsz=a.imgsz, zoom=None, flip=False, video_imgsz=a.video_imgsz)
    tiny_settings = BatchSettings(imgsz=160, zoom=None, flip=False)
    ray.init(num_cpus=cores, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    results: dict = {name: {"photos": [], "videos": [], "tiny": []} for name in configs}
    try:
        with tempfile.TemporaryDirectory(prefix="maskdet-bench-") as tmp:
            root = Path(tmp)
            data = make_set(root / "data", a.photos, a.videos, a.frames, (640, 480))
            tiny = make_set(root / "tiny", a.tiny, 0, 0, (160, 120))["photos"]
            runs = 0
            for _ in range(a.repeats):
                for name, (workers, threads) in configs.items():
                    for kind, source, per_task, cfg in (
                        ("photos", data["photos"], a.per_task, settings),
                        ("videos", data["videos"], 1, settings),
                        ("tiny", tiny, 1, tiny_settings),
                    ):
                        runs += 1
                        r = one_run(source, root / f"out{runs}", cfg, workers, threads, per_task)
                        results[name][kind].append(r)
                        rate = r["rate"] or 0
                        print(f"{name:28} {kind:6} {rate:7.2f}/s  start-up {r['startup_s']:.1f} s", flush=True)
            commit_ms = commit_cost(root / "commit", per_unit=a.per_task)
    finally:
        ray.shutdown()
    table = {}
    for name, kinds in results.items():
        table[name] = {
            kind: {
                "rate": median([r["rate"] for r in rs]),
                "startup_s": median([r["startup_s"] for r in rs]),
                "wall_s": median([r["wall_s"] for r in rs]),
            }
            for kind, rs in kinds.items()
        }
    return {
        "cores": cores,
        "load_average": os.getloadavg(),
        "config": vars(a),
        "results": table,
        "driver_commit_ms_per_unit": commit_ms,
    }


def report(res: dict) -> str:
    names = list(res["results"])
    seq, one, seq_half, one_half, two = (res["results"][n] for n in names)
    lines = [
        f"{res['cores']} cores, load average at the end {res['load_average'][0]:.1f} (other work shares the CPU)",
        f"{'configuration':30} {'photos/s':>9} {'frames/s':>9} {'tiny/s':>8} {'start-up s':>11}",
    ]
    for name in names:
        r = res["results"][name]
        lines.append(
            f"{name:30} {r['photos']['rate'] or 0:9.2f} {r['videos']['rate'] or 0:9.2f} {r['tiny']['rate'] or 0:8.1f} "
            f"{r['photos']['startup_s']:11.1f}"
        )

    def ratio(a: dict, b: dict, kind: str) -> str:
        return f"{a[kind]['rate'] / b[kind]['rate']:.2f}x" if a[kind]["rate"] and b[kind]["rate"] else "-"

    def overhead(s: dict, r: dict, kind: str) -> str:
        return f"{100 * (s[kind]['rate'] / r[kind]['rate'] - 1):+.1f}%" if s[kind]["rate"] and r[kind]["rate"] else "-"

    for kind, label in (("photos", "photos"), ("videos", "video frames")):
        lines.append(
            f"{label}: 2 actors vs 1 actor with all threads {ratio(two, one, kind)}, vs 1 actor with as many threads "
            f"{ratio(two, one_half, kind)} (target >= 1.7); Ray overhead at 1 actor {overhead(seq, one, kind)} "
            f"(all threads), {overhead(seq_half, one_half, kind)} (half) (target <= 10%)"
        )
    if seq["tiny"]["rate"] and one["tiny"]["rate"]:
        per_item = 1000 * (1 / one["tiny"]["rate"] - 1 / seq["tiny"]["rate"])
        lines.append(
            f"tiny set: {1000 / seq['tiny']['rate']:.1f} ms/item sequential, {1000 / one['tiny']['rate']:.1f} ms/item "
            f"at 1 actor: Ray costs {per_item:.1f} ms per item (one task each)"
        )
    lines.append(
        f"driver: {res['driver_commit_ms_per_unit']:.1f} ms to commit a unit of {res['config']['per_task']} photos "
        "(its ceiling, whatever the cluster size)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/batch.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=40, help="640x480 photos")
    p.add_argument("--videos", type=int, default=6, help="640x480 videos")
    p.add_argument("--frames", type=int, default=30, help="frames per video")
    p.add_argument("--tiny", type=int, default=30, help="160x120 photos for the overhead per item")
    p.add_argument("--per-task", type=int, default=4, help="photos per Ray task")
    p.add_argument("--imgsz", type=int, default=640, help="photo detector size (one pass)")
    p.add_argument("--video-imgsz", type=int, default=320)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cores", type=int, default=None, help="CPUs given to Ray and the threads (default: all)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few items, one repeat")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.photos, a.videos, a.frames, a.tiny, a.repeats = 8, 2, 8, 6, 1
    res = run(a)
    print(report(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
