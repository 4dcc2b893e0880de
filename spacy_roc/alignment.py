"""Gold against predicted relations: the one alignment that training, the scorer and
the visualisation share, so they cannot disagree.

Records are keyed by their (head, tail) sides: token offsets, or ("object", i). Gold records live on an
Example's reference doc; they are keyed on the *predicted* doc's tokens, mapped
through the Example's alignment when the two tokenizations differ. A pair without a
record has the no-relation label.
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from spacy.tokens import Span
from spacy.training import Example

from .errors import Errors
from .extensions import record_key
from .objects import SideKey, side_key

PairKey = Tuple[SideKey, SideKey]
# (pair, gold label, predicted label)
AlignedPair = Tuple[PairKey, str, str]


def labels_by_pair(records: Iterable[Mapping[str, Any]]) -> Dict[PairKey, str]:
    """{(head, tail): label} of relation records, in record order."""
    return {record_key(record): record["label"] for record in records}


def gold_by_pair(example: Example) -> Dict[PairKey, str]:
    """The reference's relation labels, keyed by (head, tail) offsets on the
    predicted doc. With another tokenization, each head and tail is mapped through
    the example's alignment; a record whose spans do not map is left out (its pair
    cannot be proposed on the predicted doc, so it counts as missed).

    example (Example): The example.
    RETURNS (Dict[PairKey, str]): Gold label by pair.
    """
    gold = labels_by_pair(example.reference._.relations)
    if [t.text for t in example.predicted] == [t.text for t in example.reference]:
        return gold
    reference = example.reference
    mapped: Dict[PairKey, str] = {}
    for (head, tail), label in gold.items():
        sides = [_aligned(example, reference, key) for key in (head, tail)]
        if None not in sides:
            mapped[(sides[0], sides[1])] = label
    return mapped


def _aligned(example: Example, reference: Any, key: Any) -> Optional[Any]:
    """A side's key on the predicted doc: an object's is its own; a span's is mapped
    through the alignment (None if it does not map)."""
    if key[0] == "object":
        return key
    aligned = example.get_aligned_spans_y2x([Span(reference, *key)], allow_overlap=True)
    return (aligned[0].start, aligned[0].end) if len(aligned) == 1 else None


def align(gold: Mapping[PairKey, str], predicted: Mapping[PairKey, str], none_label: str) -> List[AlignedPair]:
    """Every pair that has a gold or a predicted record, gold order first, with both
    labels (none_label where a side has no record).

    gold (Mapping[PairKey, str]): Gold label by pair.
    predicted (Mapping[PairKey, str]): Predicted label by pair.
    none_label (str): The no-relation label.
    RETURNS (List[AlignedPair]): (pair, gold label, predicted label).
    """
    keys = list(gold) + [key for key in predicted if key not in gold]
    return [(key, gold.get(key, none_label), predicted.get(key, none_label)) for key in keys]


def align_example(example: Example, none_label: str) -> List[AlignedPair]:
    """The gold and predicted relations of an annotated example (see align)."""
    return align(gold_by_pair(example), labels_by_pair(example.predicted._.relations), none_label)


def pair_key(head: Any, tail: Any) -> PairKey:
    """The key of a candidate (head, tail) pair (see spacy_roc.objects.side_key)."""
    return side_key(head), side_key(tail)


def status(gold: str, predicted: str, none_label: str) -> Optional[str]:
    """How a pair's prediction compares with its gold label: "match", "wrong-label",
    "extra" (predicted, gold says no relation), "missed" (gold relation, predicted no
    relation), or None when both say no relation."""
    if gold == predicted:
        return None if gold == none_label else "match"
    if gold == none_label:
        return "extra"
    return "missed" if predicted == none_label else "wrong-label"


def gold_indices(
    examples: Iterable[Example], pairs: Iterable[Iterable[Tuple[Span, Span]]], labels: List[str], none_label: str
) -> List[int]:
    """The index in `labels` of the gold label of every candidate pair, in order
    (none_label for a pair without gold record).

    examples (Iterable[Example]): The examples.
    pairs (Iterable[Iterable[Tuple[Span, Span]]]): Candidate pairs per example, on
        its predicted doc.
    labels (List[str]): The relation labels.
    none_label (str): The no-relation label.
    RETURNS (List[int]): One index per pair.
    RAISES (ValueError): ROC_E008 for a gold label outside `labels`.
    """
    index = {label: i for i, label in enumerate(labels)}
    result = []
    for example, doc_pairs in zip(examples, pairs):
        gold = gold_by_pair(example)
        for head, tail in doc_pairs:
            label = gold.get(pair_key(head, tail), none_label)
            if label not in index:
                raise ValueError(Errors.ROC_E008.format(label=label, labels=list(labels)))
            result.append(index[label])
    return result
