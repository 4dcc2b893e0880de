"""Registered training callbacks."""
import ctypes
import sys
from typing import Any, Callable, Dict, Optional

from spacy.language import Language
from spacy.util import registry

# mallopt parameter (glibc malloc.h): allocations of at least this many bytes are
# mapped from the OS on their own, and given back when freed
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


@registry.callbacks("spacy_roc.release_memory.v1")
def make_release_memory() -> Callable[[Language, Dict[str, Any]], None]:
    """A `[training.before_update]` callback that keeps a CPU training process from
    growing step by step (glibc only; a no-op with other C libraries).

    roc_relations' own network steps its weights in place and runs without oneDNN
    (spacy_roc/model/shim.py), so its training does not grow. A shared spaCy
    `transformer` (spacy-transformers) still steps its weights as thinc's PyTorchShim
    does, leaving long-lived blocks among each step's freed activations, so glibc can
    neither reuse nor return them; configs/mnre_minilm_listener.cfg uses this
    callback. At the first step it has blocks of 1 MB or more mapped on their own, so
    that freeing one gives it back to the OS, and before every step it gives back the
    freed small blocks too (`malloc_trim`), at the cost of page faults (about a fifth
    of the step time on CPU). See docs/memory-and-speed.md.

    RETURNS (Callable[[Language, Dict[str, Any]], None]): The callback.
    """
    libc = _glibc()
    state = {"configured": False}

    def release_memory(nlp: Language, info: Dict[str, Any]) -> None:
        if libc is None:
            return
        if not state["configured"]:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            state["configured"] = True
        libc.malloc_trim(0)

    return release_memory


def _glibc() -> Optional[Any]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # not glibc (e.g. musl): AttributeError
    except (OSError, AttributeError):
        return None
    return libc
