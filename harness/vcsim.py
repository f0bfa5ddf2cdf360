"""The project's vCenter simulator (tools/vcsim) as a child process, plus its control API.

The binary is built by scripts/deps.d/30-vcsim.sh into .cache/vcsim/vcsim. The simulator
picks its own free ports on 127.0.0.1, serves TLS with a certificate it generates, and
writes where it listens to a state file that this harness waits for.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.process import Peer

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / ".cache" / "vcsim" / "vcsim"


class Vcsim(Peer):
    """A simulated vCenter: `dc` datacenters, each with `clusters` clusters of `hosts`
    hosts and `standalone` standalone hosts; `vms` VMs per cluster (spread over its hosts)
    and per standalone host."""

    def __init__(
        self,
        log_dir: Path,
        *,
        dc: int = 1,
        clusters: int = 1,
        hosts: int = 3,
        standalone: int = 0,
        vms: int = 2,
        datastores: int = 1,
        username: str = "monitor@vsphere.local",
        password: str = "s3cret-Pa55",
        startup_timeout: float = 120,
    ) -> None:
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} is missing: run scripts/deps.d/30-vcsim.sh")
        log_dir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        name = f"vcsim-{id(self):x}"
        self.state_file = log_dir / f"{name}.json"
        self.ca_file = log_dir / f"{name}.pem"
        self.state_file.unlink(missing_ok=True)
        super().__init__(
            name,
            [
                str(BINARY),
                f"-dc={dc}",
                f"-cluster={clusters}",
                f"-host={hosts}",
                f"-standalone-host={standalone}",
                f"-vm={vms}",
                f"-ds={datastores}",
                f"-username={username}",
                f"-password={password}",
                f"-cert-file={self.ca_file}",
                f"-state-file={self.state_file}",
            ],
            log_dir,
        )
        self.wait_ready(self.state_file.exists, timeout=startup_timeout)
        self.state: dict[str, Any] = json.loads(self.state_file.read_text())
        self.address: str = self.state["address"]  # 127.0.0.1:PORT of the SOAP API
        self.control_url: str = self.state["control"]

    # --- the control API -------------------------------------------------------------
    def control(
        self, path: str, body: dict[str, Any] | None = None, method: str | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method or ("POST" if data else "GET"),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"vcsim {path}: {err.code} {err.read().decode()}") from None

    def inventory(self) -> dict[str, list[dict[str, str]]]:
        """{'hosts': [{Moid, Name, Parent, ConnectionState, AutostartManager}],
        'vms': [{Moid, Name, Host, HostName, PowerState, Folder}]}"""
        return self.control("/inventory")  # type: ignore[no-any-return]

    def calls(self) -> dict[str, int]:
        """SOAP requests served so far, by method name (Login, RetrievePropertiesEx, ...)."""
        return self.control("/calls")  # type: ignore[no-any-return]

    def set_latency(self, ms: int) -> None:
        self.control("/latency", {"ms": ms})

    def set_host(
        self,
        host: str,
        *,
        connection_state: str | None = None,
        boot_time: float | None = None,
        maintenance: bool | None = None,
    ) -> None:
        body: dict[str, Any] = {"host": host}
        if connection_state is not None:
            body["connection_state"] = connection_state
        if boot_time is not None:
            body["boot_time"] = boot_time
        if maintenance is not None:
            body["maintenance"] = maintenance
        self.control("/host", body)

    def set_vm(
        self, vm: str, *, tools_running: bool | None = None, rename_unchecked: str | None = None
    ) -> None:
        body: dict[str, Any] = {"vm": vm}
        if tools_running is not None:
            body["tools_running"] = tools_running
        if rename_unchecked is not None:
            body["rename_unchecked"] = rename_unchecked
        self.control("/vm", body)

    def post_event(self, vm: str, kind: str, message: str, file: str = "") -> int:
        """Posts an event about `vm` (name or moid) from the simulator side, as vCenter
        records it: VmFailedToPowerOnEvent carries a FileNotFound fault with `message`;
        another id becomes an EventEx (tools/vcsim/events.go). Returns the event's key."""
        body = {"vm": vm, "type": kind, "message": message, "file": file}
        return int(self.control("/events", body)["key"])

    def inject_perf(self, entity: str, counter: str, instance: str, value: int) -> None:
        """Every QueryPerf sample of `counter` (group.name.rollup) for that host or VM and
        instance is `value` from now on."""
        self.control(
            "/perf", {"entity": entity, "counter": counter, "instance": instance, "value": value}
        )

    def revoke_sessions(self) -> None:
        """Every session logged in so far gets NotAuthenticated from now on, as when
        vCenter expires sessions or restarts."""
        self.control("/sessions/revoke", {})

    def refuse_path_traversal(self, refuse: bool = True) -> None:
        """Answer InvalidProperty to a RetrievePropertiesEx whose traversal follows a
        property path (configManager.autoStartManager), as a stricter vCenter might."""
        self.control("/faults", {"refuse_path_traversal": refuse})

    def updates(
        self,
        *,
        max_object_updates: int | None = None,
        forget_versions: bool = False,
        destroy_collectors: bool = False,
    ) -> dict[str, int]:
        """The update protocol (WaitForUpdatesEx): cap every update set at
        `max_object_updates` objects, truncating the rest to the next call (0: no cap);
        make every version handed out so far stale (InvalidCollectorVersion); destroy
        every collector made by CreatePropertyCollector (ManagedObjectNotFound)."""
        body: dict[str, Any] = {
            "forget_versions": forget_versions,
            "destroy_collectors": destroy_collectors,
        }
        if max_object_updates is not None:
            body["max_object_updates"] = max_object_updates
        return self.control("/updates", body)  # type: ignore[no-any-return]

    def sent_bytes(self) -> dict[str, int]:
        """Bytes of SOAP answers sent so far, by method name."""
        return self.control("/bytes")  # type: ignore[no-any-return]

    def set_gzip(self, on: bool) -> None:
        """Gzip SOAP answers for clients that accept it, as vCenter does from 8.0.3."""
        self.control("/compression", {"gzip": on})

    def clear_perf(self) -> None:
        self.control("/perf", method="DELETE")

    # --- pyvmomi, for tests that change the inventory the way an admin would ---------
    def connect(self) -> Any:
        from pyVim.connect import SmartConnect

        host, port = self.address.rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return SmartConnect(
            host=host, port=int(port), user=self.username, pwd=self.password, sslContext=context
        )

    def target(
        self, name: str = "vc", password: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """A config entry for the exporter pointing at this simulator, its password in a
        file as the docs recommend (`password` overrides the right one)."""
        secret = self.log_path.parent / f"{self.name}-{name}.password"
        secret.write_text((self.password if password is None else password) + "\n")
        entry: dict[str, Any] = {
            "name": name,
            "kind": "vsphere",
            "host": self.address,
            "username": self.username,
            "password_file": str(secret),
            "ca_file": str(self.ca_file),
        }
        entry.update(overrides)
        return entry
