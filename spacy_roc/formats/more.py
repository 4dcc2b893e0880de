"""Convert MORE (He et al., ACM MM 2023) files to ``.spacy``, and back.

MORE relates a text entity to an object of the image. The files the official loader
reads (see ``shared/data/more/README.md``):

- ``{split}.txt``: one Python dict literal per line (parsed with ``ast.literal_eval``):
  ``token`` (list of str), ``h`` (the text entity, ``{'name', 'pos': [start, end)}``),
  ``t`` (the object: ``{'name': object key}``), ``img_id`` and ``relation`` (``None``
  is the negative label);
- ``ent_{split}_dict.pth``: ``{img_id: {object key: (cx, cy, w, h)}}``, normalised to
  [0, 1], at most 10 objects per image, dict order = object index; read with
  ``torch.load(weights_only=True)``;
- optionally ``caption_dict.json``: ``{img_id: {object key: caption}}``;
- the images, ``img_org/{split}/{img_id}``.

Output: one ``Doc`` per (tokens, image), like the MNRE converter: the text entities in
the span group ``"entities"`` (label ``"ENTITY"``), the image's objects in
``doc._.objects`` (every object of the image, in dict order; box as corners, the key
as name, the caption if given), and a record per line, ``{"head": [start, end],
"tail": {"object": i}, "label": relation}``; ``doc._.image`` = ``img_id``.

Nothing is lost silently: a malformed line or an unknown object key is an error
(ROC_E120), or with on_error="skip" is skipped and reported (ROC_W120); a
box that reaches outside [0, 1] is clipped to it (ROC_W121, counted); an image with more
than 10 objects keeps them all (ROC_W122, counted); a box that is empty after clipping
is an error (ROC_E123). The stats say what was kept and what was dropped.
"""
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from ..errors import Errors, Warnings
from ..extensions import install_extensions, make_record
from ..objects import MAX_OBJECTS
from .codec import ENTITY_LABEL, SPANS_KEY, count_missing_images
from .docbin import write_docbin
from .mnre import ON_ERROR, MNRELineError, _check_entity, read_line_fields

Instance = Dict[str, Any]
PathLike = Union[str, Path]
Boxes = Dict[str, Dict[str, Tuple[float, float, float, float]]]


def convert_more(
    input_path: PathLike,
    objects_path: PathLike,
    output_path: PathLike,
    captions_path: Optional[PathLike] = None,
    images_dir: Optional[PathLike] = None,
    on_error: str = "raise",
) -> Dict[str, Any]:
    """Convert a MORE split to a ``.spacy`` file (see the module docstring).

    input_path (PathLike): The text file, e.g. train.txt.
    objects_path (PathLike): Its objects, e.g. ent_train_dict.pth.
    output_path (PathLike): The .spacy file to write.
    captions_path (Optional[PathLike]): caption_dict.json, if any.
    images_dir (Optional[PathLike]): The images folder, to count missing images.
    on_error (str): "raise" or "skip" (bad lines and unknown object keys).
    RETURNS (Dict[str, Any]): What was kept and dropped (see more_to_docs).
    """
    docs, stats = more_to_docs(input_path, objects_path, captions_path, images_dir, on_error)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_docbin(docs, output_path)
    return stats


