"""spacy_roc.release_memory.v1: memory freed during training goes back to the OS."""
import subprocess
import sys
import textwrap

import pytest

from spacy_roc.callbacks import _glibc

# A training step's pattern, with glibc's malloc: blocks of many sizes, interleaved
# with small blocks that stay; the large ones are freed at the end of the step.
PROGRAM = textwrap.dedent(
    """
    import ctypes, sys
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

    def step(sizes):
        large, small = [], []
        for size in sizes:
            large.append(libc.malloc(size))
            ctypes.memset(large[-1], 1, size)
            small.append(libc.malloc(2048))
        held = rss_mb()
        for block in large:
            libc.free(block)
        return held, small

    # freeing a big block raises glibc's mmap threshold, as a first step does
    big = libc.malloc(30 << 20); ctypes.memset(big, 1, 30 << 20); libc.free(big)
    if sys.argv[1] == "callback":
        import spacy
        release = spacy.registry.callbacks.get("spacy_roc.release_memory.v1")()
        release(None, {"step": 0, "epoch": 0})
    held, _ = step([2_000_000 + 40_000 * i for i in range(60)])  # 2-4 MB, ~210 MB
    print(held - rss_mb())
    held, _ = step([64_000 + 20 * i for i in range(2000)])  # 64-104 kB, ~170 MB
    kept = rss_mb()
    if sys.argv[1] == "callback":
        release(None, {"step": 1, "epoch": 0})
    print(held - kept, held - rss_mb())
    """
)


def freed_mb(mode: str):
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True).stdout
    large, small = out.split("\n")[:2]
    return float(large), [float(x) for x in small.split()]


@pytest.mark.skipif(not sys.platform.startswith("linux") or _glibc() is None, reason="glibc only")
def test_freed_memory_goes_back_to_the_os():
    large, (_, small) = freed_mb("callback")
    # blocks of 1 MB or more (about 210 MB): given back as soon as they are freed
    assert large > 150
    # smaller blocks (about 170 MB): given back before the next step
    assert small > 120
