"""The XML reader of the two bulk answers, on answers written as vCenter writes them (one
xsi prefix declared on the envelope; the simulator instead declares it on every value)."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from exporter.collectors.vsphere.inventory import apply_updates
from exporter.collectors.vsphere.samples import Snapshot
from exporter.collectors.vsphere.wire import parse_perf, parse_retrieve_result, parse_update_set
from tests.vsphere.conftest import DATA

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"'
    ' xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    "<soapenv:Body>{}</soapenv:Body></soapenv:Envelope>"
)

RETRIEVE = ENVELOPE.format(
    '<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>'
    "<token>1</token>"
    '<objects><obj type="VirtualMachine">vm-42</obj>'
    '<propSet><name>name</name><val xsi:type="xsd:string">db &amp; cache</val></propSet>'
    "<propSet><name>runtime.powerState</name>"
    '<val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet>'
    "<propSet><name>runtime.host</name>"
    '<val type="HostSystem" xsi:type="ManagedObjectReference">host-7</val></propSet>'
    "<propSet><name>summary.runtime.bootTime</name>"
    '<val xsi:type="xsd:dateTime">2024-05-01T10:00:00.5Z</val></propSet>'
    "<propSet><name>config.template</name>"
    '<val xsi:type="xsd:boolean">false</val></propSet>'
    '<missingSet><path>guest.toolsStatus</path><fault><fault xsi:type="NoPermission"/>'
    "</fault></missingSet>"
    "</objects>"
    '<objects><obj type="HostSystem">host-7</obj>'
    "<propSet><name>summary.hardware.memorySize</name>"
    '<val xsi:type="xsd:long">137438953472</val></propSet>'
    "<propSet><name>summary.runtime.bootTime</name>"
    '<val xsi:type="xsd:dateTime">2024-04-30T08:00:00+02:00</val></propSet>'
    "</objects>"
    '<objects><obj type="HostAutoStartManager">ha-autostart-mgr-7</obj>'
    '<propSet><name>config</name><val xsi:type="HostAutoStartManagerConfig">'
    "<defaults><enabled>true</enabled><startDelay>90</startDelay><stopDelay>120</stopDelay>"
    "<waitForHeartbeat>false</waitForHeartbeat><stopAction>PowerOff</stopAction></defaults>"
    '<powerInfo><key type="VirtualMachine">vm-42</key><startOrder>1</startOrder>'
    "<startDelay>-1</startDelay><waitForHeartbeat>systemDefault</waitForHeartbeat>"
    "<startAction>PowerOn</startAction><stopDelay>-1</stopDelay>"
    "<stopAction>SystemDefault</stopAction></powerInfo>"
    "</val></propSet></objects>"
    "</returnval></RetrievePropertiesExResponse>"
)


def test_retrieve_answer() -> None:
    objects, token = parse_retrieve_result(RETRIEVE.encode())
    assert token == "1"
    vm = objects["vm-42"]
    assert vm == {
        "type": "VirtualMachine",
        "name": "db & cache",
        "runtime.powerState": "poweredOn",
        "runtime.host": "host-7",
        "summary.runtime.bootTime": datetime.datetime(
            2024, 5, 1, 10, 0, 0, 500000, tzinfo=datetime.UTC
        ).timestamp(),
        "config.template": False,
    }
    host = objects["host-7"]
    assert host["summary.hardware.memorySize"] == 137438953472
    assert (
        host["summary.runtime.bootTime"]
        == datetime.datetime(2024, 4, 30, 6, 0, tzinfo=datetime.UTC).timestamp()
    )
    assert objects["ha-autostart-mgr-7"]["config"] == {
        "defaults": {"enabled": True, "startDelay": 90},
        "powerInfo": [
            {"key": "vm-42", "startAction": "PowerOn", "startOrder": 1, "startDelay": -1}
        ],
    }


def test_last_page_has_no_token() -> None:
    page = RETRIEVE.replace("<token>1</token>", "")
    assert parse_retrieve_result(page.encode())[1] is None


PERF = ENVELOPE.format(
    '<QueryPerfResponse xmlns="urn:vim25">'
    '<returnval xsi:type="PerfEntityMetricCSV"><entity type="HostSystem">host-7</entity>'
    "<sampleInfoCSV>20,2024-05-01T10:00:00Z,300,2024-05-01T10:05:00Z</sampleInfoCSV>"
    "<value><id><counterId>13</counterId><instance></instance></id>"
    "<value>30000,31000</value></value>"
    "<value><id><counterId>460</counterId><instance>vmnic0</instance></id>"
    "<value>3,-1</value></value>"
    "<value><id><counterId>146</counterId><instance>vmnic0</instance></id></value>"
    "<value><id><counterId>999</counterId><instance>x</instance></id><value>1</value></value>"
    "<value><id><counterId>147</counterId><instance/></id><value>0</value></value>"
    "</returnval>"
    '<returnval xsi:type="PerfEntityMetricCSV"><entity type="VirtualMachine">vm-9</entity>'
    "<sampleInfoCSV>20,2024-05-01T10:00:20Z</sampleInfoCSV>"
    "<value><id><counterId>13</counterId><instance>0</instance></id>"
    "<value>12</value></value></returnval>"
    "</QueryPerfResponse>"
)
PERF_NAMES = {
    13: "cpu.idle.summation",
    460: "net.droppedRx.summation",
    146: "net.packetsRx.summation",
    147: "net.packetsTx.summation",
}


def test_perf_answer_latest_sample_only() -> None:
    assert parse_perf(PERF.encode(), PERF_NAMES) == {
        # the latest sample, with the interval of the last sampleInfoCSV pair
        "host-7": {
            "cpu.idle.summation": {"": (31000.0, 300.0)},
            "net.packetsTx.summation": {"": (0.0, 300.0)},
        },
        # -1 (no sample), a series without values and an unknown counter are left out;
        # the next entity has its own interval
        "vm-9": {"cpu.idle.summation": {"0": (12.0, 20.0)}},
    }


def test_perf_answer_with_prefixed_elements_reads_the_same() -> None:
    """vCenter writes vim25 elements unprefixed; a prefixed answer (another SOAP stack)
    reads the same."""
    prefixed = re.sub(r"<(/?)(?!soapenv|\?)(\w+)", r"<\1v:\2", PERF).replace(
        'xmlns="urn:vim25"', 'xmlns:v="urn:vim25"'
    )
    assert "<v:returnval" in prefixed
    assert parse_perf(prefixed.encode(), PERF_NAMES) == parse_perf(PERF.encode(), PERF_NAMES)


def test_perf_instances_and_entities_unescaped() -> None:
    answer = PERF.replace(
        "<instance>vmnic0</instance></id><value>3,-1</value>",
        "<instance>a&amp;b</instance></id><value>3</value>",
    )
    assert parse_perf(answer.encode(), {460: "net.droppedRx.summation"}) == {
        "host-7": {"net.droppedRx.summation": {"a&b": (3.0, 300.0)}},
        "vm-9": {},
    }


# The simulator's counter ids (govmomi's fixed list) of the counters the collector asks.
SIMULATOR_COUNTERS = {
    13: "cpu.idle.summation",
    446: "disk.commands.summation",
    132: "disk.totalLatency.average",
    146: "net.packetsRx.summation",
    147: "net.packetsTx.summation",
    460: "net.droppedRx.summation",
    461: "net.droppedTx.summation",
    344: "virtualDisk.readOIO.latest",
    345: "virtualDisk.writeOIO.latest",
    2: "cpu.usage.average",
    98: "mem.consumed.average",
    173: "virtualDisk.read.average",
    174: "virtualDisk.write.average",
    462: "net.bytesRx.average",
    463: "net.bytesTx.average",
}


def test_recorded_csv_answer_is_what_the_lab_snapshot_holds() -> None:
    """tests/vsphere/data/queryperf-csv.xml is the simulator's answer to the collector's
    QueryPerf (csv format) for every host and VM of the recorded lab; lab.json's perf is
    what the collector read of it (tests/vsphere/record.py). Reading it again gives the
    same, with the injected samples where scenario.inject_load put them."""
    raw = (DATA / "queryperf-csv.xml").read_bytes()
    assert b'type="PerfEntityMetricCSV"' in raw and b"<sampleInfoCSV>20," in raw
    assert b"PerfMetricIntSeries" not in raw
    lab = json.loads((DATA / "lab.json").read_text())
    names = {o["name"]: moid for moid, o in lab["objects"].items() if "name" in o}
    perf = parse_perf(raw, SIMULATOR_COUNTERS)
    assert perf == Snapshot.from_dict(lab).perf  # JSON keeps each (value, interval) as a list
    host, vm = perf[names["DC0_H0"]], perf[names["DC0_H0_VM0"]]
    assert host["net.droppedRx.summation"] == {"vmnic0": (8.0, 20.0)}
    assert host["disk.commands.summation"] == {"naa.1": (1200.0, 20.0)}
    assert vm["virtualDisk.readOIO.latest"] == {"scsi0:0": (30.0, 20.0)}
    assert vm["cpu.usage.average"] == {"": (2500.0, 20.0)}
    assert vm["net.bytesTx.average"] == {"4000": (50.0, 20.0)}


UPDATES = ENVELOPE.format(
    '<WaitForUpdatesExResponse xmlns="urn:vim25"><returnval><version>7</version>'
    '<filterSet><filter type="PropertyFilter">session[52a1]f1</filter>'
    '<objectSet><kind>modify</kind><obj type="VirtualMachine">vm-42</obj>'
    "<changeSet><name>runtime.powerState</name><op>assign</op>"
    '<val xsi:type="VirtualMachinePowerState">poweredOff</val></changeSet>'
    "<changeSet><name>summary.runtime.bootTime</name><op>assign</op></changeSet>"
    "</objectSet>"
    '<objectSet><kind>enter</kind><obj type="VirtualMachine">vm-43</obj>'
    '<changeSet><name>name</name><op>assign</op><val xsi:type="xsd:string">web-2</val>'
    "</changeSet>"
    "<changeSet><name>runtime.host</name><op>assign</op>"
    '<val type="HostSystem" xsi:type="ManagedObjectReference">host-9</val></changeSet>'
    "</objectSet>"
    '<objectSet><kind>leave</kind><obj type="VirtualMachine">vm-17</obj></objectSet>'
    '<objectSet><kind>modify</kind><obj type="HostSystem">host-9</obj>'
    "<changeSet><name>runtime.inMaintenanceMode</name><op>remove</op></changeSet>"
    "</objectSet>"
    "</filterSet><truncated>true</truncated></returnval></WaitForUpdatesExResponse>"
)


def test_update_set() -> None:
    version, truncated, updates = parse_update_set(UPDATES.encode()) or ("", False, [])
    assert (version, truncated) == ("7", True)
    assert updates == [
        (
            "modify",
            "vm-42",
            "VirtualMachine",
            [
                ("runtime.powerState", "assign", "poweredOff"),
                ("summary.runtime.bootTime", "assign", None),
            ],
        ),
        (
            "enter",
            "vm-43",
            "VirtualMachine",
            [("name", "assign", "web-2"), ("runtime.host", "assign", "host-9")],
        ),
        ("leave", "vm-17", "VirtualMachine", []),
        ("modify", "host-9", "HostSystem", [("runtime.inMaintenanceMode", "remove", None)]),
    ]


def test_nothing_changed_is_no_update_set() -> None:
    empty = ENVELOPE.format(
        '<WaitForUpdatesExResponse xmlns="urn:vim25"></WaitForUpdatesExResponse>'
    )
    assert parse_update_set(empty.encode()) is None


def test_updates_applied_to_kept_objects() -> None:
    objects: dict[str, dict[str, Any]] = {
        "vm-42": {
            "type": "VirtualMachine",
            "name": "web-1",
            "runtime.powerState": "poweredOn",
            "summary.runtime.bootTime": 1.0,
        },
        "vm-17": {"type": "VirtualMachine", "name": "old"},
        "host-9": {"type": "HostSystem", "runtime.inMaintenanceMode": True},
    }
    before = dict(objects)
    vm42 = objects["vm-42"]
    _, _, updates = parse_update_set(UPDATES.encode()) or ("", False, [])
    apply_updates(objects, updates)
    assert objects == {
        "vm-42": {"type": "VirtualMachine", "name": "web-1", "runtime.powerState": "poweredOff"},
        "vm-43": {"type": "VirtualMachine", "name": "web-2", "runtime.host": "host-9"},
        "host-9": {"type": "HostSystem"},
    }
    # objects are replaced, not changed: a snapshot taken before still holds what it held
    assert vm42["runtime.powerState"] == "poweredOn" and before["vm-17"]["name"] == "old"
