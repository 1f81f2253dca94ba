"""Generate every chunk (optionally in worker processes) and stream it to disk.

Chunks are generated in a bounded window of worker processes and written strictly in chunk
order, so the files are byte-for-byte the same whatever the number of workers, and memory
holds at most a few chunks at a time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import DEFAULT_LABEL_OUTCOMES
from features.synth.calendar import Calendar
from features.synth.generator import generate_chunk
from features.synth.process import DEFAULT_PARAMS, ProcessParams, SynthConfig
from features.synth.schemas import GROUND_TRUTH, GROUND_TRUTH_DEPLOYED
from features.synth.shift import apply_shift
from features.synth.writer import Format, RegistryWriter, prepare_out_dir, shadowing_files
from features.workers import worker_context


@dataclass
class ChunkOutput:
    """What a worker sends back: the chunk's tables and its label tallies."""

    chunk: int
    tables: dict[str, pa.Table]
    expected_labels: float  # sum of true_probability over (family, as_of) rows
    label_rows: int
    observed_labels: int  # recorded default labels over windows that end by the period end
    observed_rows: int


@dataclass
class SynthSummary:
    """What a run wrote: rows per table, label rates, where, and how long it took."""

    out_dir: Path
    rows: dict[str, int]
    expected_base_rate: float  # mean true_probability: expected default-label rate per year
    observed_base_rate: float  # share of (family, quarter end) with a recorded label
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.rows.get("events", 0) / self.seconds if self.seconds else float("nan")


def observed_label_tally(tables: dict[str, pa.Table], calendar: Calendar) -> tuple[int, int]:
    """(labels, rows) of the default label at the quarter ends whose 12-month window ends
    by the period's end, counted from the outcomes table as a label engine would."""
    truth = tables[GROUND_TRUTH]
    outcomes = tables["outcomes"]
    qualifying = pc.is_in(outcomes["outcome_type"], pa.array(DEFAULT_LABEL_OUTCOMES))
    out_fam = np.asarray(outcomes["family_id"].filter(qualifying).to_numpy(zero_copy_only=False))
    out_day = outcomes["outcome_date"].filter(qualifying).cast(pa.int32()).to_numpy()
    as_of = truth["as_of"].cast(pa.int32()).to_numpy()
    window_end = (
        (as_of.astype("datetime64[D]") + np.timedelta64(1, "D")).astype("datetime64[M]")
        + np.timedelta64(12, "M")
    ).astype("datetime64[D]").astype(np.int64) - 1
    complete = window_end <= calendar.end_day
    fam = np.asarray(truth["family_id"].to_numpy(zero_copy_only=False))[complete]
    as_of, window_end = as_of[complete], window_end[complete]
    if len(fam) == 0:
        return 0, 0
    order = np.argsort(out_fam, kind="stable")
    out_fam, out_day = out_fam[order], out_day[order]
    lo = np.searchsorted(out_fam, fam, side="left")
    hi = np.searchsorted(out_fam, fam, side="right")
    # families have few outcomes: check each candidate outcome position directly
    width = int((hi - lo).max()) if len(hi) else 0
    hit = np.zeros(len(fam), dtype=bool)
    for offset in range(width):
        idx = lo + offset
        valid = idx < hi
        day = out_day[np.minimum(idx, len(out_day) - 1)]
        hit |= valid & (day > as_of) & (day <= window_end)
    return int(hit.sum()), len(fam)


def process_of(config: SynthConfig, params: ProcessParams) -> ProcessParams:
    """The generating process a chunk uses: ``config.variant``'s when the caller passed the
    default process, else the caller's own.

    Resolved in the parent, before chunks go to workers: a worker receives a pickled copy,
    so an identity test against ``DEFAULT_PARAMS`` there is always false and every chunk
    but an in-process one silently fell back to the standard process."""
    if config.variant != "standard" and params is DEFAULT_PARAMS:
        from features.synth.variants import variant_params

        return variant_params(config.variant)
    return params


def run_chunk(config: SynthConfig, chunk: int, params: ProcessParams) -> ChunkOutput:
    """Generate one chunk and tally its labels (runs in a worker process)."""
    params = process_of(config, params)
    result = generate_chunk(config, chunk, params)
    tables = result.tables
    if config.shift_month is not None:
        tables = apply_shift(tables, shift_day=config.shift_month, seed=config.seed, chunk=chunk)
    truth = tables[GROUND_TRUTH]
    observed, rows = observed_label_tally(tables, Calendar.build(config.start, config.end))
    return ChunkOutput(
        chunk=chunk,
        tables=tables,
        expected_labels=float(pc.sum(truth["true_probability"]).as_py() or 0.0),
        label_rows=truth.num_rows,
        observed_labels=observed,
        observed_rows=rows,
    )


def iter_chunks(
    config: SynthConfig, *, workers: int = 1, params: ProcessParams = DEFAULT_PARAMS
) -> Iterator[ChunkOutput]:
    """Chunk outputs in chunk order; at most ``2 * workers`` chunks in flight."""
    params = process_of(config, params)
    if workers <= 1 or config.n_chunks == 1:
        for chunk in range(config.n_chunks):
            yield run_chunk(config, chunk, params)
        return
    # from the fork server (features.workers), not a fork: the CLI's progress bar runs a
    # thread while the chunks are generated. A script that calls synthesize(workers > 1)
    # needs the usual ``if __name__ == "__main__":`` guard, as for any spawned pool.
    context = worker_context()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[ChunkOutput]] = deque()
        next_chunk = 0
        while next_chunk < config.n_chunks or pending:
            while next_chunk < config.n_chunks and len(pending) < 2 * workers:
                pending.append(pool.submit(run_chunk, config, next_chunk, params))
                next_chunk += 1
            yield pending.popleft().result()


def synthesize(
    config: SynthConfig,
    out_dir: Path | str,
    *,
    fmt: Format = "parquet",
    workers: int = 1,
    overwrite: bool = False,
    on_chunk: Callable[[ChunkOutput], None] | None = None,
    params: ProcessParams = DEFAULT_PARAMS,
) -> SynthSummary:
    """Write the registry of ``config`` to ``out_dir``; ``on_chunk`` is called per chunk
    (the CLI advances its progress bar there)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out_dir = Path(out_dir)
    deployed = config.deploy_from is not None
    optional = ("interventions",) if deployed else ()
    files = prepare_out_dir(out_dir, fmt, overwrite=overwrite, optional=optional)
    stale = shadowing_files(out_dir, fmt)  # only left when overwrite is set
    stale += [out_dir / f"interventions.{fmt}"] if not deployed else []
    started = time.perf_counter()
    expected = observed = 0.0
    label_rows = observed_rows = 0
    schemas = {GROUND_TRUTH: GROUND_TRUTH_DEPLOYED} if deployed else None
    with RegistryWriter(files, fmt, remove_on_commit=stale, schemas=schemas) as writer:
        for output in iter_chunks(config, workers=workers, params=params):
            writer.write(output.tables)
            expected += output.expected_labels
            label_rows += output.label_rows
            observed += output.observed_labels
            observed_rows += output.observed_rows
            if on_chunk is not None:
                on_chunk(output)
    return SynthSummary(
        out_dir=out_dir,
        rows=dict(writer.rows),
        expected_base_rate=expected / label_rows if label_rows else float("nan"),
        observed_base_rate=observed / observed_rows if observed_rows else float("nan"),
        seconds=time.perf_counter() - started,
        files=files,
    )
