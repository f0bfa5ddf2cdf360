"""The inventory kept across collections, through the PropertyCollector's update protocol.
Blocking: runs in the target's lane.

Reading every property of every object on every scrape makes vCenter build the whole
inventory each time (8.9 MB of XML at 5,000 VMs). Instead, the first collection on a
session creates a PropertyCollector of its own (`CreatePropertyCollector`) with one
filter over the session's ContainerView (the same spec as a full read) and reads the
initial update set, everything as `enter`; later collections call `WaitForUpdatesEx` with
the version of the last answer and `maxWaitSeconds=0`, so vCenter answers at once with only
what changed (nothing at all when nothing did), and the changes are applied to the kept
objects:

- `enter`: an object came into the filter (a VM created, a host added): all its
  properties; `leave`: it left (a VM deleted); `modify`: the properties that changed, an
  assignment without a value (or `remove`) meaning the property is now unset, which a full
  read shows as an absent property.
- A truncated update set (`truncated`, vCenter caps an answer at `maxObjectUpdates` or at
  its own limit) is followed with the new version until it is complete, within the same
  collection, so a collection never sees half an update.
- A lost filter or collector (`InvalidCollectorVersion`, `ManagedObjectNotFound`,
  `RequestCanceled`) falls back to a full read once, logged; a new session (after
  `NotAuthenticated`, handled by the collector) starts over with a full read too.

Objects are replaced, never changed in place, so the dict handed to a snapshot stays as it
was while the next collection applies its changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from exporter.collectors.library import describe
from exporter.collectors.vsphere.samples import Objects
from exporter.collectors.vsphere.session import Session, filter_spec, with_autostart_fallback
from exporter.collectors.vsphere.wire import ObjectUpdate, invoke_raw, parse_update_set, pyvmomi

log = logging.getLogger("exporter.collectors.vsphere")

# Objects per WaitForUpdatesEx answer: about 2 KB each, so at most ~4 MB of XML to hold and
# parse at once during a full read (vCenter may cap lower; the rest follows, truncated).
MAX_OBJECT_UPDATES = 2000


def apply_updates(objects: Objects, updates: list[ObjectUpdate]) -> None:
    """Applies object updates to `objects` (moid -> {"type", properties}), replacing every
    object it changes (see the module's docstring)."""
    for kind, moid, kind_type, changes in updates:
        if kind == "leave":
            objects.pop(moid, None)
            continue
        if kind == "enter":
            entry: dict[str, Any] = {"type": kind_type}
        else:
            entry = dict(objects.get(moid) or {"type": kind_type})
        for name, op, value in changes:
            if op in ("remove", "indirectRemove") or value is None:
                entry.pop(name, None)
            else:
                entry[name] = value
        objects[moid] = entry


class Inventory:
    """The objects of one session's filter and where the update protocol stands."""

    def __init__(self) -> None:
        self.objects: Objects = {}
        self.collector: Any = None  # our PropertyCollector
        self.version: str | None = None  # None: no complete read on this collector yet
        self.si: Any = None  # the session the collector belongs to
        self.full_reads = 0
        self._lock = threading.Lock()

    def read(self, session: Session) -> Objects:
        """The inventory now: a full read on a new session or after a lost filter,
        otherwise the kept one with vCenter's changes applied. Blocking."""
        with self._lock:  # a timed-out collection's thread may still be running
            si = session.ensure()
            if si is not self.si or self.version is None:
                self._full(session)
            else:
                vmodl = pyvmomi().vmodl
                try:
                    self._follow(session)
                except (
                    vmodl.query.InvalidCollectorVersion,
                    vmodl.fault.ManagedObjectNotFound,
                    vmodl.fault.RequestCanceled,
                ) as err:
                    log.warning(
                        "property filter lost, reading the full inventory again",
                        extra={"fields": {"target": session.target.name, "reason": describe(err)}},
                    )
                    self._full(session)
            return dict(self.objects)

    def _full(self, session: Session) -> None:
        """A new collector and filter, and their initial update set: everything."""
        self.version, self.si = None, None
        old, self.collector = self.collector, None
        if old is not None:
            with contextlib.suppress(Exception):  # gone with its session, or lost on vCenter
                old.DestroyPropertyCollector()
        si = session.ensure()
        collector = session.content.propertyCollector.CreatePropertyCollector()
        with_autostart_fallback(
            session,
            lambda via_manager: collector.CreateFilter(
                filter_spec(session.view, via_manager), False
            ),
        )
        self.collector, self.si = collector, si
        self.objects = {}
        self.version = ""
        self.full_reads += 1
        self._follow(session)

    def _follow(self, session: Session) -> None:
        """WaitForUpdatesEx from the kept version until the update set is complete."""
        vmodl = pyvmomi().vmodl
        options = vmodl.query.PropertyCollector.WaitOptions(
            maxWaitSeconds=0, maxObjectUpdates=MAX_OBJECT_UPDATES
        )
        while True:
            answer = parse_update_set(
                invoke_raw(self.collector, "WaitForUpdatesEx", self.version, options)
            )
            if answer is None:
                return
            version, truncated, updates = answer
            apply_updates(self.objects, updates)
            self.version = version
            if not truncated:
                return
