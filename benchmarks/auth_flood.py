"""Authenticated scrape latency while clients with wrong passwords hammer the exporter.

The exporter serves the embedded demo with basic auth on a cost-12 bcrypt hash (the cost
`htpasswd -B -C 12` and exporter-toolkit's docs use). Measured: 40 authenticated scrapes
alone, then 40 while 8 threads send wrong passwords (a new one each request) as fast as
they are answered, and how long a wrong password takes for a known and an unknown user.
Bounded: loopback only, 8 flood threads, about 40 s in all.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.exporter import authorization, basic_auth_users
from harness.process import Peer, free_port

COST = 12
FLOODERS = 8
SCRAPES = 40


def _get(url: str, user: str, password: str, timeout: float = 30) -> int:
    request = urllib.request.Request(url)
    request.add_header("Authorization", authorization(user, password))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def _latencies(url: str, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        status = _get(url, "prometheus", "scrape-pass")
        out.append(time.perf_counter() - started)
        assert status == 200, status
        time.sleep(0.05)
    return out


def _summary(values: list[float]) -> str:
    values = sorted(values)
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        web = tmp / "web.yml"
        web.write_text(basic_auth_users("scrape-pass", cost=COST))
        port = free_port()
        exporter = Peer(
            "exporter-auth",
            [
                sys.executable,
                "-m",
                "exporter",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.config.file={web}",
            ],
            tmp,
        )
        url = f"http://127.0.0.1:{port}/metrics"
        exporter.wait_ready(lambda: _get(url, "x", "y") == 401, timeout=30)
        try:
            quiet = _latencies(url, SCRAPES)

            def wrong(user: str) -> float:
                started = time.perf_counter()
                assert _get(url, user, os.urandom(8).hex()) == 401
                return time.perf_counter() - started

            known = statistics.median(wrong("prometheus") for _ in range(5))
            unknown = statistics.median(wrong("nobody") for _ in range(5))

            stop = threading.Event()
            answers: dict[int, int] = {}
            lock = threading.Lock()

            def flood() -> None:
                while not stop.is_set():
                    status = _get(url, "prometheus", os.urandom(8).hex(), timeout=10)
                    with lock:
                        answers[status] = answers.get(status, 0) + 1

            threads = [threading.Thread(target=flood, daemon=True) for _ in range(FLOODERS)]
            for thread in threads:
                thread.start()
            time.sleep(1)
            flooded = _latencies(url, SCRAPES)
            stop.set()
            for thread in threads:
                thread.join(15)
        finally:
            exporter.stop()
    print(f"auth flood (bcrypt cost {COST}, {FLOODERS} wrong-password clients, loopback)")
    print(f"  authenticated scrapes, quiet:   {_summary(quiet)}")
    print(f"  authenticated scrapes, flooded: {_summary(flooded)}")
    print(f"  wrong password, known user:   {known * 1000:.0f} ms")
    print(f"  wrong password, unknown user: {unknown * 1000:.0f} ms")
    print(f"  flood answers: {dict(sorted(answers.items()))}")


if __name__ == "__main__":
    main()
