"""The one Doc ⇄ JSON codec of spacy-roc. Every command that reads or writes docs as
JSON calls it: ``annotate`` (its input and output lines), ``visualize`` (JSONL data),
``convert prodigy`` and ``export prodigy`` (a task's image), and the corpus reader
(the gold pairs), so that a value means the same wherever it is read.

**Entities**: ``{"start": int, "end": int, "label": str}`` with character offsets
(end exclusive) on token boundaries (``label`` may be left out: ``""``). They go where
the roc_relations component reads them: the span group ``spans_key``, or ``doc.ents``
when it is None (then they must not overlap). Written back as the same objects.

**Objects**: ``doc._.objects`` (see ``spacy_roc.objects``): in JSON, ``"objects"``
lists ``{"box": [x0, y0, x1, y1], "name", "caption"}`` records, the box normalised to
[0, 1]; written back the same way (ROC_E510 for a malformed one).

**Pairs**: ``doc._.relation_pairs`` holds ``[head, tail]`` pairs whose sides are
``[start, end]`` token offsets or ``{"object": i}``. In JSON, ``"pairs"`` lists
``[head, tail]``, each an index into ``"entities"`` or ``{"object": i}``; without it
the doc lists no pairs (None), and the pipeline's candidate function proposes them.
The gold pairs of a corpus doc are those of its relation records.

**Images**: ``doc._.image`` is a path (``str``) or image bytes when read from JSON.
The one rule for a JSON ``"image"`` value:

1. ``null`` or ``""``: no image;
2. a data URI (``data:...``): the bytes of its payload, which must be base64
   (``;base64,``) and not empty;
3. else a path, if it names an existing file: a relative path is joined to the base
   folder (the input file's folder, or the images folder given); absolute paths and
   URLs (``scheme://...``) are kept as they are;
4. else the bytes it decodes to, if it is base64 (standard alphabet; whitespace is
   ignored);
5. else a path (joined as in 3) to a file that does not exist: the command reports it.

Any other value (not a string, a data URI that is not base64 or holds no data) is an
error (ROC_E506). The bytes of 2 and 4 are opened only where a command checks them
(``check_image``) or when the model reads them. Written back, a path stays a path, and
bytes, PIL images and arrays become a data URI: bytes as they are (their MIME type as
Pillow identifies them, ``application/octet-stream`` otherwise), PIL images and arrays
as PNG.

**Relations**: ``doc._.relations`` holds token-offset records (see
``extensions.make_record``); in JSON a relation is ``{"head": {"start", "end",
"text", "label"}, "tail": {...}, "label", "score", "alternatives"}`` with character
offsets, as ``annotate`` writes it. Read back, ``score`` defaults to 1.0 and
``alternatives`` to ``[]``.

Errors are ``CodecError``s with the codes of the JSON line format (ROC_E501-E506 and ROC_E510, the
codes ``annotate`` reports per line; ROC_E015 for a relation); other commands report
their reason under their own code.
"""
import base64
import binascii
import io
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..extensions import Offsets, make_record
from ..images import DECODE_ERRORS, ImageError, load_image
from ..inputs import entity_spans
from .jsonl import is_int

# The span group of the converters' entities, and the label of entities without type.
SPANS_KEY = "entities"
ENTITY_LABEL = "ENTITY"
OCTET_STREAM = "application/octet-stream"
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")
# The address in an object's repr (Pillow names its "<_io.BytesIO object at 0x7f...>").
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")

PairOffsets = List[List[int]]  # [[head_start, head_end], [tail_start, tail_end]]
ImageValue = Union[None, str, bytes]
BaseDir = Union[str, Path, None]
Json = Dict[str, Any]


class CodecError(ValueError):
    """A JSON value the codec cannot read.

    code (str): The error code (ROC_E501-E506, ROC_E510 for the fields of a line, ROC_E015 for
        a relation); the message is Errors' text for it.
    reason (str): The message without its "[code] " prefix.
    values (Dict[str, Any]): The values filled into the message (e.g. its "reason").
    """

    def __init__(self, code: str, **values: Any):
        message = getattr(Errors, code).format(**values)
        super().__init__(message)
        self.code = code
        self.reason = message[len(code) + 3 :]
        self.values = values

    def as_dict(self) -> Dict[str, str]:
        return {"code": self.code, "reason": self.reason}


# -- a doc from JSON ------------------------------------------------------------------


