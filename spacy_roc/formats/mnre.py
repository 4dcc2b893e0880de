"""Convert MNRE (Zheng et al., ICME 2021) text files to ``.spacy``.

Input: one Python dict literal per line (not JSON), parsed with ``ast.literal_eval``,
with keys ``token`` (list of str), ``h`` and ``t`` (``{'name': str, 'pos': [start,
end]}``, token offsets, end exclusive), ``img_id`` (image file name) and ``relation``.
Each line is one instance, i.e. one annotated entity pair.

Output: one ``Doc`` per sentence. Instances are grouped by ``(tuple(token), img_id)``;
a sentence's instances are consecutive in the official files, but the grouping does
not rely on it.

- ``words`` = the token list, every token followed by a space except the last.
- Every distinct mention ``(start, end)`` goes into the span group ``"entities"``. Some
  sentences have overlapping mentions (59 in the training split), so ``doc.ents``
  cannot hold them.
- **Every mention gets the same label, ``"ENTITY"``.** MNRE gives no entity types; they
  show only through the prefix of the relation label (``/per/org/...``), and ``None``
  instances carry none. Deriving types from the labels would tell a model whether a
  pair is related (typed exactly when the label is not ``None``): gold-label leakage.
- ``doc._.relations`` holds one record per instance, in the instance's own direction
  (``h`` -> head, ``t`` -> tail), including ``None`` instances. Labels are kept as
  they are, including the misspelled ``/per/per/alumi``.
- ``doc._.image`` = ``img_id``, a path relative to the images folder; the corpus reader
  resolves it. With ``images_dir`` given, missing files are counted and reported;
  those docs stay usable text-only.

The offsets are authoritative; a ``name`` that differs from the tokens it covers (as
in MNRE-1, where ``#`` was split off) is counted in the stats, not treated as an error.
"""
import ast
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from ..errors import Errors, Warnings
from .codec import ENTITY_LABEL, SPANS_KEY, count_missing_images, overlapping_spans
from .docbin import write_docbin
from ..extensions import install_extensions, make_record

ON_ERROR = ("raise", "skip")
REQUIRED_KEYS = ("token", "h", "t", "img_id", "relation")

Instance = Dict[str, Any]
LineError = Tuple[int, str]


class MNRELineError(ValueError):
    """A line that is not a well-formed MNRE instance."""


def convert_mnre(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    images_dir: Optional[Union[str, Path]] = None,
    on_error: str = "raise",
    progress: bool = True,
) -> Dict[str, Any]:
    """Convert an MNRE text file to a ``.spacy`` file (DocBin with user data).

    input_path (Union[str, Path]): The MNRE file, e.g. mnre_train.txt.
    output_path (Union[str, Path]): The .spacy file to write; parent folders are created.
    images_dir (Optional[Union[str, Path]]): Folder with the images, to count missing ones.
    on_error (str): "raise" stops at the first malformed line; "skip" skips malformed
        lines, lists them in the stats under "errors" and warns (ROC_W100).
    progress (bool): Show a progress bar.
    RETURNS (Dict[str, Any]): Stats: n_lines, n_instances, n_docs, n_mentions,
        n_overlapping_docs, n_name_mismatches, n_missing_images (None without
        images_dir), missing_images (first 10), n_image_paths and n_image_bytes (with
        images_dir), errors [(line_no, message)], labels {label: count}.
    RAISES (ValueError): ROC_E100 on a malformed line with on_error="raise".
    """
    docs, stats = mnre_to_docs(input_path, images_dir, on_error, progress)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_docbin(docs, output_path)
    return stats


