"""Load test: N concurrent clients on the /detect_image endpoint for a fixed time.

Each client uploads an image, calls /detect_image and reads the result (docs/http-api.md's curl flow, over
httpx), again and again. The script starts `python app.py` itself on a free 127.0.0.1 port unless
--url is given, and always stops it (SIGTERM, then kill) however the run ends. It prints a table and
writes JSON: throughput, p50/p95 latency, errors, "busy" answers (the queue's 503) and the server's
memory (RSS) after a warm-up request and at the end.

    python benchmarks/load.py                                  # 8 clients, 60 s, bundled models
    python benchmarks/load.py --short                          # 2 clients, 5 s: a smoke test
    python benchmarks/load.py --url http://127.0.0.1:7860 --pid 1234
    python benchmarks/load.py --short -- --detector det.pt --imgsz 320   # after --: flags for app.py

Exit status 0 when every request was answered (a result or "busy"), the server is still up and its
memory grew less than --max-growth percent; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Tally:
    """What the clients saw; one lock for all of them (a few hundred updates a second at most)."""

    latencies: list[float] = field(default_factory=list)
    busy: int = 0
    busy_answer: str = ""  # the first one, to show what a refused client reads
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def refused(self, answer: str) -> None:
        with self.lock:
            self.busy += 1
            self.busy_answer = self.busy_answer or answer

    def failed(self, why: str) -> None:
        with self.lock:
            self.errors.append(why)


class Busy(Exception):
    """The server's queue was full (HTTP 503): the answer overload should get."""


