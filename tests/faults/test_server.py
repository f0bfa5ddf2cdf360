"""The process: listen errors, :0, exit within seconds of SIGTERM whatever the workers do,
and reload without restart."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from harness import exposition
from harness.exporter import Exporter, basic_auth_users, run_exporter, status
from harness.faults import fault_peer
from harness.process import free_port, http_ok, wait_until

pytestmark = pytest.mark.slow  # starts the exporter process


@contextlib.contextmanager
def exporter_process(
    log: Path, *args: str, preexec_fn: Callable[[], None] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m exporter ARGS` with its output in `log`, for the tests that need the bare
    process (a port or web config harness.exporter.Exporter does not wait on, a resource
    limit); SIGTERM and waited for when the block ends."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_listen_address_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_exporter(f"--web.listen-address=127.0.0.1:{port}")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"hypervisor-exporter: cannot listen on 127.0.0.1:{port}: the address is already in use"
        " (another process listens there)"
    )


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("nohost.invalid:9", "cannot listen on nohost.invalid:9: the host does not resolve"),
        ("127.0.0.1:70000", "with a port in 0..65535 (0: any free port), got '127.0.0.1:70000'"),
        ("127.0.0.1", "expected HOST:PORT or :PORT"),
    ],
)
def test_an_invalid_listen_address_is_one_line_and_exit_1(address: str, message: str) -> None:
    run = run_exporter(f"--web.listen-address={address}")
    assert run.returncode == 1
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_port_zero_listens_on_a_free_port_and_logs_it(tmp_path: Path) -> None:
    log = tmp_path / "exporter.log"
    with exporter_process(log, "--web.listen-address=127.0.0.1:0"):
        wait_until(lambda: "address=127.0.0.1:" in log.read_text(), 20, "the listening line")
        port = log.read_text().split("address=127.0.0.1:")[1].split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as answer:
            assert answer.status == 200


def test_sigterm_exits_within_5s_while_workers_hang_and_a_scrape_is_in_flight(
    tmp_path: Path,
) -> None:
    with fault_peer("hold") as silent:
        config = {
            "targets": [
                {
                    "name": "hung",
                    "kind": "libvirt",
                    "timeout": 60,
                    "uri": f"qemu+tcp://127.0.0.1:{silent.port}/system",
                },
            ]
        }
        exporter = Exporter(config, tmp_path)
        answers: list[object] = []

        def scrape() -> None:
            try:
                answers.append(exporter.get("/metrics", timeout=30))
            except OSError as err:  # closed by the exporter: also fine
                answers.append(err)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        deadline = time.monotonic() + 10
        while silent.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert silent.accepted >= 1  # a worker thread now hangs in libvirt's open
        started = time.monotonic()
        exporter.signal(signal.SIGTERM)
        exporter.proc.wait(10)
        took = time.monotonic() - started
        scraper.join(10)
        exporter.stop()
    assert took < 5, f"exit took {took:.1f}s"
    assert exporter.proc.returncode == 0
    assert answers  # the in-flight scrape was answered or its connection closed
    print(f"exit after SIGTERM with a worker hung in libvirt open: {took:.2f}s")


def write_config(path: Path, targets: list[dict[str, object]]) -> None:
    path.write_text(yaml.safe_dump({"targets": targets}))


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_reload_applies_a_good_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    dead = f"qemu+tcp://127.0.0.1:{free_port()}/system"  # refused at once: counts errors
    config = tmp_path / "config.yaml"
    write_config(
        config,
        [
            {"name": "dead", "kind": "libvirt", "uri": dead, "timeout": 2},
            {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
        ],
    )
    exporter = Exporter(None, tmp_path, f"--config.file={config}")
    try:
        for _ in range(2):
            text = exporter.metrics()
        assert (
            exposition.value(text, "hypervisor_target_collection_errors_total", target="dead") == 2
        )
        assert exposition.value(text, "hypervisor_exporter_config_last_reload_successful") == 1
        started = exposition.value(
            text, "hypervisor_exporter_config_last_reload_success_timestamp_seconds"
        )

        # A bad config: refused with every problem, the old one keeps serving.
        config.write_text("targets:\n  - {name: x, kind: nope}\n  - {name: y, kind: libvirt}\n")
        status, body = post(exporter.url + "/-/reload")
        assert status == 500
        assert "'kind'" in body and "(y): key 'uri'" in body
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_exporter_config_last_reload_successful") == 0
        assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
        assert "reload refused" in exporter.log_tail(20)

        # A good one by SIGHUP: demo removed, dead unchanged (its runner and counts stay),
        # a new target added.
        write_config(
            config,
            [
                {"name": "dead", "kind": "libvirt", "uri": dead, "timeout": 2},
                {"name": "demo2", "kind": "libvirt", "uri": "test:///default"},
            ],
        )
        time.sleep(0.01)
        exporter.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        polls = 1
        while "demo2" not in (text := exporter.metrics()) and time.monotonic() < deadline:
            polls += 1
            time.sleep(0.1)
        assert exposition.value(text, "hypervisor_target_up", target="demo2") == 1
        assert not exposition.values(text, "hypervisor_target_up", target="demo")
        # Kept: its count goes on from 3 (a new runner would count from 0).
        assert (
            exposition.value(text, "hypervisor_target_collection_errors_total", target="dead")
            == 3 + polls
        )
        assert exposition.value(text, "hypervisor_exporter_config_last_reload_successful") == 1
        assert (
            exposition.value(
                text, "hypervisor_exporter_config_last_reload_success_timestamp_seconds"
            )
            > started
        )
        status, body = post(exporter.url + "/-/reload")
        assert (status, body) == (200, "Reloaded\n")
    finally:
        exporter.stop()


def test_out_of_file_descriptors_logs_quietly_and_recovers(tmp_path: Path) -> None:
    import resource

    port = free_port()
    log = tmp_path / "exporter.log"

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    with (
        exporter_process(log, f"--web.listen-address=127.0.0.1:{port}", preexec_fn=low_limit),
        contextlib.ExitStack() as clients,
    ):
        wait_until(lambda: "msg=listening" in log.read_text(), 20, "the listening line")
        for _ in range(200):  # slow clients: a request that never ends
            client = clients.enter_context(socket.create_connection(("127.0.0.1", port), 5))
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        time.sleep(5)
        flooded = log.read_text().splitlines()
        assert any("out of system resource" in line for line in flooded)
        assert len(flooded) < 30  # about one line a second at most, not thousands
        clients.close()
        # The exporter serves again once descriptors are free.
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/-/healthy"), 10, "serving again")


def test_reload_applies_new_web_config_users(tmp_path: Path) -> None:
    def answers(method: str, path: str, password: str) -> int:
        return status(url + path, method, auth=("prometheus", password))

    web = tmp_path / "web.yml"
    web.write_text(basic_auth_users("old-pass"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    listen, web_config = f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"
    with exporter_process(tmp_path / "exporter.log", listen, web_config):
        wait_until(lambda: answers("GET", "/metrics", "old-pass") == 200, 20, "the exporter")
        web.write_text(basic_auth_users("new-pass"))
        assert answers("POST", "/-/reload", "new-pass") == 401  # not yet reloaded
        assert answers("POST", "/-/reload", "old-pass") == 200
        assert answers("GET", "/metrics", "new-pass") == 200
        assert answers("GET", "/metrics", "old-pass") == 401  # its cached success is gone
        # A broken web config is refused; the current users stay.
        web.write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
        assert answers("POST", "/-/reload", "new-pass") == 500
        assert answers("GET", "/metrics", "new-pass") == 200


def test_reload_serves_a_new_certificate(tmp_path: Path) -> None:
    import ssl

    from tests.core.test_web import self_signed

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    cert_a, key_a = self_signed(first)
    cert_b, key_b = self_signed(second)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config: {{cert_file: {cert_a}, key_file: {key_a}}}\n")
    port = free_port()

    def served() -> bytes:
        return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=5))

    listen, web_config = f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"
    with exporter_process(tmp_path / "exporter.log", listen, web_config) as proc:
        wait_until(lambda: bool(served()), 20, "the exporter serving TLS")
        assert served() == ssl.PEM_cert_to_DER_cert(cert_a.read_text())
        web.write_text(f"tls_server_config: {{cert_file: {cert_b}, key_file: {key_b}}}\n")
        proc.send_signal(signal.SIGHUP)
        new = ssl.PEM_cert_to_DER_cert(cert_b.read_text())
        wait_until(lambda: served() == new, 10, "the new certificate served", interval=0.2)