def doc_from_json(
    nlp: Language, fields: Json, spans_key: Optional[str], base_dir: BaseDir = None, *, open_image: bool = False
) -> Doc:
    """The doc of a JSON object: the tokenized "text", the "entities" where the
    component reads them, the "pairs" in doc._.relation_pairs and the "image" in
    doc._.image. Other fields are not read.

    nlp (Language): The pipeline; nlp.make_doc tokenizes the text.
    fields (Dict[str, Any]): The JSON object.
    spans_key (Optional[str]): The span group for the entities; None: doc.ents.
    base_dir (Union[str, Path, None]): Folder for relative image paths.
    open_image (bool): Open the image, so that an unreadable one is an error.
    RETURNS (Doc): The doc.
    RAISES (CodecError): ROC_E501 (no text), ROC_E502-E504 (entities), ROC_E505
        (pairs), ROC_E506 (image), ROC_E510 (objects).
    """
    text = fields.get("text")
    if not isinstance(text, str):
        raise CodecError("ROC_E501", reason="missing" if text is None else f"a {type(text).__name__}")
    doc = nlp.make_doc(text)
    spans = entities_from_json(doc, fields.get("entities"))
    set_entities(doc, spans, spans_key)
    doc._.objects = objects_from_json(fields.get("objects"))
    doc._.relation_pairs = pairs_from_json(spans, fields.get("pairs"), len(doc._.objects))
    image, how = image_from_json(fields.get("image"), base_dir)
    if open_image and image is not None:
        check_image(image, how)
    doc._.image = image
    return doc


def entities_from_json(doc: Doc, entities: Any) -> List[Span]:
    """The spans of an "entities" list (character offsets), in its order.

    doc (Doc): The doc.
    entities (Any): The "entities" value (None: no entities).
    RETURNS (List[Span]): The spans.
    RAISES (CodecError): ROC_E502 (malformed, outside the text), ROC_E503 (not on
        token boundaries).
    """
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise CodecError("ROC_E502", index="list", reason=f"'entities' is a {type(entities).__name__}")
    return [entity_from_json(doc, index, entity) for index, entity in enumerate(entities)]


def entity_from_json(doc: Doc, index: Union[int, str], entity: Any) -> Span:
    """The span of one {"start", "end", "label"} object (character offsets).

    doc (Doc): The doc.
    index (Union[int, str]): Which entity it is, for the message.
    entity (Any): The object.
    RETURNS (Span): The span, with its label ("" if none is given).
    RAISES (CodecError): ROC_E502, ROC_E503.
    """
    start, end, label = _entity_offsets(index, entity, len(doc.text))
    span = doc.char_span(start, end, label=label, alignment_mode="strict")
    if span is None:
        around = doc.char_span(start, end, alignment_mode="expand")
        tokens = [token.text for token in around] if around is not None else []
        raise CodecError("ROC_E503", index=index, start=start, end=end, text=doc.text[start:end], tokens=tokens)
    return span


def _entity_offsets(index: Union[int, str], entity: Any, n_chars: int) -> Tuple[int, int, str]:
    if not isinstance(entity, dict):
        raise CodecError("ROC_E502", index=index, reason=f"a {type(entity).__name__}, not an object")
    start, end, label = entity.get("start"), entity.get("end"), entity.get("label", "")
    if not (is_int(start) and is_int(end)):
        raise CodecError("ROC_E502", index=index, reason=f"start {start!r} and end {end!r} must be integers")
    if not 0 <= start < end <= n_chars:
        reason = f"[{start}, {end}) is not a non-empty range inside the text of {n_chars} characters"
        raise CodecError("ROC_E502", index=index, reason=reason)
    if not isinstance(label, str):
        raise CodecError("ROC_E502", index=index, reason=f"label {label!r} is not a string")
    return start, end, label


def set_entities(doc: Doc, spans: List[Span], spans_key: Optional[str]) -> None:
    """Put entities where the component reads them: doc.spans[spans_key], or doc.ents
    when spans_key is None.

    RAISES (CodecError): ROC_E504 if two overlap and spans_key is None.
    """
    if spans_key is not None:
        doc.spans[spans_key] = spans
        return
    overlap = overlapping_spans(spans)
    if overlap is not None:
        raise CodecError("ROC_E504", first=overlap[0], second=overlap[1])
    doc.ents = spans


