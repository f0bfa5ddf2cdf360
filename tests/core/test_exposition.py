"""The renderer, golden: fixed sample sets -> the exact text exposition, checked by
promtool as Prometheus would read it."""

from __future__ import annotations

import math

import pytest

from exporter.metrics import Family, SampleSet, StateSet, format_value, render
from harness import exposition

QUEUE = Family(
    "test_queue_length",
    'Outstanding requests.\nA "second" line, a back\\slash.',
    ("target", "disk"),
)
EVENTS = Family("test_events_total", "Events seen.", ("target",), "counter")
UP = Family("test_up", "1 when up.", ())
POWER = StateSet(Family("test_power_state", "Power state.", ("vm", "state")), ("on", "off"))
EMPTY = Family("test_empty", "Never given a sample.", ("target",))
ERRORS = Family("a_errors_total", "Sorted first.", ("target", "kind"), "counter")


def sample_sets() -> list[SampleSet]:
    first, second = SampleSet(), SampleSet()
    first.add(UP, 1)
    first.add(QUEUE, 0.25, target="a", disk="vda")
    first.add(QUEUE, 3, target="a", disk='we"ird\\name\nnext')
    first.add(EVENTS, 12345678, target="a")
    first.add_state(POWER, "off", vm="web")
    first.series[EMPTY] = {}
    second.add(QUEUE, math.nan, target="b", disk="sda")
    second.add(QUEUE, 99, target="a", disk="vda")  # the same series again: the first one wins
    second.add(EVENTS, 1e20, target="b")
    second.add(ERRORS, 0, target="b", kind="libvirt")
    return [first, second]


GOLDEN = """\
# HELP a_errors_total Sorted first.
# TYPE a_errors_total counter
a_errors_total{target="b",kind="libvirt"} 0
# HELP test_events_total Events seen.
# TYPE test_events_total counter
test_events_total{target="a"} 12345678
test_events_total{target="b"} 1e+20
# HELP test_power_state Power state.
# TYPE test_power_state gauge
test_power_state{vm="web",state="on"} 0
test_power_state{vm="web",state="off"} 1
# HELP test_queue_length Outstanding requests.\\nA "second" line, a back\\\\slash.
# TYPE test_queue_length gauge
test_queue_length{target="a",disk="vda"} 0.25
test_queue_length{target="a",disk="we\\"ird\\\\name\\nnext"} 3
test_queue_length{target="b",disk="sda"} NaN
# HELP test_up 1 when up.
# TYPE test_up gauge
test_up 1
"""


def test_golden_exposition() -> None:
    assert render(sample_sets()) == GOLDEN


def test_promtool_reads_it() -> None:
    assert exposition.promtool_lint(GOLDEN) == ""


def test_values_as_prometheus_writes_them() -> None:
    assert [format_value(v) for v in (0.0, 1.0, -0.0, 2.0, -3.0, 0.5, 1e15, 1e-7)] == [
        "0",
        "1",
        "0",
        "2",
        "-3",
        "0.5",
        "1000000000000000.0",  # repr beyond exact integers; Prometheus parses both
        "1e-07",
    ]
    assert [format_value(v) for v in (math.inf, -math.inf, math.nan)] == ["+Inf", "-Inf", "NaN"]


def test_nothing_to_render() -> None:
    assert render([]) == "" and render([SampleSet()]) == ""


def test_sealed_sets_render_the_same_and_refuse_changes() -> None:
    sealed = [s.sealed() for s in sample_sets()]
    assert render(sealed) == GOLDEN
    assert render(sealed) == GOLDEN  # the second time from the kept text
    first = sealed[0]
    first.add(UP, 0)  # already there: counted as a duplicate, as in any set
    assert first.duplicates == 1
    with pytest.raises(TypeError, match="sealed"):
        first.add(QUEUE, 1, target="new", disk="vdb")
    series = first.series[QUEUE]
    with pytest.raises(TypeError, match="sealed"):
        series.update({})
    with pytest.raises(TypeError, match="sealed"):
        series.pop(("a", "vda"))
    with pytest.raises(TypeError, match="sealed"):
        series.setdefault(("a", "x"), 1.0)
    with pytest.raises(TypeError, match="sealed"):
        series.clear()
    assert first.value(QUEUE, target="a", disk="vda") == 0.25


def test_a_copy_shares_sealed_families_and_takes_new_ones() -> None:
    sealed = sample_sets()[0].sealed()
    other = Family("test_other", "Another family.", ("target",))
    copy = sealed.copy()
    copy.add(other, 7, target="a")
    assert copy.series[QUEUE] is sealed.series[QUEUE]
    assert other not in sealed.series
    assert 'test_other{target="a"} 7\n' in render([copy])
    # one text per family whatever the order: a sealed family rendered beside a plain one
    # of the same name merges as before (the first sample of a series wins)
    plain = SampleSet()
    plain.add(QUEUE, 5, target="a", disk="vda")
    plain.add(QUEUE, 6, target="c", disk="vdc")
    text = render([sealed, plain])
    assert 'test_queue_length{target="a",disk="vda"} 0.25\n' in text
    assert 'test_queue_length{target="c",disk="vdc"} 6\n' in text
    assert text.count("# TYPE test_queue_length") == 1
