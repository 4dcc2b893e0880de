"""Convert Prodigy ``rel.manual`` annotations to ``.spacy``, and export a pipeline's
predictions back to ``rel.manual`` tasks for correction (model in the loop).

Input of ``convert prodigy``: the JSONL of ``prodigy db-out``, one task per line:

- ``tokens``: ``[{"text", "start", "end", "id", "ws"}, ...]``. The doc keeps Prodigy's
  tokenization: ``Doc(words=[text...], spaces=[ws...])``. ``id``, where given, must
  be the token's index.
- ``spans``: ``[{"token_start", "token_end", "label", "start", "end"}, ...]`` with
  ``token_end`` INCLUSIVE. The token offsets are authoritative; the character
  offsets are not read.
- ``relations``: ``[{"head", "child", "head_span", "child_span", "label"}, ...]``;
  ``head`` and ``child`` are the index of the LAST token of the head and child spans.
  An index that ends exactly one annotated span names it. Otherwise (no span, or
  several overlapping spans ending on that token) the ``head_span`` / ``child_span``
  dict decides; a span given there but not annotated is added to the entities
  (label ``"ENTITY"`` if it has none). Without it, the task is malformed.
- ``answer``: only ``"accept"`` is converted; other answers and tasks without one
  are counted in the stats.
- ``image`` (optional): read by the codec's image rule (``spacy_roc.formats.codec``):
  a data URI, as Prodigy's image loaders store images, or a base64 string is stored as
  ``bytes``; a file path as an absolute ``str`` (relative paths are joined to the
  images folder, by default the input file's folder); a URL as it is. Paths that are
  not files are counted (ROC_W111).

Output: one ``Doc`` per accepted task. The spans go into the span group
``"entities"`` (overlaps allowed) and, when none overlap, into ``doc.ents`` too.
``doc._.relations`` holds one gold record per ORDERED pair of distinct spans: the
label of the relation that joins them in that direction, or ``none_label``
(annotators mark only the relations that hold). A pair joined by two different
labels is malformed: a record holds one label.

``export prodigy`` writes the reverse: one task per doc with ``text``, ``tokens``,
``spans`` (the entities the component reads: its ``spans_key`` group, or
``doc.ents``), ``relations`` (the predicted ``doc._.relations``, no-relation
predictions left out) and ``image`` (codec.image_to_json: a path as the model read
it, or a base64 data URI for image bytes, PIL images and arrays). The docs are scored
on the gold pairs of the corpus, or, where it lists none, on the pairs the pipeline's
candidate function proposes. The tasks have no ``answer``: Prodigy sets it when the
annotator accepts.
"""
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from .codec import (
    ENTITY_LABEL, SPANS_KEY, CodecError, count_missing_images, entity_labels, image_from_json, image_to_json,
    overlapping_spans,
)
from .docbin import write_docbin
from ..errors import Errors, Warnings
from ..extensions import Offsets, install_extensions, make_record, record_key
from ..images import ImageError
from .jsonl import is_int, json_lines

ON_ERROR = ("raise", "skip")
NO_ANSWER = "(none)"

Task = Dict[str, Any]
LineError = Tuple[int, str]


class ProdigyTaskError(ValueError):
    """A task that is not a well-formed rel.manual annotation."""


# -- convert prodigy -------------------------------------------------------------------


def convert_prodigy(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    images_dir: Optional[Union[str, Path]] = None,
    none_label: str = "None",
    on_error: str = "raise",
    progress: bool = True,
) -> Dict[str, Any]:
    """Convert Prodigy rel.manual annotations (JSONL) to a ``.spacy`` file.

    input_path (Union[str, Path]): The JSONL file, e.g. from `prodigy db-out`.
    output_path (Union[str, Path]): The .spacy file to write; parent folders are created.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths; the input
        file's folder by default.
    none_label (str): The label of the ordered span pairs that no relation joins.
    on_error (str): "raise" stops at the first malformed task; "skip" skips malformed
        tasks, lists them in the stats under "errors" and warns (ROC_W110).
    progress (bool): Show a progress bar.
    RETURNS (Dict[str, Any]): Stats: see prodigy_to_docs.
    RAISES (ValueError): ROC_E110 on a malformed task with on_error="raise".
    """
    docs, stats = prodigy_to_docs(input_path, images_dir, none_label, on_error, progress)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_docbin(docs, output_path)
    return stats


