"""The as-of feature engine: raw registry -> one row per (family, as-of date).

The engine is three modules, each with one job; this module is their public face, so
callers import from one place:

- :mod:`features.compute`: the pure computation (:func:`compute_partition`,
  :func:`attribute_events`), RawTables in, DataFrame out, no I/O;
- :mod:`features.partitions`: the partitioned driver (:func:`build_feature_table`,
  :func:`feature_partitions`, the stable hash of ``family_id``, workers from a fork server);
- :mod:`features.snapshot_store`: Parquet storage of feature tables with their
  fingerprints (:func:`raw_fingerprint`, the ``earlyrisk.*`` metadata keys).
"""

from __future__ import annotations

from features.compute import (
    KEY_COLUMNS,
    LABEL_COLUMNS,
    WELLBEING_COLUMNS,
    attribute_events,
    compute_partition,
    normalise_as_of,
    output_columns,
)
from features.partitions import (
    DEFAULT_FAMILIES_PER_PARTITION,
    PartitionPlan,
    build_feature_table,
    default_jobs,
    feature_partitions,
    partition_of,
    partition_plan,
    split_partitions,
)
from features.snapshot_store import (
    META_CONFIG,
    META_FEATURE_LIST,
    META_PREFIX,
    META_RAW,
    raw_fingerprint,
    read_feature_table,
    read_feature_table_metadata,
    write_feature_table,
)

__all__ = [
    "DEFAULT_FAMILIES_PER_PARTITION",
    "KEY_COLUMNS",
    "LABEL_COLUMNS",
    "META_CONFIG",
    "META_FEATURE_LIST",
    "META_PREFIX",
    "META_RAW",
    "WELLBEING_COLUMNS",
    "PartitionPlan",
    "attribute_events",
    "build_feature_table",
    "compute_partition",
    "default_jobs",
    "feature_partitions",
    "normalise_as_of",
    "output_columns",
    "partition_of",
    "partition_plan",
    "raw_fingerprint",
    "read_feature_table",
    "read_feature_table_metadata",
    "split_partitions",
    "write_feature_table",
]
