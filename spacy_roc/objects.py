"""Objects in a doc's image (MORE-style relations): a relation's side may be a
region of the image instead of a text span.

``doc._.objects`` is a list of plain records, one per object of the doc's image:

    {"box": [x0, y0, x1, y1], "name": str | None, "caption": str | None}

The box is the object's corners, normalised to [0, 1] by the image's width and
height (x0 < x1, y0 < y1), so it survives resizing; converters turn other box formats
(MORE's normalised centre and size) into this one. The name (e.g. MORE's object key)
and the caption (what the object is, in words) are optional.

A pair side is a span, ``[start, end]`` token offsets, or an object, ``{"object":
i}`` (its index in ``doc._.objects``); relation records use the same two forms, and
predicted records add the object's box: ``{"object": 2, "box": [...]}``. Inside the
component an object side is an ``ImageObject``, which has the attributes of a span
that pairing reads (``label_``, a ``key``), so that the pair code does not branch.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, Span

from .errors import Errors

OBJECTS_KEY = ("._.", "objects", None, None)
# The entity type an object side shows the model, and the type pairs learn
OBJECT_LABEL = "OBJECT"
# MORE annotates at most 10 objects per image
MAX_OBJECTS = 10

Box = Tuple[float, float, float, float]
SideKey = Union[Tuple[int, int], Tuple[str, int]]


@dataclass(frozen=True)
class ImageObject:
    """An object of a doc's image as a pair side.

    index (int): Its index in doc._.objects.
    box (Box): (x0, y0, x1, y1), normalised to [0, 1].
    name (Optional[str]): Its name, if given.
    caption (Optional[str]): Its caption, if given.
    """

    index: int
    box: Box
    name: Optional[str] = None
    caption: Optional[str] = None

    label_ = OBJECT_LABEL

    @property
    def key(self) -> SideKey:
        return ("object", self.index)

    @property
    def text(self) -> str:
        """What the object is, in words: its caption, else its name, else "object"."""
        return self.caption or (self.name or "").replace("_", " ").strip() or "object"

    def to_json(self) -> Dict[str, Any]:
        """The side of a predicted record."""
        return {"object": self.index, "box": [float(v) for v in self.box]}


Side = Union[Span, ImageObject]


def side_key(side: Side) -> SideKey:
    """The hashable key of a pair side: (start, end) of a span, ("object", i)."""
    return side.key if isinstance(side, ImageObject) else (side.start, side.end)


def is_object(side: Any) -> bool:
    return isinstance(side, ImageObject)


def validate_objects(objects: Any) -> List[Dict[str, Any]]:
    """The objects of a doc as plain records (lists for boxes), checked.

    objects (Any): A list of {"box", "name", "caption"} records (or None: none).
    RETURNS (List[Dict[str, Any]]): The records.
    RAISES (ValueError): ROC_E045 for a malformed record.
    """
    if objects is None:
        return []
    if not isinstance(objects, (list, tuple)):
        raise ValueError(Errors.ROC_E045.format(index="list", reason=f"a {type(objects).__name__}, not a list"))
    return [validate_object(i, value) for i, value in enumerate(objects)]


def validate_object(index: Union[int, str], value: Any) -> Dict[str, Any]:
    """One object record, checked (see validate_objects)."""
    if not isinstance(value, dict):
        raise ValueError(Errors.ROC_E045.format(index=index, reason=f"a {type(value).__name__}, not an object"))
    unknown = sorted(set(value) - {"box", "name", "caption"})
    if unknown:
        raise ValueError(Errors.ROC_E045.format(index=index, reason=f"unknown fields {unknown}"))
    box = value.get("box")
    if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_number(v) for v in box)):
        raise ValueError(Errors.ROC_E045.format(index=index, reason=f"box {box!r} is not [x0, y0, x1, y1]"))
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        reason = f"box {list(box)} is not inside [0, 1] with x0 < x1 and y0 < y1 (normalised corners)"
        raise ValueError(Errors.ROC_E045.format(index=index, reason=reason))
    record = {"box": [x0, y0, x1, y1], "name": value.get("name"), "caption": value.get("caption")}
    for field in ("name", "caption"):
        if record[field] is not None and not isinstance(record[field], str):
            raise ValueError(Errors.ROC_E045.format(index=index, reason=f"{field} {record[field]!r} is not a string"))
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def doc_objects(doc: Doc) -> List[ImageObject]:
    """The objects of a doc as pair sides (ROC_E045 if doc._.objects is malformed)."""
    return [
        ImageObject(i, tuple(record["box"]), record["name"], record["caption"])
        for i, record in enumerate(validate_objects(doc._.objects))
    ]


def side_from_json(doc: Doc, value: Any, where: str) -> Side:
    """A pair side of a record or of doc._.relation_pairs: [start, end] token offsets,
    or {"object": i} (a "box" given with it is not read: the doc's object is).
    RAISES (ValueError): ROC_E015 if malformed or out of range."""
    if isinstance(value, dict):
        index = value.get("object")
        objects = doc_objects(doc)
        if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(objects)):
            raise ValueError(Errors.ROC_E015.format(record=value, reason=f"{where}: object {index!r} is not one of the doc's {len(objects)} objects"))
        return objects[index]
    try:
        start, end = int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError, KeyError) as err:
        raise ValueError(Errors.ROC_E015.format(record=value, reason=f"{where}: {err!r}")) from err
    if not 0 <= start < end <= len(doc):
        raise ValueError(Errors.ROC_E015.format(record=value, reason=f"{where}: offsets {[start, end]} outside the doc of {len(doc)} tokens"))
    return Span(doc, start, end)


def side_to_json(side: Side) -> Union[List[int], Dict[str, Any]]:
    """The record form of a side: [start, end], or {"object": i, "box": [...]}."""
    return side.to_json() if isinstance(side, ImageObject) else [int(side.start), int(side.end)]


def json_side_key(value: Any) -> SideKey:
    """The key of a side in record form (see side_key)."""
    if isinstance(value, dict):
        return ("object", int(value["object"]))
    return int(value[0]), int(value[1])


def boxes_of(objects: Sequence[Dict[str, Any]]) -> List[Box]:
    return [tuple(record["box"]) for record in objects]
