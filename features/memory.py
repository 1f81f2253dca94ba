"""Give memory that is free again back to the operating system.

After a streamed pass (validation of a million-row slice at a time) the process holds
little live data, but the allocators keep most of the freed pages: Arrow's pool
(mimalloc by default) and glibc's malloc both reuse them later instead of returning them.
Returning the free pages lowers the parent's footprint while its workers run
(:mod:`features.workers`; when workers were forked, each also inherited and counted the
parent's resident pages): the process that
opened a registry held 0.82 GB after validation and 0.54 GB after this at 100k families;
at 1M (1.14M families, 68.8M events) 1.57 GB (before this it held about 5.7 GB when it
forked its workers): the five small tables (0.66 GB), the partition plan (0.10 GB), the
imports and the allocators' remaining fragments.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa


def release_free_memory() -> None:
    """Return free pages of Arrow's pool and of glibc's heap to the OS (best effort: a C
    library without ``malloc_trim``, e.g. musl or macOS, keeps its pages)."""
    pa.default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
