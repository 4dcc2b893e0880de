"""Doc extensions and the relation record.

``doc._.image``: the image attached to a doc: a path (``str``/``Path``), encoded bytes,
a ``PIL.Image.Image`` or a numpy uint8 array (H, W, 3). Paths are stored as ``str`` so
that they survive ``DocBin`` and ``Doc.to_bytes``; bytes survive as they are.

``doc._.relations``: a list of relation records (see ``make_record``); never ``None``.

``doc._.relation_pairs``: optional list of ``[head, tail]`` pairs to classify, each
side ``[start, end]`` token offsets or ``{"object": i}``. A doc that lists them is
scored on exactly those (the benchmark protocol: spacy_roc.Corpus.v1 lists the gold
pairs); otherwise the component's candidate function proposes the pairs. An input
only: the component never writes it.

``doc._.objects``: the objects of the doc's image, ``{"box", "name", "caption"}``
records (see ``spacy_roc.objects``); a pair side may be one of them.
"""
from pathlib import Path
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy

from spacy.tokens import Doc, Span

from .errors import Errors
from .objects import OBJECTS_KEY, ImageObject, Side, SideKey, json_side_key, side_from_json, side_to_json

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
        if isinstance(out.get(key), dict):  # an object side
            out[key] = {name: list(value) if name == "box" else value for name, value in out[key].items()}
        elif key in out:
            out[key] = list(out[key])
    if "alternatives" in out:
        out["alternatives"] = [list(alt) for alt in out["alternatives"]]
    return out


def _set_relations(doc: Doc, value: Optional[List[Dict[str, Any]]]) -> None:
    doc.user_data[RELATIONS_KEY] = [] if value is None else list(value)


def _get_pairs(doc: Doc) -> Optional[List[List[Any]]]:
    value = doc.user_data.get(PAIRS_KEY)
    if value is not None and (not isinstance(value, list) or any(not isinstance(pair, list) for pair in value)):
        _set_pairs(doc, value)
        value = doc.user_data[PAIRS_KEY]
    return value


def _set_pairs(doc: Doc, value: Optional[Iterable[Sequence[Any]]]) -> None:
    if value is None:
        doc.user_data[PAIRS_KEY] = None
    else:
        doc.user_data[PAIRS_KEY] = [[_side_value(h), _side_value(t)] for h, t in value]


def _side_value(side: Any) -> Any:
    """A side as plain data: [start, end], or {"object": i}."""
    if isinstance(side, ImageObject):
        return {"object": side.index}
    if isinstance(side, dict):
        return {"object": int(side["object"])}
    return list(map(int, side))


def _get_objects(doc: Doc) -> List[Dict[str, Any]]:
    value = doc.user_data.get(OBJECTS_KEY)
    if value is not None and not isinstance(value, list):
        value = [_object_lists(record) for record in value]
        doc.user_data[OBJECTS_KEY] = value
    return [] if value is None else value


def _object_lists(record: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(record)
    if "box" in out and out["box"] is not None:
        out["box"] = list(out["box"])
    return out


def _set_objects(doc: Doc, value: Optional[Iterable[Dict[str, Any]]]) -> None:
    from .objects import validate_objects

    doc.user_data[OBJECTS_KEY] = validate_objects(None if value is None else list(value))


def install_extensions() -> None:
    """Register the Doc extensions of spacy-roc. Safe to call more than once."""
    extensions = {
        "image": (_get_image, _set_image),
        "relations": (_get_relations, _set_relations),
        "relation_pairs": (_get_pairs, _set_pairs),
        "objects": (_get_objects, _set_objects),
    }
    for name, (getter, setter) in extensions.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, getter=getter, setter=setter)


def make_record(
    head: Any,
    tail: Any,
    label: str,
    score: float = 1.0,
    alternatives: Sequence[Tuple[str, float]] = (),
) -> Dict[str, Any]:
    """Build a plain, msgpack- and JSON-safe relation record.

    head (Any): The head: token offsets (start, end), end exclusive; or an object
        side ({"object": i} or an ImageObject, written with its box).
    tail (Any): The tail, likewise.
    label (str): The relation label.
    score (float): The probability of the label.
    alternatives (Sequence[Tuple[str, float]]): Runner-up labels and probabilities.
    RETURNS (Dict[str, Any]): The record.
    """
    return {
        "head": _record_side(head),
        "tail": _record_side(tail),
        "label": str(label),
        "score": float(score),
        "alternatives": [[str(lab), float(s)] for lab, s in alternatives],
    }


def _record_side(side: Any) -> Any:
    if isinstance(side, ImageObject):
        return side.to_json()
    if isinstance(side, dict):
        return {"object": int(side["object"]), **({"box": [float(v) for v in side["box"]]} if "box" in side else {})}
    return [int(side[0]), int(side[1])]


def record_key(record: Dict[str, Any]) -> Tuple[SideKey, SideKey]:
    """The (head, tail) keys of a record, hashable: (start, end) token offsets, or
    ("object", i)."""
    return json_side_key(record["head"]), json_side_key(record["tail"])


def validate_record(doc: Doc, record: Any) -> Tuple[SideKey, SideKey]:
    """Check a record against a doc and return its (head, tail) keys.

    doc (Doc): The doc the record belongs to.
    record (Any): The record to check.
    RETURNS (Tuple[SideKey, SideKey]): The keys of head and tail: (start, end) token
        offsets, or ("object", i).
    RAISES (ValueError): ROC_E015 if the record is malformed or out of range.
    """
    head, tail = record_sides(doc, record)
    return _key(head), _key(tail)


def _key(side: Side) -> SideKey:
    return side.key if isinstance(side, ImageObject) else (side.start, side.end)


def record_sides(doc: Doc, record: Any) -> Tuple[Side, Side]:
    """The head and tail of a record: Spans, or ImageObjects (ROC_E015 if the record
    is malformed or out of range)."""
    if not isinstance(record, dict) or "head" not in record or "tail" not in record or "label" not in record:
        raise ValueError(Errors.ROC_E015.format(record=record, reason="not a {head, tail, label} record"))
    head, tail = (side_from_json(doc, record[key], key) for key in ("head", "tail"))
    if _key(head) == _key(tail):
        raise ValueError(Errors.ROC_E015.format(record=record, reason="head == tail"))
    if not isinstance(record["label"], str):
        raise ValueError(Errors.ROC_E015.format(record=record, reason="label is not a str"))
    return head, tail


def relation_spans(doc: Doc, record: Dict[str, Any]) -> Tuple[Side, Side]:
    """Return the head and tail of a relation record as Span objects (an object side
    as a spacy_roc.objects.ImageObject: its index, box, name and caption).

    doc (Doc): The doc the record belongs to.
    record (Dict[str, Any]): A record from doc._.relations.
    RETURNS (Tuple[Side, Side]): The head and the tail.
    """
    return record_sides(doc, record)


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

    pairs (Sequence[Tuple[Side, Side]]): The (head, tail) pairs of a doc.
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
            records.append(make_record(side_to_json(head), side_to_json(tail), labels[best], score, alternatives))
    return records
