"""Runs every benchmark in turn: `make bench`."""

from __future__ import annotations

import importlib
import pkgutil

import benchmarks


def main() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)):
        if module != "run":
            importlib.import_module(f"benchmarks.{module}").main()
            print()


if __name__ == "__main__":
    main()
