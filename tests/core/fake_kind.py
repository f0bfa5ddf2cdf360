"""A kind of target declared in one module, as a new platform's collector module would:
its config class, its collector and its `KIND`. Tests register it (exporter.collectors.register)
to show that config parsing, --check-config, the runner and the HTTP server serve any kind.

Its collector is controllable: `gate` holds each collection in a worker thread until set
(cleared from the start for `endpoint: fake://hang`), and `fail` makes the next
collections fail with that message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import Kind
from exporter.metrics import SampleSet
from exporter.targets import Problem, Secret, TargetConfig


@dataclass(frozen=True, kw_only=True)
class FakeTarget(TargetConfig):
    kind: ClassVar[str] = "fake"
    endpoint: str = ""
    password: Secret
    api_key: Secret | None = None  # an optional second secret: its own trio

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        if not self.endpoint.startswith("fake://"):
            problem("endpoint", f"must start with fake://, got {self.endpoint!r}")


class FakeCollector:
    made: ClassVar[list[FakeCollector]] = []

    def __init__(self, target: FakeTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.gate = threading.Event()
        if target.endpoint != "fake://hang":
            self.gate.set()
        self.fail: str | None = None
        self.closed = False
        FakeCollector.made.append(self)

    def _read(self) -> str:
        self.gate.wait(10)
        if self.fail is not None:
            raise RuntimeError(self.fail)
        return self.target.password.reveal()

    async def collect(self) -> SampleSet:
        password = await self.lane.run(self._read)
        out = SampleSet()
        out.add(fam.HOST_MAINTENANCE_MODE, float(len(password)), target=self.target.name, host="h")
        return out

    async def close(self) -> None:
        self.closed = True
        self.gate.set()


KIND = Kind(config=FakeTarget, create=FakeCollector, slots=3)
