"""Registered corpus reader for relation data in `.spacy` files.

spaCy's own `spacy.Corpus.v1` builds the predicted doc from words only and drops user
data, so the image and the candidate pairs would be lost. This reader keeps, on the
predicted doc, the entities, the span groups, the image (relative paths resolved
against `images_dir`) and its objects, and optionally lists the gold pairs in `doc._.relation_pairs`
for the benchmark protocol. Gold relations stay on the reference doc only.
"""
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry

from .codec import record_pairs, resolve_path
from .docbin import read_docbin
from ..errors import Errors
from ..extensions import install_extensions


@registry.readers("spacy_roc.Corpus.v1")
def create_roc_corpus(
    path: Optional[Union[str, Path]],
    images_dir: Optional[Union[str, Path]] = None,
    gold_pairs: bool = True,
    limit: int = 0,
    use_images: bool = True,
) -> Callable[[Language], Iterable[Example]]:
    """Read relation examples from a `.spacy` file or a folder of them.

    path (Optional[Union[str, Path]]): A .spacy file or a folder; None yields nothing.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths.
    gold_pairs (bool): List the gold pairs in predicted doc._.relation_pairs.
    limit (int): Read at most this many docs (0: all).
    use_images (bool): Keep the images; False withholds them (text-only runs).
    RETURNS (Callable[[Language], Iterable[Example]]): The corpus.
    """
    return RelationCorpus(
        path, images_dir=images_dir, gold_pairs=gold_pairs, limit=limit, use_images=use_images
    )


class RelationCorpus:
    """Iterate over Examples of a relation corpus (see create_roc_corpus)."""

    def __init__(
        self,
        path: Optional[Union[str, Path]],
        *,
        images_dir: Optional[Union[str, Path]] = None,
        gold_pairs: bool = True,
        limit: int = 0,
        use_images: bool = True,
    ):
        install_extensions()
        self.path = Path(path) if path is not None else None
        self.images_dir = Path(images_dir) if images_dir is not None else None
        self.gold_pairs = gold_pairs
        self.limit = limit
        self.use_images = use_images

    def __call__(self, nlp: Language) -> Iterator[Example]:
        if self.path is None:
            return
        for i, reference in enumerate(self._read_docs(nlp)):
            if self.limit and i >= self.limit:
                break
            self._resolve_image(reference)
            yield Example(self._predicted(nlp, reference), reference)

    def _read_docs(self, nlp: Language) -> Iterator[Doc]:
        if not self.path.exists():
            raise ValueError(Errors.ROC_E025.format(path=self.path))
        files = sorted(self.path.glob("**/*.spacy")) if self.path.is_dir() else [self.path]
        for file in files:
            yield from read_docbin(file, nlp.vocab)

    def _resolve_image(self, doc: Doc) -> None:
        if not self.use_images:
            doc._.image = None
            return
        if isinstance(doc._.image, str):
            doc._.image = resolve_path(doc._.image, self.images_dir)

    def _predicted(self, nlp: Language, reference: Doc) -> Doc:
        words = [t.text for t in reference]
        spaces = [bool(t.whitespace_) for t in reference]
        doc = Doc(nlp.vocab, words=words, spaces=spaces)
        doc.ents = [Span(doc, e.start, e.end, label=e.label_, kb_id=e.kb_id_) for e in reference.ents]
        for key, group in reference.spans.items():
            doc.spans[key] = [Span(doc, s.start, s.end, label=s.label_, kb_id=s.kb_id_) for s in group]
        doc._.image = reference._.image
        doc._.objects = reference._.objects
        if self.gold_pairs:
            doc._.relation_pairs = record_pairs(reference._.relations)
        return doc