def prodigy_to_docs(
    input_path: Union[str, Path],
    images_dir: Optional[Union[str, Path]] = None,
    none_label: str = "None",
    on_error: str = "raise",
    progress: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[List[Doc], Dict[str, Any]]:
    """Read the accepted tasks of a rel.manual JSONL file into docs. See convert_prodigy.

    input_path (Union[str, Path]): The JSONL file.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths; the input
        file's folder by default.
    none_label (str): The label of the ordered span pairs that no relation joins.
    on_error (str): "raise" or "skip".
    progress (bool): Show a progress bar.
    vocab (Optional[Vocab]): The vocab of the docs; a new one by default.
    RETURNS (Tuple[List[Doc], Dict[str, Any]]): The docs and the stats: n_lines,
        n_docs, answers {answer: count} over the JSON objects ("(none)" for tasks
        without one; skipped malformed tasks included), n_not_accepted, n_spans
        (including n_spans_from_relations), n_relations (annotated),
        n_records (including no-relation pairs), n_overlapping_docs, n_image_paths,
        n_image_bytes, n_missing_images, missing_images (first 10), errors
        [(line_no, message)], labels {label: count} over the records.
    """
    input_path, images_dir = _check_inputs(input_path, images_dir, on_error)
    install_extensions()
    vocab = vocab if vocab is not None else Vocab()
    lines = _read_lines(input_path, progress)
    docs, stats = _convert_lines(lines, input_path, vocab, images_dir, none_label, on_error)
    _warn_skipped(stats, input_path)
    _warn_unanswered(lines, input_path)
    stats.update(_count_images(docs, input_path, images_dir))
    return docs, stats


def _check_inputs(
    input_path: Union[str, Path], images_dir: Optional[Union[str, Path]], on_error: str
) -> Tuple[Path, Path]:
    """Check the arguments of prodigy_to_docs; default the images folder."""
    if on_error not in ON_ERROR:
        raise ValueError(Errors.ROC_E101.format(value=on_error))
    input_path = Path(input_path)
    if not input_path.is_file():
        raise ValueError(Errors.ROC_E102.format(path=input_path))
    images_dir = Path(images_dir) if images_dir is not None else input_path.parent
    if not images_dir.is_dir():
        raise ValueError(Errors.ROC_E103.format(path=images_dir))
    return input_path, images_dir.absolute()


def _read_lines(path: Path, progress: bool) -> List[Tuple[int, Union[Task, ProdigyTaskError]]]:
    """The (line number, task or the ProdigyTaskError that says why the line is not
    a JSON object) of each non-blank line (see jsonl.json_lines)."""
    from tqdm import tqdm

    lines = tqdm(json_lines(path), desc=path.name, disable=not progress)
    return [(no, ProdigyTaskError(str(task)) if isinstance(task, ValueError) else task) for no, task in lines]


def _convert_lines(
    lines: Sequence[Tuple[int, Any]], path: Path, vocab: Vocab, images_dir: Path,
    none_label: str, on_error: str,
) -> Tuple[List[Doc], Dict[str, Any]]:
    """Convert the accepted tasks; count the answers and collect the errors."""
    parsed: List[ParsedTask] = []
    errors: List[LineError] = []
    answers: Counter = Counter()
    for line_no, task in lines:
        try:
            if isinstance(task, ProdigyTaskError):
                raise task
            answer = _answer(task)
            answers[answer] += 1
            if answer == "accept":
                parsed.append(parse_task(task, images_dir))
        except ProdigyTaskError as err:
            if on_error == "raise":
                raise ValueError(Errors.ROC_E110.format(line_no=line_no, path=path, reason=err)) from err
            errors.append((line_no, str(err)))
    docs = [build_doc(vocab, task, none_label) for task in parsed]
    return docs, _stats(docs, parsed, len(lines), answers, errors)


def _answer(task: Task) -> str:
    """The task's answer, "(none)" if it has none."""
    answer = task.get("answer")
    return NO_ANSWER if answer is None else str(answer)


class ParsedTask(NamedTuple):
    """The checked content of a rel.manual task (see parse_task)."""

    words: List[str]
    spaces: List[bool]
    spans: Dict[Offsets, str]
    relations: Dict[Tuple[Offsets, Offsets], str]
    n_added_spans: int
    image: Union[None, str, bytes]
    objects: List[Dict[str, Any]]
    object_relations: Dict[Tuple[Any, Any], str]


def parse_task(task: Task, images_dir: Path) -> ParsedTask:
    """Check a rel.manual task and read its tokens, spans, relations and image.

    task (Dict[str, Any]): The task.
    images_dir (Path): Folder for relative image paths.
    RETURNS (ParsedTask): The content; spans include those named only by a relation's
        head_span / child_span (counted in n_added_spans).
    RAISES (ProdigyTaskError): If the task is malformed.
    """
    words, spaces = parse_tokens(task)
    spans = parse_spans(task, len(words))
    n_annotated = len(spans)
    relations = parse_relations(task, spans, len(words))
    image = _task_image(task.get("image"), images_dir)
    objects, object_relations = parse_objects(task, len(words))
    return ParsedTask(words, spaces, spans, relations, len(spans) - n_annotated, image, objects, object_relations)


def parse_objects(task: Task, n_tokens: int) -> Tuple[List[Dict[str, Any]], Dict[Tuple[Any, Any], str]]:
    """The image objects of an exported task ("objects") and their relations with
    spans ("object_relations", see export prodigy), keyed by (head, tail) sides."""
    from ..objects import validate_objects

    try:
        objects = validate_objects(task.get("objects"))
    except ValueError as err:
        raise ProdigyTaskError(f"'objects': {err}") from None
    relations: Dict[Tuple[Any, Any], str] = {}
    for i, relation in enumerate(task.get("object_relations") or []):
        if not isinstance(relation, dict) or not isinstance(relation.get("label"), str):
            raise ProdigyTaskError(f"object relation {i} is not an object with a 'label'")
        sides = []
        for name in ("head", "child"):
            if f"{name}_object" in relation:
                index = relation[f"{name}_object"]
                if not (isinstance(index, int) and 0 <= index < len(objects)):
                    raise ProdigyTaskError(f"object relation {i}: {name}_object {index!r} is not one of the {len(objects)} objects")
                sides.append(("object", index))
            else:
                sides.append(span_offsets(relation.get(f"{name}_span"), n_tokens, f"object relation {i} {name}_span"))
        relations[(sides[0], sides[1])] = relation["label"]
    return objects, relations


def build_doc(vocab: Vocab, task: ParsedTask, none_label: str) -> Doc:
    """The doc of a parsed task: the spans in doc.spans["entities"] and, when none
    overlap, doc.ents; one gold record per ordered span pair; the image.

    vocab (Vocab): The vocab.
    task (ParsedTask): The parsed task.
    none_label (str): The label of the span pairs no relation joins.
    RETURNS (Doc): The doc.
    """
    doc = Doc(vocab, words=task.words, spaces=task.spaces)
    entities = [Span(doc, s, e, label=label) for (s, e), label in sorted(task.spans.items())]
    doc.spans[SPANS_KEY] = entities
    if overlapping_spans(entities) is None:
        doc.ents = entities
    doc._.relations = gold_records(sorted(task.spans), task.relations, none_label)
    doc._.image = task.image
    if task.objects:
        doc._.objects = task.objects
        keys = [(head, ("object", i)) for head in sorted(task.spans) for i in range(len(task.objects))]
        keys += [key for key in task.object_relations if key not in keys]
        doc._.relations = doc._.relations + [
            make_record(*(({"object": side[1]} if side[0] == "object" else side) for side in key), task.object_relations.get(key, none_label))
            for key in keys
        ]
    return doc


def parse_tokens(task: Task) -> Tuple[List[str], List[bool]]:
    """The words and spaces of a task's "tokens".

    task (Dict[str, Any]): The task.
    RETURNS (Tuple[List[str], List[bool]]): The words and whether each has a space after.
    RAISES (ProdigyTaskError): If "tokens" is missing or malformed.
    """
    tokens = task.get("tokens")
    if not isinstance(tokens, list) or not tokens:
        raise ProdigyTaskError("'tokens' must be a non-empty list (tokenize with rel.manual)")
    for i, token in enumerate(tokens):
        if not isinstance(token, dict) or not isinstance(token.get("text"), str) or not token["text"]:
            raise ProdigyTaskError(f"token {i} must be a dict with a non-empty 'text'")
        if not isinstance(token.get("ws"), bool):
            raise ProdigyTaskError(f"token {i} must have a boolean 'ws'")
        if token.get("id", i) != i:
            raise ProdigyTaskError(f"token {i} has 'id' {token['id']!r}; ids must be the token indices")
    return [t["text"] for t in tokens], [t["ws"] for t in tokens]


def parse_spans(task: Task, n_tokens: int) -> Dict[Offsets, str]:
    """The annotated spans of a task, {(start, end exclusive): label}.

    task (Dict[str, Any]): The task.
    n_tokens (int): The number of tokens.
    RETURNS (Dict[Tuple[int, int], str]): The spans; exact duplicates are merged.
    RAISES (ProdigyTaskError): If a span is malformed or two labels share one span.
    """
    spans = task.get("spans") or []
    if not isinstance(spans, list):
        raise ProdigyTaskError("'spans' must be a list")
    result: Dict[Offsets, str] = {}
    for i, span in enumerate(spans):
        offsets = span_offsets(span, n_tokens, f"span {i}")
        label = span.get("label")
        if not isinstance(label, str) or not label:
            raise ProdigyTaskError(f"span {i} {list(offsets)} has no label")
        if result.setdefault(offsets, label) != label:
            raise ProdigyTaskError(f"span {list(offsets)} has two labels, {result[offsets]!r} and {label!r}")
    return result


def span_offsets(span: Any, n_tokens: int, name: str) -> Offsets:
    """The (start, end exclusive) token offsets of a Prodigy span dict.

    span (Any): The span dict, with "token_start" and "token_end" (inclusive).
    n_tokens (int): The number of tokens.
    name (str): What the span is, for the error message.
    RETURNS (Tuple[int, int]): The offsets.
    RAISES (ProdigyTaskError): If the offsets are missing or outside the tokens.
    """
    if not isinstance(span, dict):
        raise ProdigyTaskError(f"{name} must be a dict")
    start, last = span.get("token_start"), span.get("token_end")
    if not is_int(start) or not is_int(last):
        raise ProdigyTaskError(f"{name} needs integer 'token_start' and 'token_end', got {start!r}, {last!r}")
    if not 0 <= start <= last < n_tokens:
        raise ProdigyTaskError(
            f"{name} tokens {start}-{last} (token_end inclusive) outside the {n_tokens} tokens"
        )
    return start, last + 1


def parse_relations(task: Task, spans: Dict[Offsets, str], n_tokens: int) -> Dict[Tuple[Offsets, Offsets], str]:
    """The annotated relations of a task, {(head, tail): label}. Endpoints given only
    by head_span / child_span are added to `spans`.

    task (Dict[str, Any]): The task.
    spans (Dict[Tuple[int, int], str]): The annotated spans; updated in place.
    n_tokens (int): The number of tokens.
    RETURNS (Dict[Tuple[Tuple[int, int], Tuple[int, int]], str]): The relations.
    RAISES (ProdigyTaskError): If a relation is malformed, names no span or names one
        ambiguously, joins a span to itself, or repeats a pair with another label.
    """
    relations = task.get("relations") or []
    if not isinstance(relations, list):
        raise ProdigyTaskError("'relations' must be a list")
    result: Dict[Tuple[Offsets, Offsets], str] = {}
    for i, relation in enumerate(relations):
        name = f"relation {i}"
        if not isinstance(relation, dict) or not isinstance(relation.get("label"), str):
            raise ProdigyTaskError(f"{name} must be a dict with a 'label' string")
        head = resolve_endpoint(relation, "head", spans, n_tokens, name)
        tail = resolve_endpoint(relation, "child", spans, n_tokens, name)
        if head == tail:
            raise ProdigyTaskError(f"{name} joins the span {list(head)} to itself")
        if result.setdefault((head, tail), relation["label"]) != relation["label"]:
            raise ProdigyTaskError(
                f"{name} joins {list(head)} -> {list(tail)} with {relation['label']!r}, "
                f"but another relation joins them with {result[(head, tail)]!r}"
            )
    return result


def resolve_endpoint(
    relation: Task, key: str, spans: Dict[Offsets, str], n_tokens: int, name: str
) -> Offsets:
    """The span a relation's "head" or "child" names (its last token index).

    relation (Dict[str, Any]): The relation.
    key (str): "head" or "child".
    spans (Dict[Tuple[int, int], str]): The annotated spans; a span given only in the
        relation's `{key}_span` is added (label "ENTITY" if it has none).
    n_tokens (int): The number of tokens.
    name (str): What the relation is, for the error message.
    RETURNS (Tuple[int, int]): The span's (start, end exclusive) offsets.
    RAISES (ProdigyTaskError): If the endpoint is malformed or names no single span.
    """
    last = relation.get(key)
    if not is_int(last) or not 0 <= last < n_tokens:
        raise ProdigyTaskError(f"{name} {key} {last!r} is not a token index (0-{n_tokens - 1})")
    if relation.get(f"{key}_span") is not None:
        return _endpoint_from_span(relation, key, spans, n_tokens, name)
    matches = [offsets for offsets in spans if offsets[1] - 1 == last]
    if len(matches) == 1:
        return matches[0]
    what = "no annotated span" if not matches else f"{len(matches)} overlapping spans"
    raise ProdigyTaskError(
        f"{name} {key} token {last} is the last token of {what}, and the relation has no {key}_span"
    )


def _endpoint_from_span(
    relation: Task, key: str, spans: Dict[Offsets, str], n_tokens: int, name: str
) -> Offsets:
    """The endpoint given by a relation's head_span / child_span (see resolve_endpoint)."""
    given = relation[f"{key}_span"]
    offsets = span_offsets(given, n_tokens, f"{name} {key}_span")
    if offsets[1] - 1 != relation[key]:
        raise ProdigyTaskError(
            f"{name} {key} {relation[key]} is not the last token of its {key}_span "
            f"(tokens {offsets[0]}-{offsets[1] - 1})"
        )
    if offsets not in spans:
        label = given.get("label")
        spans[offsets] = label if isinstance(label, str) and label else ENTITY_LABEL
    return offsets


def gold_records(
    spans: Sequence[Offsets], relations: Dict[Tuple[Offsets, Offsets], str], none_label: str
) -> List[Dict[str, Any]]:
    """One record per ordered pair of distinct spans: the relation's label or none_label.

    spans (Sequence[Tuple[int, int]]): The spans' offsets, in order.
    relations (Dict[Tuple[Tuple[int, int], Tuple[int, int]], str]): The relations.
    none_label (str): The label of pairs no relation joins.
    RETURNS (List[Dict[str, Any]]): The records (see make_record).
    """
    return [
        make_record(head, tail, relations.get((head, tail), none_label))
        for head in spans
        for tail in spans
        if head != tail
    ]


def _task_image(value: Any, images_dir: Path) -> Union[None, str, bytes]:
    """The doc._.image of a task's "image" (codec.image_from_json).

    RAISES (ProdigyTaskError): If the value is not a string, or a data URI that is
        not base64.
    """
    try:
        return image_from_json(value, images_dir)[0]
    except CodecError as err:
        raise ProdigyTaskError(f"'image' is {err.values['reason']}") from None


def _count_images(docs: Sequence[Doc], path: Path, images_dir: Path) -> Dict[str, Any]:
    """codec.count_missing_images of the docs (their paths are absolute); ROC_W111 if
    some are not files."""
    counts = count_missing_images(docs)
    if counts["n_missing_images"]:
        warnings.warn(Warnings.ROC_W111.format(
            n_missing=counts["n_missing_images"], n_images=counts["n_image_paths"], path=path,
            images_dir=images_dir, examples=", ".join(counts["missing_images"][:3]),
        ))
    return counts


def _warn_skipped(stats: Dict[str, Any], path: Path) -> None:
    """ROC_W110 if malformed tasks were skipped."""
    errors = stats["errors"]
    if errors:
        examples = ", ".join(f"line {no}: {msg}" for no, msg in errors[:3])
        warnings.warn(Warnings.ROC_W110.format(n_errors=len(errors), path=path, examples=examples))


def _warn_unanswered(lines: Sequence[Tuple[int, Any]], path: Path) -> None:
    """ROC_W112 if some tasks have no answer (never annotated)."""
    unanswered = [no for no, task in lines if isinstance(task, dict) and task.get("answer") is None]
    if unanswered:
        warnings.warn(Warnings.ROC_W112.format(
            n_unanswered=len(unanswered), path=path, line_no=unanswered[0]
        ))


def _stats(
    docs: Sequence[Doc], parsed: Sequence[ParsedTask], n_lines: int, answers: Counter,
    errors: Sequence[LineError],
) -> Dict[str, Any]:
    """The stats of a conversion (see prodigy_to_docs)."""
    labels = Counter(r["label"] for doc in docs for r in doc._.relations)
    return {
        "n_lines": n_lines,
        "n_docs": len(docs),
        "answers": dict(sorted(answers.items())),
        "n_not_accepted": sum(answers.values()) - answers.get("accept", 0),
        "n_spans": sum(len(task.spans) for task in parsed),
        "n_spans_from_relations": sum(task.n_added_spans for task in parsed),
        "n_relations": sum(len(task.relations) for task in parsed),
        "n_records": sum(len(doc._.relations) for doc in docs),
        "n_overlapping_docs": sum(overlapping_spans(doc.spans[SPANS_KEY]) is not None for doc in docs),
        "errors": list(errors),
        "labels": most_common_first(labels),
    }


def most_common_first(counts: Counter) -> Dict[str, int]:
    """The counts, most common first, ties by key."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# -- export prodigy: a doc as a rel.manual task ------------------------------------


def doc_to_task(doc: Doc, spans_key: Optional[str], none_label: str = "None") -> Task:
    """A rel.manual task of a doc: text, tokens, the entities as spans and the
    relations of doc._.relations (no-relation records left out). No answer and no
    image (see predictions_to_tasks).

    doc (Doc): The doc.
    spans_key (Optional[str]): The span group with the entities; None: doc.ents.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Any]): The task.
    """
    labels = entity_labels(doc, spans_key)
    related = [r for r in doc._.relations if r["label"] != none_label]
    task = {
        "text": doc.text,
        "tokens": [_token_dict(token) for token in doc],
        "spans": [_span_dict(doc, offsets, label) for offsets, label in sorted(labels.items())],
        "relations": [_relation_dict(doc, *record_key(r), r["label"], labels) for r in related if not _has_object(r)],
    }
    if doc._.objects:  # Prodigy's rel.manual has no image objects: kept beside it
        task["objects"] = [dict(record) for record in doc._.objects]
        task["object_relations"] = [_object_relation_dict(doc, r, labels) for r in related if _has_object(r)]
    return task


def _has_object(record: Dict[str, Any]) -> bool:
    return isinstance(record["head"], dict) or isinstance(record["tail"], dict)


def _object_relation_dict(doc: Doc, record: Dict[str, Any], labels: Dict[Offsets, str]) -> Task:
    """A relation of a text span and an image object: {"head_span" or "head_object",
    "child_span" or "child_object", "label"}."""
    relation: Task = {}
    for key, name in (("head", "head"), ("tail", "child")):
        side = record[key]
        if isinstance(side, dict):
            relation[f"{name}_object"] = int(side["object"])
        else:
            offsets = (int(side[0]), int(side[1]))
            relation[f"{name}_span"] = _span_dict(doc, offsets, labels.get(offsets, ENTITY_LABEL))
    relation["label"] = record["label"]
    return relation


def _token_dict(token: Any) -> Task:
    """A Prodigy token: text, character start and end, id and ws."""
    start, end = token.idx, token.idx + len(token.text)
    return {"text": token.text, "start": start, "end": end, "id": token.i, "ws": bool(token.whitespace_)}


def _span_dict(doc: Doc, offsets: Offsets, label: str) -> Task:
    """A Prodigy span: character start and end, token_start, token_end (inclusive), label."""
    span = doc[offsets[0] : offsets[1]]
    return {
        "start": span.start_char,
        "end": span.end_char,
        "token_start": span.start,
        "token_end": span.end - 1,
        "label": label,
    }


def _relation_dict(doc: Doc, head: Offsets, tail: Offsets, label: str, labels: Dict[Offsets, str]) -> Task:
    """A Prodigy relation: head and child (the last token of each span), head_span,
    child_span and label."""
    return {
        "head": head[1] - 1,
        "child": tail[1] - 1,
        "head_span": _span_dict(doc, head, labels.get(head, ENTITY_LABEL)),
        "child_span": _span_dict(doc, tail, labels.get(tail, ENTITY_LABEL)),
        "label": label,
    }


def add_image(task: Task, image: Any, failed: List[str]) -> None:
    """Set the task's "image" from a doc's image (codec.image_to_json); note the
    reason if it cannot be encoded."""
    try:
        value = image_to_json(image)
    except (ImageError, TypeError) as err:
        failed.append(str(err))
        return
    if value is not None:
        task["image"] = value