def mnre_to_docs(
    input_path: Union[str, Path],
    images_dir: Optional[Union[str, Path]] = None,
    on_error: str = "raise",
    progress: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[List[Doc], Dict[str, Any]]:
    """Read an MNRE text file into docs, one per sentence. See convert_mnre.

    input_path (Union[str, Path]): The MNRE file.
    images_dir (Optional[Union[str, Path]]): Folder with the images, to count missing ones.
    on_error (str): "raise" or "skip".
    progress (bool): Show a progress bar.
    vocab (Optional[Vocab]): The vocab of the docs; a new one by default.
    RETURNS (Tuple[List[Doc], Dict[str, Any]]): The docs and the stats.
    """
    if on_error not in ON_ERROR:
        raise ValueError(Errors.ROC_E101.format(value=on_error))
    input_path = Path(input_path)
    if not input_path.is_file():
        raise ValueError(Errors.ROC_E102.format(path=input_path))
    if images_dir is not None and not Path(images_dir).is_dir():
        raise ValueError(Errors.ROC_E103.format(path=images_dir))
    install_extensions()
    instances, errors, n_lines = read_mnre(input_path, on_error, progress)
    vocab = vocab if vocab is not None else Vocab()
    docs = [sentence_to_doc(vocab, group) for group in group_sentences(instances)]
    stats = _stats(docs, instances, errors, n_lines)
    if errors:
        examples = ", ".join(f"line {no}: {msg}" for no, msg in errors[:3])
        warnings.warn(
            Warnings.ROC_W100.format(n_errors=len(errors), path=input_path, examples=examples)
        )
    stats.update(_count_images(docs, images_dir))
    return docs, stats


def read_mnre(
    path: Path, on_error: str = "raise", progress: bool = False
) -> Tuple[List[Tuple[int, Instance]], List[LineError], int]:
    """Parse the lines of an MNRE file. Blank lines are ignored.

    path (Path): The file.
    on_error (str): "raise" or "skip".
    progress (bool): Show a progress bar.
    RETURNS (Tuple): (line number, instance) pairs, (line number, message) errors and the
        number of non-blank lines. Line numbers start at 1.
    """
    from tqdm import tqdm

    with Path(path).open(encoding="utf8") as file_:
        lines = file_.read().splitlines()
    instances: List[Tuple[int, Instance]] = []
    errors: List[LineError] = []
    n_lines = 0
    for line_no, line in enumerate(tqdm(lines, desc=path.name, disable=not progress), 1):
        if not line.strip():
            continue
        n_lines += 1
        try:
            instances.append((line_no, parse_mnre_line(line)))
        except MNRELineError as err:
            if on_error == "raise":
                message = Errors.ROC_E100.format(line_no=line_no, path=path, reason=err)
                raise ValueError(message) from err
            errors.append((line_no, str(err)))
    return instances, errors, n_lines


def parse_mnre_line(line: str) -> Instance:
    """Parse and check one MNRE line.

    line (str): A Python dict literal.
    RETURNS (Dict[str, Any]): The instance, with "pos" values as tuples of int.
    RAISES (MNRELineError): If the line is not a well-formed instance.
    """
    value = read_line_fields(line)
    head, tail = _check_entity(value, "h"), _check_entity(value, "t")
    if head["pos"] == tail["pos"]:
        raise MNRELineError(f"head and tail are the same span {list(head['pos'])}")
    return {**value, "h": head, "t": tail}


def read_line_fields(line: str) -> Instance:
    """The dict literal of one line of MNRE's layout (MORE's too), with its keys
    present and "token", "img_id" and "relation" checked; "h" and "t" are left to the
    caller. RAISES (MNRELineError): If the line is not such a dict."""
    try:
        value = ast.literal_eval(line.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise MNRELineError(f"not a Python literal ({type(err).__name__}: {err})") from None
    if not isinstance(value, dict):
        raise MNRELineError(f"expected a dict, got {type(value).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in value]
    if missing:
        raise MNRELineError(f"missing key(s) {missing}")
    tokens = value["token"]
    if not isinstance(tokens, list) or not tokens:
        raise MNRELineError("'token' must be a non-empty list of strings")
    if not all(isinstance(token, str) and token.strip() for token in tokens):
        raise MNRELineError("'token' must hold non-empty strings")
    for key in ("img_id", "relation"):
        if not isinstance(value[key], str) or not value[key]:
            raise MNRELineError(f"'{key}' must be a non-empty string")
    return value


def _check_entity(value: Instance, key: str) -> Dict[str, Any]:
    entity = value[key]
    if not isinstance(entity, dict) or "pos" not in entity:
        raise MNRELineError(f"'{key}' must be a dict with 'name' and 'pos'")
    pos = entity["pos"]
    if (
        not isinstance(pos, (list, tuple))
        or len(pos) != 2
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in pos)
    ):
        raise MNRELineError(f"'{key}' pos must be [start, end] integers, got {pos!r}")
    start, end = pos
    if not 0 <= start < end <= len(value["token"]):
        raise MNRELineError(
            f"'{key}' pos {[start, end]} outside the {len(value['token'])} tokens"
        )
    return {"name": str(entity.get("name", "")), "pos": (start, end)}


def group_sentences(
    instances: Iterable[Tuple[int, Instance]],
) -> List[List[Tuple[int, Instance]]]:
    """Group instances by sentence, i.e. by (tuple(token), img_id), in order of first
    appearance.

    instances (Iterable[Tuple[int, Instance]]): (line number, instance) pairs.
    RETURNS (List[List[Tuple[int, Instance]]]): The instances of each sentence.
    """
    groups: Dict[Tuple[Tuple[str, ...], str], List[Tuple[int, Instance]]] = {}
    for line_no, instance in instances:
        key = (tuple(instance["token"]), instance["img_id"])
        groups.setdefault(key, []).append((line_no, instance))
    return list(groups.values())


def sentence_to_doc(vocab: Vocab, group: Sequence[Tuple[int, Instance]]) -> Doc:
    """Build the doc of one sentence: words, mentions in span group "entities" (label
    "ENTITY"), one relation record per instance, and the image id.

    vocab (Vocab): The vocab.
    group (Sequence[Tuple[int, Instance]]): The sentence's (line number, instance) pairs.
    RETURNS (Doc): The doc.
    """
    first = group[0][1]
    words = list(first["token"])
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
    mentions = sorted({inst[key]["pos"] for _, inst in group for key in ("h", "t")})
    doc.spans[SPANS_KEY] = [Span(doc, start, end, label=ENTITY_LABEL) for start, end in mentions]
    doc._.relations = [
        make_record(inst["h"]["pos"], inst["t"]["pos"], inst["relation"]) for _, inst in group
    ]
    doc._.image = first["img_id"]
    return doc


def has_overlapping_mentions(doc: Doc, spans_key: str = SPANS_KEY) -> bool:
    """Whether two distinct mentions of the doc share a token.

    doc (Doc): The doc.
    spans_key (str): The span group with the mentions.
    RETURNS (bool): True if some mentions overlap.
    """
    return overlapping_spans(doc.spans[spans_key]) is not None


def _count_images(docs: Sequence[Doc], images_dir: Optional[Union[str, Path]]) -> Dict[str, Any]:
    """codec.count_missing_images of the docs, whose images are relative to
    images_dir; ROC_W101 if some are missing.

    docs (Sequence[Doc]): The docs.
    images_dir (Optional[Union[str, Path]]): The images folder, or None to skip the check.
    RETURNS (Dict[str, Any]): n_image_paths, n_image_bytes, n_missing_images and
        missing_images (the first 10 missing file names); without images_dir
        n_missing_images None and missing_images [].
    """
    if images_dir is None:
        return {"n_missing_images": None, "missing_images": []}
    if not Path(images_dir).is_dir():
        raise ValueError(Errors.ROC_E103.format(path=images_dir))
    counts = count_missing_images(docs, images_dir)
    if counts["n_missing_images"]:
        warnings.warn(Warnings.ROC_W101.format(
            n_missing=counts["n_missing_images"], n_docs=len(docs), images_dir=images_dir,
            examples=", ".join(counts["missing_images"][:3]),
        ))
    return counts


def _stats(
    docs: Sequence[Doc],
    instances: Sequence[Tuple[int, Instance]],
    errors: Sequence[LineError],
    n_lines: int,
) -> Dict[str, Any]:
    labels = Counter(inst["relation"] for _, inst in instances)
    mismatches = sum(
        " ".join(inst["token"][slice(*inst[key]["pos"])]) != inst[key]["name"]
        for _, inst in instances
        for key in ("h", "t")
    )
    return {
        "n_lines": n_lines,
        "n_instances": len(instances),
        "n_docs": len(docs),
        "n_mentions": sum(len(doc.spans[SPANS_KEY]) for doc in docs),
        "n_overlapping_docs": sum(has_overlapping_mentions(doc) for doc in docs),
        "n_name_mismatches": mismatches,
        "errors": list(errors),
        "labels": dict(sorted(labels.items(), key=lambda item: (-item[1], item[0]))),
    }
