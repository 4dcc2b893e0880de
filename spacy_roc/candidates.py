"""Registered candidate-pair functions.

A candidate function takes the doc, its entity spans and the entity-type pairs seen in
training (or None, when nothing was learnt), and returns the ordered (head, tail) span
pairs to classify. A doc that lists its pairs in `doc._.relation_pairs` (the benchmark
protocol; spacy_roc.Corpus.v1 lists the gold pairs) is scored on exactly those, and
the candidate function is not asked. Swapping one is a config change:

    [components.roc_relations.candidates]
    @misc = "spacy_roc.all_pairs.v1"
    max_distance = 20
    restrict_types = true
"""
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Set, Tuple

from spacy.tokens import Doc, Span
from spacy.util import registry


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
        unique = _dedupe(entities)
        pairs = []
        for head in unique:
            for tail in unique:
                if _same_span(head, tail):
                    continue
                if self.max_distance is not None and span_distance(head, tail) > self.max_distance:
                    continue
                if self.restrict_types and type_pairs and (head.label_, tail.label_) not in type_pairs:
                    continue
                pairs.append((head, tail))
        return pairs


def _dedupe(spans: Iterable[Span]) -> List[Span]:
    seen = set()
    unique = []
    for span in spans:
        if (span.start, span.end) not in seen:
            seen.add((span.start, span.end))
            unique.append(span)
    return unique