def detect_image(client: Any, url: str, image: Path, timeout: float) -> dict:
    """One upload + /detect_image call + its result, as docs/http-api.md's curl example; returns the result JSON."""
    with image.open("rb") as f:
        uploaded = client.post(f"{url}/gradio_api/upload", files={"files": f}, timeout=timeout)
    if uploaded.status_code == 503:
        raise Busy(uploaded.text)
    uploaded.raise_for_status()
    payload = {"data": [{"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}, 0.35, 0.0, False]}
    started = client.post(f"{url}/gradio_api/call/detect_image", json=payload, timeout=timeout)
    if started.status_code == 503 or "Queue is full" in started.text:
        raise Busy(started.text)
    started.raise_for_status()
    stream = client.get(f"{url}/gradio_api/call/detect_image/{started.json()['event_id']}", timeout=timeout)
    event = None
    for line in stream.text.splitlines():
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event in ("complete", "error"):
            data = json.loads(line[6:])
            if event == "error":
                message = (data or {}).get("error") if isinstance(data, dict) else data
                if "queue is full" in str(message).lower():
                    raise Busy(str(message))
                raise RuntimeError(f"error event: {message}")
            return data[1]
    raise RuntimeError(f"no result in the event stream (HTTP {stream.status_code}): {stream.text[-200:]!r}")


def client_loop(url: str, image: Path, deadline: float, tally: Tally, timeout: float) -> None:
    import httpx

    with httpx.Client() as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                detect_image(client, url, image, timeout)
            except Busy as e:
                tally.refused(str(e)[:300])
                time.sleep(0.05)  # a real client backs off a little
                continue
            except Exception as e:
                tally.failed(f"{type(e).__name__}: {e}"[:300])
                continue
            tally.ok(time.perf_counter() - t0)


def rss(pid: int | None) -> int | None:
    """Resident memory of the server process and its children, bytes (None when unknown or gone)."""
    if pid is None:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    except psutil.Error:
        return None


def alive(pid: int | None) -> bool | None:
    if pid is None:
        return None
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Server:
    """`python app.py` on a free 127.0.0.1 port, its output in `folder/server.log`; always stopped at the end.

    Used as a context manager here and by the tests (tests/app_server.py), which keep one for a session.

    Args:
        app_args: flags for app.py (models, limits, queue size).
        startup_timeout: seconds to wait for the app to answer.
        env: extra environment variables for the app.
        folder: where the log goes (default: a temporary folder, deleted on exit).
    """

    def __init__(
        self,
        app_args: list[str],
        startup_timeout: float = 300.0,
        env: dict[str, str] | None = None,
        folder: Path | None = None,
    ) -> None:
        self.app_args, self.startup_timeout, self.env = list(app_args), startup_timeout, env or {}
        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="maskdet-load-")) if folder is None else folder
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> Server:
        """Start app.py and wait until /gradio_api/info answers; RuntimeError with the log if it does not."""
        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), *self.app_args]
        env = {**os.environ, **self.env}
        with (self.folder / "server.log").open("w") as log:
            self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"app.py exited with status {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/gradio_api/info", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app.py did not answer within {self.startup_timeout:.0f} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, chars: int = 3000) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (app.py shuts down like on Ctrl-C and deletes its temporary files), then kill; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        import shutil

        self.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def default_image(folder: Path) -> Path:
    """A generated 640x480 scene with three drawn faces (the app's own examples; no photo is shipped)."""
    import cv2

    from maskdet.data.scenes import example_scene

    path = folder / "scene.jpg"
    cv2.imwrite(str(path), example_scene(0, 640, 480, 3), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def load_phase(
    url: str, image: Path, clients: int, seconds: float, timeout: float, pid: int | None = None
) -> tuple[Tally, float, list[dict[str, float]]]:
    """`clients` threads for `seconds`: (what they saw, wall seconds, server RSS about once a second)."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(url, image, deadline, tally, timeout), daemon=True)
        for _ in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    timeline = []
    while any(t.is_alive() for t in threads):
        timeline.append({"t": round(time.perf_counter() - t0, 1), "rss_mb": _mb(rss(pid)), "ok": len(tally.latencies)})
        time.sleep(1.0)
    return tally, time.perf_counter() - t0, timeline


def run(
    url: str,
    pid: int | None,
    image: Path,
    clients: int,
    seconds: float,
    warmup: float = 0.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Warm up (one request, or `warmup` seconds of the same load), then measure `clients` for `seconds`."""
    import httpx

    with httpx.Client() as client:
        detect_image(client, url, image, timeout)  # first inference, buffers, caches: not part of the figures
    if warmup > 0:  # every client's first requests, the queue's threads and buffers at this concurrency
        load_phase(url, image, clients, warmup, timeout)
    rss_before = rss(pid)
    tally, wall, timeline = load_phase(url, image, clients, seconds, timeout, pid)
    rss_after = rss(pid)
    samples = [rss_before or 0] + [round((row["rss_mb"] or 0) * 2**20) for row in timeline]
    lat = sorted(tally.latencies)
    growth = None if not (rss_before and rss_after) else 100.0 * (rss_after - rss_before) / rss_before
    return {
        "url": url,
        "image": str(image),
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": len(lat) + tally.busy + len(tally.errors),
        "ok": len(lat),
        "busy": tally.busy,
        "busy_answer": tally.busy_answer,
        "errors": len(tally.errors),
        "error_samples": sorted(set(tally.errors))[:5],
        "throughput_rps": round(len(lat) / wall, 2) if wall else None,
        "latency_ms": {
            "p50": _ms(percentile(lat, 50)),
            "p95": _ms(percentile(lat, 95)),
            "max": _ms(lat[-1] if lat else None),
        },
        "warmup_s": warmup,
        "server_rss_mb": {"before": _mb(rss_before), "after": _mb(rss_after), "peak": _mb(max(samples) or None)},
        "rss_growth_pct": None if growth is None else round(growth, 1),
        "server_alive": alive(pid),
        "server_pid": pid,
        "timeline": timeline,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _mb(size: int | None) -> float | None:
    return None if not size else round(size / 2**20, 1)


def table(report: dict[str, Any]) -> str:
    lat, mem = report["latency_ms"], report["server_rss_mb"]
    rows = [
        ("clients x seconds", f"{report['clients']} x {report['seconds']:g} s"),
        (
            "requests (ok / busy / errors)",
            f"{report['requests']} ({report['ok']} / {report['busy']} / {report['errors']})",
        ),
        ("throughput", f"{report['throughput_rps']} images/s"),
        ("latency p50 / p95 / max", f"{lat['p50']} / {lat['p95']} / {lat['max']} ms"),
        ("server RSS before / after / peak", f"{mem['before']} / {mem['after']} / {mem['peak']} MB"),
        ("RSS growth", f"{report['rss_growth_pct']} %"),
        ("server alive at the end", str(report["server_alive"])),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    app_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="load.py", description="Concurrent clients against /detect_image.")
    p.add_argument("--url", default=None, help="an app already running (default: start app.py here)")
    p.add_argument("--pid", type=int, default=None, help="with --url: the server's process id, for its memory")
    p.add_argument("--clients", type=int, default=None, help="concurrent clients (default 8; 2 with --short)")
    p.add_argument("--seconds", type=float, default=None, help="how long (default 60; 5 with --short)")
    p.add_argument("--short", action="store_true", help="a smoke run: 2 clients for 5 s")
    p.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds of the same load before memory is measured (default: 1 request)",
    )
    p.add_argument("--image", type=Path, default=None, help="image to send (default: a generated scene)")
    p.add_argument("--json", type=Path, default=ROOT / "runs" / "load.json", help="where to write the report")
    p.add_argument("--max-growth", type=float, default=10.0, help="memory growth (%%) that still passes")
    p.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for app.py to answer")
    a = p.parse_args(argv)
    a.clients = a.clients or (2 if a.short else 8)
    a.seconds = a.seconds or (5.0 if a.short else 60.0)
    if a.clients < 1 or a.seconds <= 0:
        p.error("--clients must be at least 1 and --seconds positive")
    if a.url and app_args:
        p.error("flags after -- are for the app.py this script starts; with --url there is none")
    return a, app_args


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    a, app_args = parse_args(argv)
    sys.path.insert(0, str(ROOT))  # this checkout's maskdet, for the generated image
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm)  # killed from outside: still stop the server
    with tempfile.TemporaryDirectory(prefix="maskdet-load-") as tmp:
        image = a.image or default_image(Path(tmp))
        try:
            if a.url:
                report = run(a.url.rstrip("/"), a.pid, image, a.clients, a.seconds, a.warmup)
            else:
                with Server(app_args, a.startup_timeout) as server:
                    report = run(server.url, server.process.pid, image, a.clients, a.seconds, a.warmup)
                    report["server_log_tail"] = server.log(1500) if report["errors"] else ""
        except KeyboardInterrupt:
            print("interrupted; the server was stopped", file=sys.stderr)
            return 130
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    report["app_args"] = app_args
    print(table(report))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {a.json}")
    growth_ok = report["rss_growth_pct"] is None or report["rss_growth_pct"] < a.max_growth
    return 0 if report["errors"] == 0 and report["server_alive"] is not False and growth_ok else 1


if __name__ == "__main__":
    sys.exit(main())