def overlapping_spans(spans: Sequence[Span]) -> Optional[Tuple[int, int]]:
    """The indices (smaller first) of two spans that share a token, or None.

    spans (Sequence[Span]): The spans, in any order.
    RETURNS (Optional[Tuple[int, int]]): The first overlapping pair by start.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
    for a, b in zip(order, order[1:]):
        if spans[b].start < spans[a].end:
            return min(a, b), max(a, b)
    return None


def objects_from_json(objects: Any) -> List[Json]:
    """The doc._.objects of an "objects" list (None: no objects).
    RAISES (CodecError): ROC_E510 for a malformed object."""
    from ..objects import validate_objects

    try:
        return validate_objects(objects)
    except ValueError as err:
        raise CodecError("ROC_E510", reason=str(err)) from None


def pairs_from_json(spans: Sequence[Span], pairs: Any, n_objects: int = 0) -> Optional[List[PairOffsets]]:
    """The sides of a "pairs" list of [head, tail], each an index into the entities
    or {"object": i} (i < n_objects).

    spans (Sequence[Span]): The entities.
    pairs (Any): The "pairs" value.
    n_objects (int): How many objects the doc has.
    RETURNS (Optional[List[PairOffsets]]): [head, tail] per pair, each [start, end]
        or {"object": i}; None without "pairs" (the candidates propose the pairs).
    RAISES (CodecError): ROC_E505 if a pair is not two different sides.
    """
    if pairs is None:
        return None
    if not isinstance(pairs, list):
        raise CodecError("ROC_E505", reason=f"a {type(pairs).__name__}, not a list")
    offsets = [[span.start, span.end] for span in spans]

    def side(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"object"} and is_int(value["object"]) and 0 <= value["object"] < n_objects:
            return {"object": value["object"]}
        if is_int(value) and 0 <= value < len(spans):
            return offsets[value]
        return None

    listed = []
    for pair in pairs:
        sides = [side(value) for value in pair] if isinstance(pair, list) and len(pair) == 2 else [None]
        if None in sides or sides[0] == sides[1] or all(isinstance(s, dict) for s in sides):
            reason = f"{pair!r} is not [head, tail] of two different entities (indices of {len(spans)}) or an entity and an object ({{\"object\": i}} of {n_objects})"
            raise CodecError("ROC_E505", reason=reason)
        listed.append(sides)
    return listed


def record_pairs(records: Iterable[Json]) -> List[PairOffsets]:
    """The (head, tail) offsets of relation records: the gold pairs of a corpus doc.

    records (Iterable[Dict[str, Any]]): The records.
    RETURNS (List[PairOffsets]): One pair per record, in order.
    """
    return [[_pair_side(record["head"]), _pair_side(record["tail"])] for record in records]


def _pair_side(value: Any) -> Any:
    return {"object": int(value["object"])} if isinstance(value, dict) else [int(value[0]), int(value[1])]


def records_from_json(doc: Doc, relations: Any) -> Optional[List[Json]]:
    """The token-offset records of a "relations" list, as `annotate` writes it.

    doc (Doc): The doc.
    relations (Any): The "relations" value.
    RETURNS (Optional[List[Dict[str, Any]]]): The records; None without "relations".
    RAISES (CodecError): ROC_E015 for a malformed relation, ROC_E502 / E503 for its
        head or tail.
    """
    if relations is None:
        return None
    if not isinstance(relations, list):
        raise CodecError("ROC_E015", record=relations, reason="'relations' is not a list")
    return [record_from_json(doc, index, relation) for index, relation in enumerate(relations)]


def record_from_json(doc: Doc, index: int, relation: Any) -> Json:
    """The record of one relation {"head", "tail", "label", "score", "alternatives"}
    (see records_from_json)."""
    if not isinstance(relation, dict) or not isinstance(relation.get("label"), str):
        raise CodecError("ROC_E015", record=relation, reason=f"relation {index} has no 'label' string")
    head, tail = (_side_from_json(doc, index, key, relation.get(key)) for key in ("head", "tail"))
    score = relation.get("score")
    try:
        alternatives = relation.get("alternatives") or ()
        return make_record(head, tail, relation["label"], 1.0 if score is None else score, alternatives)
    except (TypeError, ValueError) as err:
        raise CodecError("ROC_E015", record=relation, reason=f"bad score or alternatives ({err})") from None


def _side_from_json(doc: Doc, index: int, key: str, value: Any) -> Any:
    """A relation side: an entity object (character offsets) as token offsets, or
    {"object": i} of the doc's objects."""
    if isinstance(value, dict) and "object" in value:
        n_objects = len(doc._.objects)
        if not (is_int(value["object"]) and 0 <= value["object"] < n_objects):
            raise CodecError("ROC_E015", record=value, reason=f"{key} of relation {index}: not one of the doc's {n_objects} objects")
        return {"object": value["object"]}
    span = entity_from_json(doc, f"({key} of relation {index})", value)
    return (span.start, span.end)


