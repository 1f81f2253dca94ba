"""Synthetic national family registry that follows the raw-data contract.

A latent, time-varying vulnerability per family drives records in all five domains and
the outcome hazard; households change over time; records arrive late; one group is
surveilled more than others. ``docs/synthetic_registry.md`` documents the process.

Entry points: :func:`synthesize` writes a registry directory; :func:`generate_chunk`
returns one chunk in memory (with its latent path, for diagnostics).
"""

from features.synth.generator import ChunkResult, generate_chunk
from features.synth.pipeline import SynthSummary, synthesize
from features.synth.process import DEFAULT_PARAMS, ProcessParams, SynthConfig

__all__ = [
    "DEFAULT_PARAMS",
    "ChunkResult",
    "ProcessParams",
    "SynthConfig",
    "SynthSummary",
    "generate_chunk",
    "synthesize",
]
