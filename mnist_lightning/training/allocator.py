"""Keep freed memory inside the process, so the next training step reuses it instead of asking the kernel again.

Every step allocates and frees the same activation and gradient buffers (megabytes each). With glibc's default
settings, blocks that size are mmap-ed and munmap-ed, or trimmed off the heap, each time: the kernel then zeroes
fresh pages on first touch. For the 3x2048 MLP of experiment=mlp_sota that was a quarter of all CPU time, spent in
the kernel (10.9 million page faults in 4 epochs). Raising the two thresholds keeps the blocks in the heap: 3 epochs
took 28.9 and 28.3 s instead of 41.3 and 37.9 s (runs alternated on the 2-core CPU; kernel time 2.2-2.7 s instead
of 19.7-21.8 s), with identical accuracy. Freed memory stays reserved by the process, which is what a loop that
reallocates the same sizes every step wants.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling for this setting (64-bit); larger blocks are still mmap-ed
TRIM_THRESHOLD = 1024 * 1024 * 1024  # give memory back only once a gigabyte is free at the top of the heap


def keep_freed_memory() -> bool:
    """Apply the settings above; True if they took effect (glibc on Linux), False elsewhere (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl): keep its defaults
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