# -- JSON from a doc ------------------------------------------------------------------


def doc_to_json(doc: Doc, spans_key: Optional[str]) -> Json:
    """The JSON object of a doc: "text", "entities" and, if it has one that can be
    encoded, "image" (see image_to_json).

    doc (Doc): The doc.
    spans_key (Optional[str]): Where the component reads the entities.
    RETURNS (Dict[str, Any]): The object.
    """
    fields: Json = {"text": doc.text, "entities": entities_to_json(doc, spans_key)}
    if doc._.objects:
        fields["objects"] = [dict(record) for record in doc._.objects]
    try:
        image = image_to_json(doc._.image)
    except (ImageError, TypeError):
        image = None
    if image is not None:
        fields["image"] = image
    return fields


def entities_to_json(doc: Doc, spans_key: Optional[str]) -> List[Json]:
    """The entities the component reads, as {"start", "end", "label"} objects."""
    return [{"start": s.start_char, "end": s.end_char, "label": s.label_} for s in entity_spans(doc, spans_key)]


def entity_labels(doc: Doc, spans_key: Optional[str]) -> Dict[Offsets, str]:
    """The label of the entities the component reads, by (start, end) token offsets
    (the first entity's, where two share their offsets)."""
    labels: Dict[Offsets, str] = {}
    for span in entity_spans(doc, spans_key):
        labels.setdefault((span.start, span.end), span.label_)
    return labels


def records_to_json(doc: Doc, spans_key: Optional[str]) -> List[Json]:
    """doc._.relations as JSON relations: character offsets, the text and entity label
    ("" if no entity has those offsets) of head and tail.

    doc (Doc): The annotated doc.
    spans_key (Optional[str]): Where the component reads the entities.
    RETURNS (List[Dict[str, Any]]): {"head", "tail", "label", "score", "alternatives"}
        per record; head and tail are {"start", "end", "text", "label"}.
    """
    labels = entity_labels(doc, spans_key)
    relations = []
    for record in doc._.relations:
        head, tail = (_end_to_json(doc, record[key], labels) if not isinstance(record[key], dict) else _object_to_json(doc, record[key]) for key in ("head", "tail"))
        alternatives = [[label, score] for label, score in record.get("alternatives", [])]
        relations.append(
            {"head": head, "tail": tail, "label": record["label"], "score": record.get("score"), "alternatives": alternatives}
        )
    return relations


def _object_to_json(doc: Doc, side: Json) -> Json:
    record = doc._.objects[int(side["object"])]
    return {"object": int(side["object"]), "box": list(record["box"]), "name": record.get("name"), "caption": record.get("caption")}


def _end_to_json(doc: Doc, offsets: Sequence[int], labels: Dict[Offsets, str]) -> Json:
    span = doc[offsets[0] : offsets[1]]
    return {"start": span.start_char, "end": span.end_char, "text": span.text, "label": labels.get((span.start, span.end), "")}


# -- images ---------------------------------------------------------------------------


def image_from_json(value: Any, base_dir: BaseDir = None) -> Tuple[ImageValue, str]:
    """The doc._.image of a JSON "image" value, by the rule of the module docstring.

    value (Any): The value.
    base_dir (Union[str, Path, None]): Folder for relative paths.
    RETURNS (Tuple[Union[None, str, bytes], str]): The path or bytes (None: no
        image), and how the value was read, for messages.
    RAISES (CodecError): ROC_E506 if the value is not a string, or a data URI that is
        not base64 or holds no data.
    """
    if value is None or value == "":
        return None, "no image"
    if not isinstance(value, str):
        raise CodecError("ROC_E506", reason=f"a {type(value).__name__}, not a path or base64 string")
    if value[:5].lower() == "data:":
        return _data_uri_bytes(value), "data URI"
    path = resolve_path(value, base_dir)
    if _is_file(path):
        return path, f"file {path}"
    data = _b64decode(value)
    if data:
        return data, f"not a file ({path[:200]}), read as base64"
    return path, "path"


