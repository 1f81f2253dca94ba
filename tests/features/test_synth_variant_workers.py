"""A variant is generated the same in worker processes as in-process.

Last round a chunk sent to a worker got a pickled copy of the default process, so the
identity test that picked the variant's process failed there and every registry of more
than one chunk generated with ``workers > 1`` (``earlyrisk synth``, the quality benchmark
at 20,000 families) was the standard registry under a variant's name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from features.synth import SynthConfig, synthesize

FAMILIES, CHUNK = 160, 80  # two chunks, so workers=2 really sends them to workers


def _generate(path: Path, variant: str, workers: int) -> Path:
    config = SynthConfig(families=FAMILIES, seed=11, variant=variant, chunk_families=CHUNK)
    synthesize(config, path, workers=workers)
    return path


@pytest.mark.parametrize("variant", ["seasonal"])
def test_a_variant_in_worker_processes_equals_the_in_process_one(
    tmp_path: Path, variant: str
) -> None:
    pooled = _generate(tmp_path / "pooled", variant, workers=2)
    inline = _generate(tmp_path / "inline", variant, workers=1)
    standard = _generate(tmp_path / "standard", "standard", workers=2)
    events = "events.parquet"
    assert (pooled / events).read_bytes() == (inline / events).read_bytes()
    assert (pooled / events).read_bytes() != (standard / events).read_bytes()
