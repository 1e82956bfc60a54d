"""Freed memory handed back to the system.

glibc keeps the pages of freed chunks (a batch's tensors, gRPC's buffers) for reuse, so after a burst of work a
process holds its peak, whatever its streams still hold. `malloc_trim(0)` returns the free pages of every arena.
"""

import ctypes
import ctypes.util

__all__ = ["give_back_freed_memory"]


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def give_back_freed_memory() -> bool:
    """The allocator's free pages back to the system; False where it has no such call."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