def _data_uri_bytes(value: str) -> bytes:
    header, sep, payload = value.partition(",")
    if not sep or not header.lower().endswith(";base64"):
        raise CodecError("ROC_E506", reason=f"a data URI that is not base64 ({header[:40]!r})")
    data = _b64decode(payload)
    if data is None:
        raise CodecError("ROC_E506", reason="a data URI whose payload does not decode as base64")
    if not data:
        raise CodecError("ROC_E506", reason="a data URI that holds no data")
    return data


def _b64decode(text: str) -> Optional[bytes]:
    """The bytes of base64 text (whitespace ignored); None if it is not base64."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def resolve_path(path: str, base_dir: BaseDir) -> str:
    """A path joined to base_dir, if it is relative and not a URL.

    path (str): The path.
    base_dir (Union[str, Path, None]): The folder; None: the path as it is.
    RETURNS (str): The path.
    """
    if base_dir is None or is_uri(path) or Path(path).is_absolute():
        return path
    return str(Path(base_dir) / path)


def is_uri(path: str) -> bool:
    """Whether a path is a URL or cloud URI (scheme://...)."""
    return URI.match(path) is not None


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # name too long, NUL byte
        return False


def check_image(value: Any, how: str = "") -> None:
    """Open an image value (images.load_image) to check that the model can read it.

    value (Any): A doc._.image value.
    how (str): How the value was read, to start the reason with.
    RAISES (CodecError): ROC_E506 if it cannot be read. The reason leaves out the
        addresses of object reprs, so that it does not vary by run.
    """
    try:
        load_image(value)
    except (ImageError, TypeError) as err:
        reason = ADDRESS.sub(">", getattr(err, "reason", str(err)))
        raise CodecError("ROC_E506", reason=f"{how}: {reason}" if how else reason) from None


def image_to_json(image: Any) -> Optional[str]:
    """The JSON string of a doc._.image: a path as it is, bytes as a data URI of
    their image type, a PIL image or array as a PNG data URI.

    image (Any): None, a path (str or Path), bytes, a PIL image or a numpy array.
    RETURNS (Optional[str]): The path or data URI; None without image.
    RAISES (ImageError): If a PIL image or array cannot be read. (TypeError: ROC_E002
        for a value of another type.)
    """
    if image is None or isinstance(image, str):
        return image
    if isinstance(image, Path):
        return str(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return data_uri(bytes(image), image_mime(bytes(image)))
    return data_uri(encode_png(image), "image/png")


def image_mime(data: bytes) -> str:
    """The MIME type of image bytes, as Pillow identifies their format.

    data (bytes): The bytes.
    RETURNS (str): E.g. "image/png"; "application/octet-stream" if Pillow cannot
        tell.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return Image.MIME.get(image.format, OCTET_STREAM)
    except (Image.DecompressionBombError, *DECODE_ERRORS):
        return OCTET_STREAM


def encode_png(value: Any) -> bytes:
    """An image value read with images.load_image (so in RGB), encoded as PNG.

    value (Any): A path, bytes, PIL image or numpy array.
    RETURNS (bytes): The PNG bytes.
    RAISES (ImageError): If the value cannot be read as an image.
    """
    buffer = io.BytesIO()
    load_image(value).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    """The base64 data URI of bytes, e.g. "data:image/png;base64,iVBOR...".

    data (bytes): The bytes.
    mime (str): Their MIME type, e.g. "image/png".
    RETURNS (str): The data URI.
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def count_missing_images(docs: Sequence[Doc], images_dir: BaseDir = None) -> Dict[str, Any]:
    """Count the docs' image paths, image bytes, and the paths that are not files
    (relative ones joined to images_dir; URLs are not checked). The converters warn
    with their own codes.

    docs (Sequence[Doc]): The docs.
    images_dir (Union[str, Path, None]): Folder for relative paths.
    RETURNS (Dict[str, Any]): n_image_paths, n_image_bytes, n_missing_images and
        missing_images (the first 10, as the docs hold them).
    """
    paths = [doc._.image for doc in docs if isinstance(doc._.image, str)]
    missing = [path for path in paths if not is_uri(path) and not _is_file(resolve_path(path, images_dir))]
    return {
        "n_image_paths": len(paths),
        "n_image_bytes": sum(isinstance(doc._.image, bytes) for doc in docs),
        "n_missing_images": len(missing),
        "missing_images": missing[:10],
    }
