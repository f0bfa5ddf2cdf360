"""Metric families, sample sets and the Prometheus text exposition.

Collectors describe what they saw as samples of families declared once in
`exporter.families`; the HTTP layer merges the sample sets of every target into one
exposition. Keeping this independent of prometheus_client's registry lets one response
hold many targets' samples of the same family without duplicate HELP/TYPE lines, and the
renderer is a tight loop that stays fast at 100k series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

MetricType = Literal["gauge", "counter"]


@dataclass(frozen=True)
class Family:
    """One metric family: its name, HELP text, type and label names in order."""

    name: str
    help: str
    labels: tuple[str, ...]
    type: MetricType = "gauge"

    def __hash__(self) -> int:
        # Names are unique (families.py declares each once), and a family is looked up for
        # every series added: hashing the name alone is several times cheaper than the
        # generated hash over every field.
        return hash(self.name)

    def __post_init__(self) -> None:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"only counters may end in _total: {self.name}")


@dataclass(frozen=True)
class StateSet:
    """A gauge with one series per possible state and a `state` label: exactly one is 1."""

    family: Family
    states: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.family.labels[-1:] != ("state",):
            raise ValueError(f"{self.family.name}: a state set's last label must be 'state'")


LabelValues = tuple[str, ...]


class SealedSeries(dict[LabelValues, float]):
    """A family's series that can no longer change. A collector keeps a sealed set while
    what it was made from is unchanged (vSphere's inventory in the steady state) and
    serves it scrape after scrape; `render` writes its text once."""

    __slots__ = ("_text",)

    def __init__(self, series: dict[LabelValues, float]) -> None:
        super().__init__(series)
        self._text: tuple[str, str] | None = None  # (template, text)

    def rendered(self, template: str) -> str:
        if self._text is None or self._text[0] != template:
            self._text = (template, _series_text(template, self))
        return self._text[1]

    def _refuse(self) -> NoReturn:
        raise TypeError("sealed series cannot change: add them to a new SampleSet")

    def __setitem__(self, key: LabelValues, value: float) -> NoReturn:
        self._refuse()

    def __delitem__(self, key: LabelValues) -> NoReturn:
        self._refuse()

    def setdefault(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def pop(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def popitem(self) -> NoReturn:
        self._refuse()

    def clear(self) -> NoReturn:
        self._refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()


@dataclass
class SampleSet:
    """Samples of many families, keyed so that a series can only appear once.

    A second sample for the same family and label values is dropped (the first stays) and
    counted in `duplicates`, its family named in `duplicated`, instead of producing an
    invalid exposition.
    """

    series: dict[Family, dict[LabelValues, float]] = field(default_factory=dict)
    duplicates: int = 0
    duplicated: set[str] = field(default_factory=set)

    def add(self, family: Family, value: float, **labels: str) -> None:
        self._put(family, _label_values(family, family.labels, labels), value)

    def put(self, family: Family, values: LabelValues, value: float) -> None:
        """As `add`, with the label values given in the order of the family's labels: for
        collectors that add thousands of series of the same labels, which build the values
        of an entity once instead of a keyword dict per series."""
        if len(values) != len(family.labels):
            raise ValueError(
                f"{family.name}: {len(family.labels)} label values expected"
                f" ({', '.join(family.labels)}), got {len(values)}"
            )
        self._put(family, values, value)

    def add_state(self, stateset: StateSet, current: str, **labels: str) -> None:
        """Adds one series per state of `stateset`, 1 for `current` and 0 for the others."""
        family = stateset.family
        if "state" in labels:
            raise ValueError(f"{family.name}: the state label is the state set's own")
        # The label values are checked once for all states (the last label is `state`).
        self.put_state(stateset, _label_values(family, family.labels[:-1], labels), current)

    def put_state(self, stateset: StateSet, values: LabelValues, current: str) -> None:
        """As `add_state`, with the values of every label but `state` in the family's order."""
        family = stateset.family
        if current not in stateset.states:
            raise ValueError(f"{family.name}: unknown state {current!r}")
        if len(values) != len(family.labels) - 1:
            raise ValueError(
                f"{family.name}: {len(family.labels) - 1} label values expected"
                f" ({', '.join(family.labels[:-1])}), got {len(values)}"
            )
        for state in stateset.states:
            self._put(family, (*values, state), 1.0 if state == current else 0.0)

    def _put(self, family: Family, key: LabelValues, value: float) -> None:
        bucket = self.series.get(family)
        if bucket is None:
            bucket = self.series[family] = {}
        if key in bucket:
            self.duplicates += 1
            self.duplicated.add(family.name)
            return
        bucket[key] = value

    def copy(self) -> SampleSet:
        """A copy that can be added to without changing this set: sealed families are
        shared (and stay closed to new series), the others copied."""
        series = {
            family: bucket if isinstance(bucket, SealedSeries) else dict(bucket)
            for family, bucket in self.series.items()
        }
        return SampleSet(series, self.duplicates, set(self.duplicated))

    def sealed(self) -> SampleSet:
        """This set as it is now, every family sealed (see `SealedSeries`)."""
        series: dict[Family, dict[LabelValues, float]] = {
            family: SealedSeries(bucket) for family, bucket in self.series.items()
        }
        return SampleSet(series, self.duplicates, set(self.duplicated))

    def value(self, family: Family, **labels: str) -> float | None:
        """The value of one series, or None: for tests and the landing page."""
        key = tuple(labels[name] for name in family.labels)
        return self.series.get(family, {}).get(key)

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.series.values())


