"""Doc extensions and the relation record.

``doc._.image``: the image attached to a doc: a path (``str``/``Path``), encoded bytes,
a ``PIL.Image.Image`` or a numpy uint8 array (H, W, 3). Paths are stored as ``str`` so
that they survive ``DocBin`` and ``Doc.to_bytes``; bytes survive as they are.

``doc._.relations``: a list of relation records (see ``make_record``); never ``None``.

``doc._.relation_pairs``: optional list of ``[[head_start, head_end], [tail_start,
tail_end]]`` entity pairs to classify. A doc that lists them is scored on exactly
those (the benchmark protocol: spacy_roc.Corpus.v1 lists the gold pairs); otherwise
the component's candidate function proposes the pairs. An input only: the component
never writes it.
"""
from pathlib import Path
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy

from spacy.tokens import Doc, Span

from .errors import Errors

IMAGE_KEY = ("._.", "image", None, None)
RELATIONS_KEY = ("._.", "relations", None, None)
PAIRS_KEY = ("._.", "relation_pairs", None, None)

Offsets = Tuple[int, int]


def _get_image(doc: Doc) -> Any:
    return doc.user_data.get(IMAGE_KEY)


def _set_image(doc: Doc, value: Any) -> None:
    doc.user_data[IMAGE_KEY] = str(value) if isinstance(value, Path) else value


def _get_relations(doc: Doc) -> List[Dict[str, Any]]:
    value = doc.user_data.get(RELATIONS_KEY)
    if not isinstance(value, list):
        # DocBin and Doc.from_bytes read user data back with tuples for lists.
        value = [_as_lists(record) for record in value or ()]
        doc.user_data[RELATIONS_KEY] = value
    return value


def _as_lists(record: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(record)
    for key in ("head", "tail"):
        if key in out:
            out[key] = list(out[key])
    if "alternatives" in out:
        out["alternatives"] = [list(alt) for alt in out["alternatives"]]
    return out


def _set_relations(doc: Doc, value: Optional[List[Dict[str, Any]]]) -> None:
    doc.user_data[RELATIONS_KEY] = [] if value is None else list(value)


def _get_pairs(doc: Doc) -> Optional[List[List[List[int]]]]:
    value = doc.user_data.get(PAIRS_KEY)
    if value is not None and not isinstance(value, list):
        _set_pairs(doc, value)
        value = doc.user_data[PAIRS_KEY]
    return value


def _set_pairs(doc: Doc, value: Optional[Iterable[Sequence[Sequence[int]]]]) -> None:
    if value is None:
        doc.user_data[PAIRS_KEY] = None
    else:
        doc.user_data[PAIRS_KEY] = [[list(map(int, h)), list(map(int, t))] for h, t in value]


def install_extensions() -> None:
    """Register the Doc extensions of spacy-roc. Safe to call more than once."""
    extensions = {
        "image": (_get_image, _set_image),
        "relations": (_get_relations, _set_relations),
        "relation_pairs": (_get_pairs, _set_pairs),
    }
    for name, (getter, setter) in extensions.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, getter=getter, setter=setter)


def make_record(
    head: Offsets,
    tail: Offsets,
    label: str,
    score: float = 1.0,
    alternatives: Sequence[Tuple[str, float]] = (),
) -> Dict[str, Any]:
    """Build a plain, msgpack- and JSON-safe relation record.

    head (Tuple[int, int]): Token offsets of the head entity, end exclusive.
    tail (Tuple[int, int]): Token offsets of the tail entity, end exclusive.
    label (str): The relation label.
    score (float): The probability of the label.
    alternatives (Sequence[Tuple[str, float]]): Runner-up labels and probabilities.
    RETURNS (Dict[str, Any]): The record.
    """
    return {
        "head": [int(head[0]), int(head[1])],
        "tail": [int(tail[0]), int(tail[1])],
        "label": str(label),
        "score": float(score),
        "alternatives": [[str(lab), float(s)] for lab, s in alternatives],
    }


def record_key(record: Dict[str, Any]) -> Tuple[Offsets, Offsets]:
    """The (head, tail) offsets of a record, as a hashable key."""
    head, tail = record["head"], record["tail"]
    return (int(head[0]), int(head[1])), (int(tail[0]), int(tail[1]))


def validate_record(doc: Doc, record: Any) -> Tuple[Offsets, Offsets]:
    """Check a record against a doc and return its (head, tail) offsets.

    doc (Doc): The doc the record belongs to.
    record (Any): The record to check.
    RETURNS (Tuple[Offsets, Offsets]): The head and tail offsets.
    RAISES (ValueError): ROC_E015 if the record is malformed or out of range.
    """
    try:
        head, tail = record_key(record)
        label = record["label"]
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ValueError(Errors.ROC_E015.format(record=record, reason=repr(err))) from err
    for start, end in (head, tail):
        if not 0 <= start < end <= len(doc):
            reason = f"offsets {[start, end]} outside the doc of {len(doc)} tokens"
            raise ValueError(Errors.ROC_E015.format(record=record, reason=reason))
    if head == tail:
        raise ValueError(Errors.ROC_E015.format(record=record, reason="head == tail"))
    if not isinstance(label, str):
        raise ValueError(Errors.ROC_E015.format(record=record, reason="label is not a str"))
    return head, tail


def relation_spans(doc: Doc, record: Dict[str, Any]) -> Tuple[Span, Span]:
    """Return the head and tail of a relation record as Span objects.

    doc (Doc): The doc the record belongs to.
    record (Dict[str, Any]): A record from doc._.relations.
    RETURNS (Tuple[Span, Span]): The head and tail spans.
    """
    head, tail = validate_record(doc, record)
    return doc[head[0] : head[1]], doc[tail[0] : tail[1]]


def predicted_records(
    pairs: Sequence[Tuple[Span, Span]],
    probs: Iterator[numpy.ndarray],
    labels: Sequence[str],
    none_label: str,
    threshold: float,
    top_k: int,
) -> List[Dict[str, Any]]:
    """The records of the pairs whose best label is not none_label and scores at
    least threshold, with the top_k runner-ups as alternatives.

    pairs (Sequence[Tuple[Span, Span]]): The (head, tail) pairs of a doc.
    probs (Iterator[numpy.ndarray]): The probabilities (R,) of each pair, consumed in order.
    labels (Sequence[str]): The relation labels.
    none_label (str): The no-relation label.
    threshold (float): Minimum probability.
    top_k (int): Runner-ups listed.
    RETURNS (List[Dict[str, Any]]): The records.
    """
    records = []
    for (head, tail), row in zip(pairs, probs):
        order = numpy.argsort(-row, kind="stable")
        best, score = int(order[0]), float(row[order[0]])
        if labels[best] != none_label and score >= threshold:
            alternatives = [(labels[i], float(row[i])) for i in islice(order[1:], top_k)]
            records.append(make_record((head.start, head.end), (tail.start, tail.end), labels[best], score, alternatives))
    return records
