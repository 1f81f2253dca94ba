"""Validate a raw registry against the data contract (the pandas engine).

The public face of the validator: what pipelines, the CLI and notebooks import. Where
each part lives:

- :mod:`features.validation.validate`: ``validate_raw_dir``, ``validate_tables``,
  ``load_validated`` and :class:`InvalidRawDataError`;
- :mod:`features.validation.stream`: the same findings with events read in slices;
- :mod:`features.validation.rules`: every rule, its id, severity and message;
- :mod:`features.validation.kernels`: the vectorized look-ups the rules share;
- :mod:`features.validation.report`: the report and its JSON shape;
- :mod:`features.validation.background`: the training job's rule checks in a child
  process while it builds snapshots.

The Spark engine (:mod:`features.spark.validation`) builds on this package; nothing here
imports Spark.
"""

from features.validation.report import RuleViolation, ValidationReport
from features.validation.rulebook import RULES
from features.validation.validate import (
    InvalidRawDataError,
    load_validated,
    validate_raw_dir,
    validate_tables,
)

__all__ = [
    "RULES",
    "InvalidRawDataError",
    "RuleViolation",
    "ValidationReport",
    "load_validated",
    "validate_raw_dir",
    "validate_tables",
]
