"""`maskdet batch`: Ray rows equal the sequential path, resume after an interrupted run, bad files reported.

One local Ray (2 CPUs, loopback) for the module; the bundled models over generated scenes and two short
generated videos, at the live detector size so the whole file stays well under a minute and a half.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_samples import write_video

from maskdet import cli
from maskdet.batch import (
    BatchJob,
    BatchSettings,
    Source,
    find_sources,
    plan_units,
    process_source,
    read_faces,
    run_batch,
)
from maskdet.data.scenes import example_scene
from maskdet.io.images import load_image
from maskdet.pipeline import Pipeline
from maskdet.video import process_video

SETTINGS = BatchSettings(imgsz=320, zoom=None, flip=False, video_imgsz=320)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'maskdet[scale]')")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """6 scenes (two in a sub-folder), 2 short videos of moving scenes, a corrupt photo, a broken video."""
    root = tmp_path_factory.mktemp("archive")
    (root / "day2").mkdir()
    for i in range(6):
        folder = root / "day2" if i >= 4 else root
        cv2.imwrite(str(folder / f"scene{i}.jpg"), example_scene(i, 320, 240, 3))
    for n, seed in ((12, 2), (10, 4)):
        base = example_scene(seed, 320, 240, 3)
        write_video(root / f"walk{seed}.avi", [np.roll(base, 3 * i, axis=1) for i in range(n)], fps=10.0)
    (root / "corrupt.jpg").write_bytes(b"not a valid image")
    (root / "broken.mp4").write_bytes(b"\x00" * 2048)
    (root / "notes.md").write_text("not a source: skipped inside folders")
    return root


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.from_pretrained(imgsz=320)


def _rows(table) -> dict[str, list[tuple]]:
    """Face rows grouped per source, in frame order then box order."""
    out: dict[str, list[tuple]] = {}
    for r in sorted(table.to_pylist(), key=lambda r: (r["source"], r["frame"], r["x1"], r["y1"])):
        out.setdefault(r["source"], []).append(r)
    return out


def _expected(pipe, archive: Path) -> dict[str, list[dict]]:
    """The sequential path, called directly: `Pipeline` per photo, `process_video` per video."""
    out: dict[str, list[dict]] = {}
    for path in sorted(archive.rglob("scene*.jpg")):
        faces = pipe(load_image(path))
        pairs = zip(faces.boxes, faces.labels, strict=True)
        out[str(path)] = [{"frame": 0, "box": b, "label": lab, "track_id": None} for b, lab in pairs]
    for path in sorted(archive.glob("walk*.avi")):
        frames = []
        process_video(pipe, path, on_frame=lambda _img, faces, frames=frames: frames.append(faces))
        out[str(path)] = [
            {"frame": i, "box": b, "label": lab, "track_id": int(t)}
            for i, f in enumerate(frames)
            for b, lab, t in zip(f.boxes, f.labels, f.track_ids, strict=True)
        ]
    return {k: sorted(v, key=lambda r: (r["frame"], float(r["box"][0]), float(r["box"][1]))) for k, v in out.items()}


@pytest.mark.slow
def test_ray_rows_equal_the_sequential_path(ray_local, archive, pipe, tmp_path):
    summary = run_batch(BatchJob([archive], tmp_path / "ray", SETTINGS, workers=2, images_per_task=2))
    got = _rows(read_faces(tmp_path / "ray"))
    expected = _expected(pipe, archive)
    assert sum(map(len, expected.values())) > 20  # real faces found: the comparison below has teeth
    assert set(got) == {k for k, v in expected.items() if v}
    for source, rows in expected.items():
        assert len(got.get(source, [])) == len(rows), source
        for g, e in zip(got.get(source, []), rows, strict=True):
            assert g["frame"] == e["frame"] and g["label"] == e["label"] and g["track_id"] == e["track_id"]
            np.testing.assert_allclose([g["x1"], g["y1"], g["x2"], g["y2"]], e["box"], atol=1e-3)
    videos = [r for r in summary["sources"] if r["kind"] == "video" and r["status"] == "ok"]
    assert len(videos) == 2 and all(r["people"] >= 1 for r in videos)
    # a corrupt photo and a broken video are reported, each on its own row, and stopped nothing
    status = {Path(r["source"]).name: r for r in summary["sources"]}
    assert "not a readable image" in status["corrupt.jpg"]["error"] and status["corrupt.jpg"]["status"] == "error"
    assert "broken.mp4" in status["broken.mp4"]["error"] and status["broken.mp4"]["status"] == "error"
    assert (summary["ok"], summary["failed"], summary["pending"]) == (8, 2, 0)
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["failed"] == 2
    # the in-process runner (workers=0) writes the very same table
    run_batch(BatchJob([archive], tmp_path / "seq", SETTINGS, workers=0))
    assert _rows(read_faces(tmp_path / "seq")) == got


@pytest.mark.slow
def test_resume_after_an_interrupted_run_redoes_nothing_finished(ray_local, archive, tmp_path):
    out = tmp_path / "out"
    job = BatchJob([archive], out, SETTINGS, workers=2, images_per_task=1)
    first: list[str] = []

    def interrupt(records):  # Ctrl-C on the driver once a source is done
        first.extend(r["key"] for r in records)
        if any(r["summary"]["status"] == "ok" for r in records):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(job, on_commit=interrupt)
    partial = json.loads((out / "summary.json").read_text())
    assert partial["pending"] > 0 and partial["ok"] + partial["failed"] == len(first)
    # what a kill between the two renames of a commit, or inside a write, would leave
    (out / "faces" / "part-killed-000000.parquet").write_bytes(b"PAR1 half a commit")
    (out / "faces" / ".part-x.parquet.tmp").write_bytes(b"half a file")
    with pytest.raises(ValueError, match="--resume"):
        run_batch(BatchJob([archive], out, SETTINGS, workers=2))

    second: list[str] = []
    job.resume = True
    summary = run_batch(job, on_commit=lambda records: second.extend(r["key"] for r in records))
    ok_first = {r["key"] for r in partial["sources"] if r["status"] == "ok"}
    assert ok_first and not ok_first & set(second)  # finished sources were not redone
    assert summary["pending"] == 0 and summary["ok"] == 8 and summary["skipped"] == len(ok_first)
    assert not list(out.rglob(".*.tmp*")) and not (out / "faces" / "part-killed-000000.parquet").exists()
    rows = read_faces(out).to_pylist()
    keys = [(r["source"], r["frame"], r["x1"], r["y1"]) for r in rows]
    assert len(keys) == len(set(keys)) and {r["source"] for r in rows} == {
        r["source"] for r in summary["sources"] if r["faces"]
    }


def test_cli_batch_in_process_and_the_used_output_refusal(archive, tmp_path, capsys):
    args = ["batch", str(archive / "scene1.jpg"), str(archive / "corrupt.jpg"), "--output", str(tmp_path / "o")]
    flags = ["--workers", "0", "--imgsz", "320", "--zoom", "0", "--no-flip", "--quiet"]
    assert cli.main(args + flags) == 1  # one source failed, the other was done
    out = capsys.readouterr().out
    assert "1 ok, 1 failed" in out and "corrupt.jpg" in out
    assert cli.main(args + flags) == 2 and "--resume" in capsys.readouterr().err
    assert cli.main([*args, *flags, "--resume"]) == 1  # the failure is retried, the photo skipped
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["skipped"] == 1


def test_without_ray_one_line_says_what_to_install(monkeypatch, archive, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert cli.main(["batch", str(archive), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "maskdet[scale]"' in err
    assert not (tmp_path / "o").exists()


def test_maskdet_and_its_cli_do_not_import_ray():
    code = "import sys, maskdet, maskdet.cli, maskdet.batch\nassert 'ray' not in sys.modules, 'ray imported'\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_find_sources_takes_folders_globs_list_files_and_uris(archive, tmp_path):
    everything = find_sources([archive])
    names = sorted(Path(s.path).name for s in everything)
    scenes = [f"scene{i}.jpg" for i in range(6)]
    assert names == sorted([*scenes, "walk2.avi", "walk4.avi", "corrupt.jpg", "broken.mp4"])
    assert [s.kind for s in find_sources([archive / "walk2.avi"])] == ["video"]
    assert len(find_sources([str(archive / "**" / "scene*.jpg")])) == 6
    listing = tmp_path / "list.txt"
    listing.write_text(f"# a comment\n\n{archive / 'walk4.avi'}\n{archive / 'day2'}\nfile://{archive / 'scene0.jpg'}\n")
    found = find_sources([listing, archive / "walk4.avi"])  # duplicates once
    assert [Path(s.path).name for s in found] == ["walk4.avi", "scene4.jpg", "scene5.jpg", "scene0.jpg"]
    assert found[-1].path.startswith("file:///")
    with pytest.raises(FileNotFoundError, match="nope"):
        find_sources([tmp_path / "nope"])
    with pytest.raises(ValueError, match="neither a photo"):
        find_sources([archive / "notes.md"])


def test_a_changed_file_is_a_new_source_and_videos_are_units_of_their_own():
    a = Source("/x/a.jpg", "image", 10, 1)
    assert a.key != Source("/x/a.jpg", "image", 10, 2).key != Source("/x/a.jpg", "image", 11, 1).key
    units = plan_units([a, Source("/v.avi", "video", 5, 0), a, Source("/w.avi", "video", 9, 0), a], 2)
    assert [[s.path for s in u] for u in units] == [["/w.avi"], ["/v.avi"], ["/x/a.jpg"] * 2, ["/x/a.jpg"]]


def test_ctrl_c_inside_a_video_is_not_a_finished_video(archive, tmp_path):
    """process_video turns Ctrl-C into a summary ('interrupted'); batch must not commit that video as done."""
    from maskdet.results import Faces

    def interrupted(frame):
        raise KeyboardInterrupt

    path = archive / "walk2.avi"
    source = Source(str(path), "video", path.stat().st_size, path.stat().st_mtime_ns)
    settings = BatchSettings(annotate_dir=str(tmp_path / "annotated"))
    with pytest.raises(KeyboardInterrupt):
        process_source(None, interrupted, source, settings)
    assert not list((tmp_path / "annotated").glob("*"))  # no half-written video either

    def crashed(frame):
        raise RuntimeError("model crashed")

    record = process_source(None, crashed, source, settings)  # on the first frame: its own reason, not another
    assert record["summary"]["status"] == "error" and "model crashed" in record["summary"]["error"]
    record = process_source(None, lambda frame: Faces.empty(), source, settings)
    assert record["summary"]["status"] == "ok" and record["summary"]["frames"] == 12
    assert [p.suffix for p in (tmp_path / "annotated").iterdir()] == [".mp4"]
