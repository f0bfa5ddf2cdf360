"""The blocking libraries (libvirt, pyVmomi, librados): imported on first use, their
errors put in one line.

A collector imports its library only when a collection needs it, through `load`, so that
reading the config never needs a binding and a missing one breaks only its own kind's
targets, with a message that says what to install.
"""

from __future__ import annotations

import importlib
from typing import Any


def load(module: str, missing: str) -> Any:
    """`module`, imported on first use (then from sys.modules), typed loosely: the bindings
    carry no annotations. `missing` is the error when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise RuntimeError(missing) from err


def describe(err: BaseException) -> str:
    """A one-line reason for on-call: the message (a pyVmomi fault's `msg`, whose str() is
    a dump of the whole fault object), whitespace collapsed, or the error's type."""
    message = getattr(err, "msg", None)
    if not isinstance(message, str) or not message.strip():
        message = str(err)
    return " ".join(message.split()) or type(err).__name__
