"""Load generation for the HTTP benchmark: `wrk` (a Python keep-alive loop where it is missing).

One `Load` per measurement: requests per second, p50 and p99 latency, requests and errors.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import HTTPConnection
from urllib.parse import urlsplit


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str
    # CPU the server's processes spent per request during the load: far less sensitive to
    # other load on a shared machine than requests per second.
    server_cpu_ms: float = 0.0


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> Load:
    duration = f"{max(1, round(seconds))}s"
    out = subprocess.run(
        [
            "wrk",
            f"-c{connections}",
            f"-t{threads}",
            f"-d{duration}",
            "--timeout",
            "30s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    p50 = _wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    p99 = _wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found[1])
    if found := re.search(r"Socket errors: (.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", found[1]))
    return Load(rps, p50, p99, total, errors, "wrk")


def run_python_load(url: str, seconds: float, connections: int) -> Load:
    """Keep-alive GET loop in threads: a stand-in for wrk where it is not installed."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                conn.request("GET", target)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    if not latencies:
        return Load(0.0, 0.0, 0.0, 0, errors[0], "python")
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    return Load(len(latencies) / elapsed, p50, p99, len(latencies), errors[0], "python")


def load(url: str, seconds: float, connections: int) -> Load:
    if shutil.which("wrk"):
        return run_wrk(url, seconds, connections, threads=2)
    return run_python_load(url, seconds, connections)


def combine(loads: list[Load]) -> Load:
    """Medians of several runs of one target (requests and errors summed)."""
    return Load(
        statistics.median(x.requests_per_s for x in loads),
        statistics.median(x.p50_ms for x in loads),
        statistics.median(x.p99_ms for x in loads),
        sum(x.requests for x in loads),
        sum(x.errors for x in loads),
        loads[0].tool,
        statistics.median(x.server_cpu_ms for x in loads),
    )


def fetch_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=300) as resp:
        return json.loads(resp.read())
