"""Registered candidate-pair functions.

A candidate function takes the doc, its entity spans and the entity-type pairs seen in
training (or None, when nothing was learnt), and returns the ordered (head, tail)
pairs to classify: pairs of spans, and, when the doc's image has objects
(`doc._.objects`), (entity, object) pairs, the text entity as head (MORE's
direction); an object side's type is "OBJECT". A doc that lists its pairs in `doc._.relation_pairs` (the benchmark
protocol; spacy_roc.Corpus.v1 lists the gold pairs) is scored on exactly those, and
the candidate function is not asked. Swapping one is a config change:

    [components.roc_relations.candidates]
    @misc = "spacy_roc.all_pairs.v1"
    max_distance = 20
    restrict_types = true
"""
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Set, Tuple

from spacy.tokens import Doc, Span
from spacy.util import registry

from .errors import Errors, Warnings, warn
from .objects import doc_objects


Pair = Tuple[Span, Span]
TypePairs = Optional[Set[Tuple[str, str]]]
CandidateFunc = Callable[[Doc, List[Span], TypePairs], List[Pair]]


def span_distance(a: Span, b: Span) -> int:
    """Number of tokens between two spans (0 if they touch or overlap)."""
    return max(0, max(a.start, b.start) - min(a.end, b.end))


def _same_span(a: Span, b: Span) -> bool:
    return a.start == b.start and a.end == b.end


@registry.misc("spacy_roc.all_pairs.v1")
def make_all_pairs(max_distance: Optional[int] = None, restrict_types: bool = True) -> CandidateFunc:
    """All ordered pairs of distinct entity spans.

    max_distance (Optional[int]): Keep pairs at most this many tokens apart.
    restrict_types (bool): Keep only (head label, tail label) pairs seen with a
        relation in training. Has no effect before training.
    RETURNS (CandidateFunc): The candidate function (picklable, so that pipelines
        can be sent to spawned worker processes).
    """
    return AllPairs(max_distance, restrict_types)


@dataclass(frozen=True)
class AllPairs:
    """The candidate function of `spacy_roc.all_pairs.v1` (see make_all_pairs)."""

    max_distance: Optional[int] = None
    restrict_types: bool = True

    def __call__(self, doc: Doc, entities: List[Span], type_pairs: TypePairs = None) -> List[Pair]:
        def near(head: Span, tail: Span) -> bool:
            return self.max_distance is None or span_distance(head, tail) <= self.max_distance

        return _ordered_pairs(entities, near, type_pairs if self.restrict_types else None)


@registry.misc("spacy_roc.sentence_pairs.v1")
def make_sentence_pairs(window: int = 0, restrict_types: bool = True) -> CandidateFunc:
    """Ordered pairs of distinct entity spans at most `window` sentences apart (0:
    in the same sentence), for long documents: a news article with 20 entities has
    380 ordered pairs, most of them across sentences. The sentences are the doc's
    (a `sentencizer`, `senter` or `parser` before the component sets them); a doc
    without sentence boundaries is one sentence (ROC_W015).

    window (int): How many sentences apart a pair's entities may be (by the
        sentences of their first tokens).
    restrict_types (bool): As in spacy_roc.all_pairs.v1.
    RETURNS (CandidateFunc): The candidate function (picklable).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(Errors.ROC_E044.format(value=window))
    return SentencePairs(window, restrict_types)


@dataclass(frozen=True)
class SentencePairs:
    """The candidate function of `spacy_roc.sentence_pairs.v1` (see make_sentence_pairs)."""

    window: int = 0
    restrict_types: bool = True

    def __call__(self, doc: Doc, entities: List[Span], type_pairs: TypePairs = None) -> List[Pair]:
        if not doc.has_annotation("SENT_START"):
            if len(entities) > 1:
                warn(Warnings.ROC_W015)
            sentence = [0] * len(doc)
        else:
            sentence = list(itertools.accumulate(int(bool(token.is_sent_start) and token.i > 0) for token in doc))

        def near(head: Span, tail: Span) -> bool:
            return abs(sentence[head.start] - sentence[tail.start]) <= self.window

        return _ordered_pairs(entities, near, type_pairs if self.restrict_types else None)


def _ordered_pairs(entities: Iterable[Span], near: Callable[[Span, Span], bool], type_pairs: TypePairs) -> List[Pair]:
    """The ordered pairs of distinct spans (deduplicated by offsets) that are near,
    then each entity with each object of the doc's image; with a (head label, tail
    label) pair in type_pairs if it is given."""
    unique = _dedupe(entities)
    pairs = []
    for head in unique:
        for tail in unique:
            if _same_span(head, tail) or not near(head, tail):
                continue
            if type_pairs and (head.label_, tail.label_) not in type_pairs:
                continue
            pairs.append((head, tail))
    objects = doc_objects(unique[0].doc) if unique else []
    pairs += [(head, obj) for head in unique for obj in objects if not type_pairs or (head.label_, obj.label_) in type_pairs]
    return pairs


def _dedupe(spans: Iterable[Span]) -> List[Span]:
    seen = set()
    unique = []
    for span in spans:
        if (span.start, span.end) not in seen:
            seen.add((span.start, span.end))
            unique.append(span)
    return unique
