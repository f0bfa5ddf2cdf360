"""The keys of a vSphere target."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from exporter.collectors import start_failures
from exporter.targets import Problem, Secret, TargetConfig, check_readable_file


@dataclass(frozen=True, kw_only=True)
class VsphereTarget(TargetConfig):
    kind: ClassVar[str] = "vsphere"
    host: str = ""
    username: str = ""
    password: Secret
    verify_tls: bool = True
    ca_file: str | None = None
    start_failure_window: float = start_failures.DEFAULT_WINDOW
    # seconds between two reads of a VM's capacity counters (0: every collection)
    capacity_interval: float = 0.0

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        start_failures.check_window(self.start_failure_window, problem)
        if not 0 <= self.capacity_interval < math.inf:
            problem(
                "capacity_interval",
                f"must be a number of seconds, 0 or more, got {self.capacity_interval}",
            )
        match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s/\[\]]+)(?::(\d{1,5}))?", self.host)
        if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
            problem("host", f"must be host or host:port, got {self.host!r}")
        if not self.username:
            problem("username", "must not be empty")
        if self.ca_file is not None:
            check_readable_file(self.ca_file, "ca_file", problem)

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.host.rpartition(":") if "]" not in self.host[-1:] else ("", "", "")
        if not host or not port.isdigit():
            return self.host.strip("[]"), 443
        return host.strip("[]"), int(port)
