"""Keep freed memory inside the process, so the next training step reuses it instead of asking the kernel again.

Every step allocates and frees the same activation and gradient buffers (megabytes each). With glibc's default
settings, blocks that size are mmap-ed and munmap-ed, or trimmed off the heap, each time: the kernel then zeroes
fresh pages on first touch, which for the wide MLP of experiment=mlp_sota was a quarter of all CPU time. Raising the
two thresholds keeps the blocks in the heap (what it saved: docs/speed.md, "Freed memory stays in the process").
Freed memory stays reserved by the process, which is what a loop that reallocates the same sizes every step wants.
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