def more_to_docs(
    input_path: PathLike,
    objects_path: PathLike,
    captions_path: Optional[PathLike] = None,
    images_dir: Optional[PathLike] = None,
    on_error: str = "raise",
    vocab: Optional[Vocab] = None,
) -> Tuple[List[Doc], Dict[str, Any]]:
    """Read a MORE split into docs.

    RETURNS (Tuple[List[Doc], Dict[str, Any]]): The docs, and the stats: n_lines,
        n_instances (kept), n_docs, n_objects, n_clipped_boxes, images_over_limit,
        errors [(line_no, message)] (the lines dropped), labels {label: count},
        n_missing_images (None without images_dir).
    RAISES (ValueError): ROC_E101 (on_error), ROC_E102 (a file missing), ROC_E120-E123.
    """
    if on_error not in ON_ERROR:
        raise ValueError(Errors.ROC_E101.format(value=on_error))
    for path in (input_path, objects_path, *([captions_path] if captions_path else [])):
        if not Path(path).is_file():
            raise ValueError(Errors.ROC_E102.format(path=path))
    install_extensions()
    boxes = read_boxes(objects_path)
    captions = read_captions(captions_path) if captions_path else {}
    objects, clipped, over = image_objects(boxes, captions)
    instances, errors, n_lines = _read_lines(Path(input_path), objects, on_error)
    vocab = vocab if vocab is not None else Vocab()
    groups: Dict[Tuple[Tuple[str, ...], str], List[Instance]] = {}
    for _, instance in instances:
        groups.setdefault((tuple(instance["token"]), instance["img_id"]), []).append(instance)
    docs = [_doc(vocab, group, objects[group[0]["img_id"]]) for group in groups.values()]
    if errors:
        examples = ", ".join(f"line {no}: {message}" for no, message in errors[:3])
        warnings.warn(Warnings.ROC_W120.format(n_errors=len(errors), path=input_path, examples=examples))
    if clipped:
        warnings.warn(Warnings.ROC_W121.format(n=len(clipped), path=objects_path, examples=clipped[:3]))
    if over:
        warnings.warn(Warnings.ROC_W122.format(n=len(over), path=objects_path, limit=MAX_OBJECTS, examples=over[:3]))
    stats = {
        "n_lines": n_lines,
        "n_instances": len(instances),
        "n_docs": len(docs),
        "n_objects": sum(len(doc._.objects) for doc in docs),
        "n_clipped_boxes": len(clipped),
        "images_over_limit": over,
        "errors": errors,
        "labels": dict(Counter(instance["relation"] for _, instance in instances).most_common()),
    }
    if images_dir is not None:
        stats.update(count_missing_images(docs, images_dir))
    return docs, stats


def read_boxes(path: PathLike) -> Boxes:
    """The ent_{split}_dict.pth of MORE: {img_id: {object key: (cx, cy, w, h)}}
    (torch.load with weights_only=True: plain containers and numbers only).
    RAISES (ValueError): ROC_E123 if it is not that mapping."""
    import torch

    data = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(Errors.ROC_E123.format(where=str(path), reason="not a {img_id: {object key: box}} mapping"))
    return {str(img): {str(key): _box_values(path, img, key, box) for key, box in objects.items()} for img, objects in data.items()}


def _box_values(path: PathLike, img: Any, key: Any, box: Any) -> Tuple[float, float, float, float]:
    values = box.tolist() if hasattr(box, "tolist") else box
    if not (isinstance(values, (list, tuple)) and len(values) == 4 and all(isinstance(v, (int, float)) for v in values)):
        raise ValueError(Errors.ROC_E123.format(where=f"{path}: {img} / {key}", reason=f"{box!r} is not (cx, cy, w, h)"))
    return tuple(float(v) for v in values)


