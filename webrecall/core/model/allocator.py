"""Zero-filled heap memory while fastText trains: a guard against an uninitialised read in fastText itself.

fastText (upstream since it adopted `intgemm::AlignedVector`, so 0.9.3 and the numpy-2 builds on PyPI alike)
allocates its input matrix with `posix_memalign`, which does not clear memory, and `DenseMatrix::uniform` fills
only `thread` tenths of it: with the one training thread a round uses (settings.FastTextParams.threads), 90% of the
word and n-gram rows start as whatever the allocator hands back. A fresh process gets fresh, zeroed pages from
mmap, so a test run alone passes; a process that has already trained and freed a model (a worker's second round,
the bench's second fold, a test session) can get its old floats back. Seen here: "Encountered NaN" at every
learning rate down to 1/64 of the default, and a distributed round recalling other pages than the same round
in-process. Zeroed, the rows are what a fresh process gets, whatever ran before.

glibc's M_PERTURB option fills each allocation with the complement of its byte: 255 gives zeros. It is set while
at least one training runs and cleared after. glibc fills what it carves from freed memory; what it maps fresh is
zero already. Not filled: a block it makes by growing the heap's top chunk, whose start can be old memory. The
matrix at the default bucket (200,000 rows x dim 64 = 51 MB) is above glibc's largest mmap threshold (32 MB), so
it never takes that path; a matrix under 32 MB (a much smaller bucket or dim) can, in a long-lived process.
Elsewhere than glibc there is no such option and the guard does nothing (a fresh process per training would be
the fallback there).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import platform
import threading
from collections.abc import Iterator
from typing import Any

M_PERTURB = -6
"""glibc's mallopt() parameter number (malloc.h)."""
ZERO_FILL = 0xFF
"""Allocations are filled with ~ZERO_FILL = 0x00 (freed memory with 0xFF, which nothing may read)."""

_lock = threading.Lock()
_active = 0


@functools.cache
def _mallopt() -> Any | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    fn = getattr(libc, "mallopt", None)
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def supported() -> bool:
    return _mallopt() is not None


@contextlib.contextmanager
def zeroed_allocations() -> Iterator[None]:
    """Every heap allocation of the process is zero-filled inside the block (nested and concurrent blocks share
    the setting; the last to leave clears it)."""
    global _active
    fn = _mallopt()
    if fn is None:
        yield
        return
    with _lock:
        if _active == 0 and fn(M_PERTURB, ZERO_FILL) != 1:
            raise OSError("mallopt(M_PERTURB) failed")
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                fn(M_PERTURB, 0)
