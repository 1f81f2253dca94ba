"""Readable, MLflow-valid names for the figures a run logs (docs/mlflow.md lists them).

MLflow accepts letters, digits, ``_ - . /`` and spaces in a metric key; its UI groups keys
on ``.`` and treats ``/`` as a folder. The gates are named for people
(``calibration_slope[audit_disability_in_family/no]``), so replacing each refused
character by ``_`` gave keys such as ``gate.calibration_slope_audit_disability_in_family/no_
.passed``: a stray folder, trailing underscores, the ``audit_`` prefix of a column name. Here
every key is dot-separated segments of letters, digits, ``_`` and ``-``:

* a gate ``name[attribute/group]`` is ``gate.<name>.<attribute>.<group>.<field>`` (the
  attribute without its ``audit_`` prefix), e.g.
  ``gate.calibration_slope.disability_in_family.no.passed``;
* a figure at capacity names the capacity, because runs with a 5 % and an 8 % capacity must
  not share a key: ``precision_at_k`` becomes ``precision_at_5pct`` (a fraction of the
  families, ``2.5 %`` -> ``2p5pct``) or ``precision_at_top200`` (a count).
"""

from __future__ import annotations

import re

from training.config import CapacityConfig

_OUTSIDE_SEGMENT = re.compile(r"[^\w-]+")  # \w: letters of any script, digits, _
_AT_K = re.compile(r"_at_k(?=$|\.|_)")
_GATE = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<where>[^\]]*)\]$")
AUDIT_PREFIX = "audit_"


def segment(text: str) -> str:
    """``text`` as one key segment: each run of characters other than letters, digits, ``_``
    and ``-`` becomes one ``_`` (``blank`` when nothing is left: no key has ``..``)."""
    return _OUTSIDE_SEGMENT.sub("_", str(text).strip()).strip("_") or "blank"


def capacity_name(capacity: CapacityConfig) -> str:
    """``5pct`` for 5 % of the families, ``2p5pct`` for 2.5 %, ``top200`` for 200 families."""
    if capacity.count is not None:
        return f"top{capacity.count}"
    assert capacity.fraction is not None  # the config holds exactly one of the two
    percent = f"{capacity.fraction * 100:.4g}".replace(".", "p")
    return f"{percent}pct"


def at_capacity(key: str, capacity: CapacityConfig) -> str:
    """``key`` with every ``_at_k`` (a figure at capacity) naming the capacity."""
    return _AT_K.sub(f"_at_{capacity_name(capacity)}", key)


def gate_key(name: str) -> str:
    """``gate.<name>[.<attribute>.<group>]`` for a gate named ``name[attribute/group]``."""
    match = _GATE.match(name.strip())
    if match is None:
        return f"gate.{segment(name)}"
    parts = [segment(match["base"])]
    for i, part in enumerate(p for p in match["where"].split("/") if p.strip()):
        parts.append(segment(part.removeprefix(AUDIT_PREFIX) if i == 0 else part))
    return "gate." + ".".join(parts)


def readable_key(key: str) -> str:
    """A dotted key made of valid segments (for keys built from data: groups, models)."""
    return ".".join(segment(part) for part in key.split("."))