def read_captions(path: PathLike) -> Dict[str, Dict[str, str]]:
    """caption_dict.json: {img_id: {object key: caption}}."""
    data = json.loads(Path(path).read_text(encoding="utf8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(Errors.ROC_E123.format(where=str(path), reason="not a {img_id: {object key: caption}} mapping"))
    return data


def corners(box: Tuple[float, float, float, float]) -> Tuple[List[float], bool]:
    """MORE's (cx, cy, w, h) as [x0, y0, x1, y1], clipped to [0, 1]; and whether it
    had to be clipped."""
    cx, cy, w, h = box
    raw = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    clipped = [min(1.0, max(0.0, v)) for v in raw]
    return clipped, any(abs(a - b) > 1e-9 for a, b in zip(raw, clipped))


def image_objects(boxes: Boxes, captions: Dict[str, Dict[str, str]]) -> Tuple[Dict[str, List[Dict[str, Any]]], List[str], List[str]]:
    """The doc._.objects of every image, in dict order; the boxes clipped and the
    images over the limit of 10 objects (as "img_id / key" and img_id).
    RAISES (ValueError): ROC_E123 for a box that is empty once clipped."""
    objects: Dict[str, List[Dict[str, Any]]] = {}
    clipped: List[str] = []
    over: List[str] = []
    for img, keyed in boxes.items():
        records = []
        for key, box in keyed.items():
            corner, was_clipped = corners(box)
            if not (corner[0] < corner[2] and corner[1] < corner[3]):
                raise ValueError(Errors.ROC_E123.format(where=f"{img} / {key}", reason=f"the box {list(box)} is empty inside [0, 1]"))
            if was_clipped:
                clipped.append(f"{img} / {key}")
            records.append({"box": corner, "name": key, "caption": captions.get(img, {}).get(key)})
        if len(records) > MAX_OBJECTS:
            over.append(img)
        objects[img] = records
    return objects, clipped, over


def parse_more_line(line: str) -> Instance:
    """One MORE line, checked (MNRELineError if malformed): "t" names an object key."""
    value = read_line_fields(line)
    if not isinstance(value["t"], dict) or not isinstance(value["t"].get("name"), str):
        raise MNRELineError("'t' must be a dict whose 'name' is an object key")
    return {**value, "h": _check_entity(value, "h")}


def _read_lines(path: Path, objects: Dict[str, List[Dict[str, Any]]], on_error: str) -> Tuple[List[Tuple[int, Instance]], List[Tuple[int, str]], int]:
    instances, errors, n_lines = [], [], 0
    for line_no, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1):
        if not line.strip():
            continue
        n_lines += 1
        try:
            instance = parse_more_line(line)
            keys = [record["name"] for record in objects.get(instance["img_id"], [])]
            if instance["t"]["name"] not in keys:
                raise MNRELineError(f"object {instance['t']['name']!r} is not one of image {instance['img_id']!r}'s objects {keys}")
        except MNRELineError as err:
            if on_error == "raise":
                raise ValueError(Errors.ROC_E120.format(line_no=line_no, path=path, reason=err)) from err
            errors.append((line_no, str(err)))
            continue
        instance["object"] = keys.index(instance["t"]["name"])
        instances.append((line_no, instance))
    return instances, errors, n_lines


def _doc(vocab: Vocab, group: Sequence[Instance], objects: List[Dict[str, Any]]) -> Doc:
    words = list(group[0]["token"])
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
    mentions = sorted({instance["h"]["pos"] for instance in group})
    doc.spans[SPANS_KEY] = [Span(doc, start, end, label=ENTITY_LABEL) for start, end in mentions]
    doc._.objects = objects
    doc._.relations = [make_record(instance["h"]["pos"], {"object": instance["object"]}, instance["relation"]) for instance in group]
    doc._.image = group[0]["img_id"]
    return doc


def docs_to_more(docs: Iterable[Doc]) -> Tuple[List[str], Boxes, Dict[str, Dict[str, str]]]:
    """The MORE files of docs (the converter's output, or predictions): the lines
    (one per record whose head is a span and tail an object), the boxes as (cx, cy,
    w, h) per image, and the captions given.
    RETURNS (Tuple[List[str], Boxes, Dict[str, Dict[str, str]]]): lines, boxes, captions."""
    lines: List[str] = []
    boxes: Boxes = {}
    captions: Dict[str, Dict[str, str]] = {}
    for doc in docs:
        img = str(doc._.image)
        keyed = boxes.setdefault(img, {})
        for i, record in enumerate(doc._.objects):
            x0, y0, x1, y1 = record["box"]
            key = record["name"] or f"object_{i}"
            keyed[key] = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
            if record.get("caption"):
                captions.setdefault(img, {})[key] = record["caption"]
        tokens = [t.text for t in doc]
        for record in doc._.relations:
            if isinstance(record["head"], dict) or not isinstance(record["tail"], dict):
                continue
            start, end = record["head"]
            obj = doc._.objects[record["tail"]["object"]]
            line = {
                "token": tokens,
                "h": {"name": " ".join(tokens[start:end]), "pos": [start, end]},
                "t": {"name": obj["name"] or f"object_{record['tail']['object']}"},
                "img_id": img,
                "relation": record["label"],
            }
            lines.append(repr(line))
    return lines, boxes, captions
