"""Fast reading and writing of `.spacy` files that carry user data.

srsly looks its msgpack encoders and decoders up through the installed packages'
entry points on every (un)packing call, and DocBin makes about three such calls per
doc, which dominates the time to read or write a corpus. `cached_msgpack` answers
those look-ups from one cached result while a corpus is read or written.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Union

import srsly
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab


def write_docbin(docs: Iterable[Doc], path: Path) -> None:
    """Write docs with their user data to a .spacy file, fast (see cached_msgpack).

    docs (Iterable[Doc]): The docs.
    path (Path): The .spacy file.
    """
    with cached_msgpack():
        doc_bin = DocBin(docs=docs, store_user_data=True)
    doc_bin.to_disk(path)


def read_docbin(path: Union[str, Path], vocab: Optional[Vocab] = None) -> List[Doc]:
    """Read all docs of a .spacy file, fast (see cached_msgpack).

    path (Union[str, Path]): The .spacy file.
    vocab (Optional[Vocab]): The vocab of the docs; a new one by default.
    RETURNS (List[Doc]): The docs, with their user data.
    """
    vocab = vocab if vocab is not None else Vocab()
    with cached_msgpack():
        return list(DocBin().from_disk(path).get_docs(vocab))


@contextmanager
def cached_msgpack() -> Iterator[None]:
    """Within the block, srsly's msgpack encoder and decoder registries answer
    get_all() from a cached result.

    srsly looks its encoders and decoders up through the installed packages' entry
    points on every (un)packing call, and DocBin makes about three such calls per doc,
    which dominates the time to write or read a corpus (about 2 ms per doc here). The
    cache holds the same functions, so the bytes and docs are the same. Not
    thread-safe: another thread registering a msgpack encoder meanwhile is not seen.
    """
    registries = (srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders)
    for registry in registries:
        functions = registry.get_all()
        registry.get_all = lambda functions=functions: dict(functions)
    try:
        yield
    finally:
        for registry in registries:
            del registry.get_all
