"""Synthetic national family registry that follows the raw-data contract.

A latent, time-varying vulnerability per family drives records in all five domains and
the outcome hazard; households change over time; records arrive late; one group is
surveilled more than others. ``docs/synthetic_registry.md`` documents the process.

Entry points: :func:`synthesize` writes a registry directory; :func:`generate_chunk`
returns one chunk in memory (with its latent path, for diagnostics).

The names below are loaded on first use (PEP 562): importing the package for its CLI
module (``features.synth.cli``, which every ``earlyrisk`` start imports) would otherwise
load scipy through the generator, measured at 1.4 s of the 1.8 s ``earlyrisk --help``
took (``python -X importtime -c "import earlyrisk.cli"``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.synth.generator import ChunkResult, generate_chunk
    from features.synth.pipeline import SynthSummary, synthesize
    from features.synth.process import DEFAULT_PARAMS, ProcessParams, SynthConfig

_HOME = {
    "ChunkResult": "features.synth.generator",
    "generate_chunk": "features.synth.generator",
    "SynthSummary": "features.synth.pipeline",
    "synthesize": "features.synth.pipeline",
    "DEFAULT_PARAMS": "features.synth.process",
    "ProcessParams": "features.synth.process",
    "SynthConfig": "features.synth.process",
}

__all__ = [
    "DEFAULT_PARAMS",
    "ChunkResult",
    "ProcessParams",
    "SynthConfig",
    "SynthSummary",
    "generate_chunk",
    "synthesize",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'features.synth' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