_NEEDS_ESCAPE = frozenset('\\\n"')


def _escape_label(value: str) -> str:
    if _NEEDS_ESCAPE.isdisjoint(value):
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if value == 0:
        return "0"
    if value == 1:
        return "1"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _label_values(family: Family, names: tuple[str, ...], labels: dict[str, str]) -> LabelValues:
    """`labels`' values in the order of `names`; exactly those labels must be given."""
    try:
        key = tuple([labels[name] for name in names])
    except KeyError as missing:
        raise ValueError(f"{family.name}: label {missing} not given") from None
    if len(labels) != len(names):
        extra = set(labels) - set(names)
        raise ValueError(f"{family.name}: unknown labels {sorted(extra)}")
    return key


def _series_text(template: str, series: dict[LabelValues, float]) -> str:
    """The lines of one family's series; `template` writes the name and labels."""
    # Escaping is rare: checked once over the family's distinct label values.
    if _NEEDS_ESCAPE.isdisjoint("".join(set().union(*series))):
        return "".join(
            [f"{template % key}{format_value(value)}\n" for key, value in series.items()]
        )
    return "".join(
        [
            f"{template % tuple(map(_escape_label, key))}{format_value(value)}\n"
            for key, value in series.items()
        ]
    )


def render(sample_sets: Iterable[SampleSet]) -> str:
    """Renders the sample sets as one Prometheus text exposition (format 0.0.4)."""
    merged: dict[Family, list[dict[LabelValues, float]]] = {}
    for samples in sample_sets:
        for family, bucket in samples.series.items():
            if bucket:
                merged.setdefault(family, []).append(bucket)
    out: list[str] = []
    for family in sorted(merged, key=lambda f: f.name):
        out.append(f"# HELP {family.name} {_escape_help(family.help)}\n")
        out.append(f"# TYPE {family.name} {family.type}\n")
        # One %-template per family for the labels: 'name{a="%s",b="%s"} '.
        if family.labels:
            labels = ",".join(f'{n}="%s"' for n in family.labels)
            template = f"{family.name}{{{labels}}} "
        else:
            template = f"{family.name} "
        buckets = merged[family]
        if len(buckets) > 1:  # one key in several sample sets: the first one's sample
            first: dict[LabelValues, float] = {}
            for bucket in buckets:
                for key, value in bucket.items():
                    first.setdefault(key, value)
            buckets = [first]
        for bucket in buckets:
            if isinstance(bucket, SealedSeries):
                out.append(bucket.rendered(template))
            else:
                out.append(_series_text(template, bucket))
    return "".join(out)
