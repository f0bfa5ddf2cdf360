"""The two bulk vSphere calls of every collection, answered as plain data straight from XML.

pyVmomi builds a typed object for every element of an answer and checks each field; for
thousands of VMs that costs several times what vCenter takes to answer. The collector
only wants plain values, so for `RetrievePropertiesEx`, `ContinueRetrievePropertiesEx`
and `QueryPerf` it lets pyVmomi serialize the request and keep the session, connection
pool and faults (a SOAP fault is still deserialized and raised by pyVmomi as
`vim.fault.*`), and reads a successful answer with ElementTree (C) into the same plain
shape that `plain_objects` / `plain_perf` in vsphere.py produce from pyVmomi objects.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import importlib
import io
import zlib
from typing import Any
from xml.etree import ElementTree as ET

V = "{urn:vim25}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
INTS = {"int", "long", "short", "byte"}


def invoke_raw(mo: Any, method: str, *args: Any) -> bytes:
    """Calls `method` (pyVmomi's name: QueryStats is QueryPerf) on `mo` through its stub;
    returns the body of a successful answer, raises what pyVmomi raises for a fault."""
    soap: Any = importlib.import_module("pyVmomi.SoapAdapter")
    stub = mo._stub
    info = type(mo)._GetMethodInfo(method)
    params = list(args) + [None] * (len(info.params) - len(args))
    body = stub.SerializeRequest(mo, info, params)
    headers = {
        "Cookie": stub.cookie,
        "SOAPAction": stub.versionId,
        "Content-Type": "text/xml; charset=UTF-8",
        "Accept-Encoding": "gzip, deflate",
    }
    conn = stub.GetConnection()
    try:
        conn.request("POST", stub.path, body, headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        stub.DropConnections()  # as pyVmomi does: the server may be sick
        raise
    stub.ReturnConnection(conn)
    encoding = (response.getheader("Content-Encoding") or "").lower()
    if encoding == "gzip":
        data = gzip.decompress(data)
    elif encoding == "deflate":
        data = zlib.decompress(data)
    if response.status == 200:
        return bytes(data)
    if response.status == 500:
        fault = soap.SoapResponseDeserializer(stub).Deserialize(io.BytesIO(data), info.result)
        raise fault
    raise http.client.HTTPException(f"{response.status} {response.reason}")


def _timestamp(text: str) -> float:
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        iso: Any = importlib.import_module("pyVmomi.Iso8601")
        parsed = iso.ParseISO8601(text)
        if parsed is None:
            raise
        return float(parsed.timestamp())


def _autostart_config(val: ET.Element) -> dict[str, Any]:
    defaults = val.find(V + "defaults")
    enabled = defaults.findtext(V + "enabled") if defaults is not None else None
    delay = defaults.findtext(V + "startDelay") if defaults is not None else None
    return {
        "defaults": {"enabled": enabled == "true", "startDelay": int(delay or 0)},
        "powerInfo": [
            {
                "key": info.findtext(V + "key"),
                "startAction": info.findtext(V + "startAction"),
                "startOrder": int(info.findtext(V + "startOrder") or -1),
                "startDelay": int(info.findtext(V + "startDelay") or -1),
            }
            for info in val.iterfind(V + "powerInfo")
        ],
    }


def _value(val: ET.Element) -> Any:
    kind = (val.get(XSI_TYPE) or "").rpartition(":")[2]
    text = val.text or ""
    if kind in INTS:
        return int(text)
    if kind == "boolean":
        return text == "true"
    if kind in ("double", "float"):
        return float(text)
    if kind == "dateTime":
        return _timestamp(text)
    if kind == "HostAutoStartManagerConfig":
        return _autostart_config(val)
    return text  # strings, enums, ManagedObjectReference (its moid)


def parse_retrieve_result(data: bytes) -> tuple[dict[str, dict[str, Any]], str | None]:
    """A RetrievePropertiesEx or Continue answer -> ({moid: {"type", props...}}, token)."""
    root = ET.fromstring(data)
    objects: dict[str, dict[str, Any]] = {}
    token = None
    for returnval in root.iter(V + "returnval"):
        token = returnval.findtext(V + "token") or token
        for content in returnval.iterfind(V + "objects"):
            obj = content.find(V + "obj")
            if obj is None or obj.text is None:
                continue
            entry: dict[str, Any] = {"type": obj.get("type")}
            for prop in content.iterfind(V + "propSet"):
                name = prop.findtext(V + "name")
                val = prop.find(V + "val")
                if name is not None and val is not None:
                    entry[name] = _value(val)
            objects[obj.text] = entry
    return objects, token


def parse_perf(data: bytes, names: dict[int, str]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """A QueryPerf answer -> {moid: {counter: {instance: [latest value, interval]}}}, the
    shape of vsphere.plain_perf: series without a value or with -1 are left out."""
    root = ET.fromstring(data)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for metric in root.iter(V + "returnval"):
        entity = metric.findtext(V + "entity")
        if entity is None:
            continue
        intervals = [i.text for i in metric.iterfind(V + "sampleInfo/" + V + "interval")]
        interval = float(intervals[-1] or 20) if intervals else 20.0
        per_entity = out.setdefault(entity, {})
        for series in metric.iterfind(V + "value"):
            values = series.findall(V + "value")
            if not values:
                continue
            latest = float(values[-1].text or -1)
            if latest < 0:
                continue
            counter = series.findtext(V + "id/" + V + "counterId")
            name = names.get(int(counter)) if counter else None
            if name is None:
                continue
            instance = series.findtext(V + "id/" + V + "instance") or ""
            per_entity.setdefault(name, {})[instance] = [latest, interval]
    return out
