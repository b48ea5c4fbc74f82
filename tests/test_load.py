"""benchmarks/load.py in short runs: it starts the app, loads it, reports, and always stops it.

The full run (8 clients, 60 s, bundled models) is in the README; these use the tiny test models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest
from app_server import ROOT, tiny_classifier_folder, tiny_detector_file


@pytest.fixture(scope="module")
def app_args(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("load-models")
    detector, classifier = tiny_detector_file(folder / "det.pt"), tiny_classifier_folder(folder / "clf")
    return ["--detector", str(detector), "--classifier", str(classifier), "--imgsz", "320"]


def load(tmp_path, *flags: str, app_args: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env.update(TMPDIR=str(tmp_path / "tmp"), MASKDET_THREADS="1")
    cmd = [sys.executable, "benchmarks/load.py", *flags, "--json", str(tmp_path / "load.json"), "--", *app_args]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "load.json").read_text()) if (tmp_path / "load.json").is_file() else {}
    assert report, out.stdout + out.stderr[-3000:]
    assert not psutil.pid_exists(report["server_pid"])  # the server was stopped
    assert list((tmp_path / "tmp").iterdir()) == []  # and every temporary file is gone, the server's too
    return out, report


@pytest.mark.server
def test_short_run_reports_throughput_latency_and_memory(tmp_path, app_args):
    out, report = load(tmp_path, "--short", "--max-growth", "50", app_args=app_args)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert (report["clients"], report["errors"], report["busy"]) == (2, 0, 0)
    assert report["ok"] >= 2 and report["throughput_rps"] > 0 and report["server_alive"] is True
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["max"]
    assert report["server_rss_mb"]["before"] > 0 and report["rss_growth_pct"] is not None
    for words in ("throughput", "p50 / p95", "RSS growth"):
        assert words in out.stdout


@pytest.mark.server
def test_overload_gets_busy_answers_never_errors_or_a_crash(tmp_path, app_args):
    """Six clients against a queue of one: two run, one waits, the rest hear 'busy' (HTTP 503)."""
    out, report = load(
        tmp_path, "--clients", "6", "--seconds", "4", "--max-growth", "100", app_args=[*app_args, "--queue-size", "1"]
    )
    assert report["busy"] > 0 and report["ok"] > 0 and report["errors"] == 0, report
    assert "Queue is full" in report["busy_answer"]
    assert report["server_alive"] is True and out.returncode == 0


def test_flags_after_the_separator_need_a_server_of_our_own():
    cmd = [sys.executable, "benchmarks/load.py", "--url", "http://127.0.0.1:1", "--", "--imgsz", "320"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "with --url there is none" in out.stderr
