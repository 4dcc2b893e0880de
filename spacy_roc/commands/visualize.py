"""Visualizing relations: a self-contained HTML page with, for each doc, its image
beside its text, and the text drawn by spaCy's displaCy: the entities highlighted by
type (displaCy's "span" style), the predicted relations as labelled arcs from head to
tail (its "dep" style, one word per entity with the entity type as its tag), and the
gold relations as a second drawing of the same words.

displaCy lays out the arcs; this module only marks them. When gold relations are
given, every pair is aligned with spacy_roc.alignment and marked ``roc-match``,
``roc-wrong-label``, ``roc-extra`` or ``roc-missed``: each of displaCy's arc groups
becomes ``<g class="displacy-arrow roc-arc roc-pred ...">`` (or ``roc-gold``) with
``data-label``, ``data-head``, ``data-tail`` and ``data-status`` attributes. What
displaCy lacks is added around its output: the image, a table of the pairs with
their runner-ups, and a header with the counts and a legend.

The page loads nothing: the CSS is inline, the images are downscaled data URIs, and
there are no scripts or fonts. `render` builds it from annotated docs (following
displaCy's ``jupyter`` convention); `visualize` runs a pipeline over a ``.spacy`` or
JSONL file and writes it.
"""
import html
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..alignment import PairKey, align, labels_by_pair, status
from ..errors import Errors, Warnings, warn
from ..extensions import record_key
from ..images import ImageError, load_image
from ..inputs import entity_spans
from ..formats.codec import CodecError, data_uri, doc_from_json, records_from_json
from ..formats.jsonl import json_lines

PRED, GOLD = "pred", "gold"
# Mark of an arc against the gold relations: (symbol on the arc, legend text).
STATUSES = {
    "match": ("\u2713", "correct"),
    "wrong-label": ("\u2717", "wrong label"),
    "extra": ("\u2717", "predicted, not in gold"),
    "missed": ("\u2717", "gold, not predicted"),
}
THUMBNAIL_SIZE = 320  # the longest side of an inline image, in pixels
OBJECT_COLOR = (255, 0, 160)  # the boxes of image objects
MIN_DISPLAY_SIZE = 160  # smaller images are shown at this size (upscaled, pixelated)
TITLES = {PRED: "predicted", GOLD: "gold"}
# displaCy's dependency view (spacy.displacy.DependencyRenderer options).
DEP_OPTIONS = {"distance": 140, "offset_x": 60, "word_spacing": 30, "font": "Arial, sans-serif"}
DISPLACY_ARC = '<g class="displacy-arrow">'  # the opening tag of each of its arcs
# Entity colours: displaCy's for its labels, then these for any other label.
PALETTE = (
    "#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb", "#9cc9cc",
    "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2", "#a5d8ff", "#ffc9c9",
    "#d8f5a2", "#eebefa", "#ffd8a8", "#c3fae8",
)

Records = List[Dict[str, Any]]
GoldInput = Union[Doc, Sequence[Dict[str, Any]]]


@dataclass
class PairView:
    """A (head, tail) pair with a predicted or a gold relation, or both: its records
    and its mark against the gold relations (a key of STATUSES, or None)."""

    key: PairKey
    pred: Optional[Dict[str, Any]]
    gold: Optional[Dict[str, Any]]
    status: Optional[str]

    def record(self, kind: str) -> Optional[Dict[str, Any]]:
        return self.pred if kind == PRED else self.gold


# -- the pipeline over a data file ----------------------------------------------------


def visualize(
    model: Union[str, Path],
    data_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    limit: int = 0,
    images_dir: Optional[Union[str, Path]] = None,
    batch_size: int = 32,
) -> Dict[str, int]:
    """Predict the relations of a data file's docs and write the HTML page.

    model (Union[str, Path]): The pipeline: a folder or a package name.
    data_path (Union[str, Path]): A .spacy file (or a folder of them), or a JSONL file
        in the format of `python -m spacy_roc annotate`.
    output_path (Union[str, Path]): The HTML file to write.
    limit (int): Show at most this many docs (0: all).
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths; by
        default the folder of data_path.
    batch_size (int): Docs per batch for nlp.pipe.
    RETURNS (Dict[str, int]): The counts of docs, predicted and gold relations, and
        mismatches (see relation_counts).
    """
    import spacy

    from .evaluate import find_relation_pipe

    nlp = spacy.load(model)
    pipe = find_relation_pipe(nlp)
    docs, gold = read_data(nlp, data_path, pipe.spans_key, images_dir=images_dir, limit=limit)
    annotated = list(nlp.pipe([doc.copy() for doc in docs], batch_size=batch_size))
    page = render(annotated, gold, spans_key=pipe.spans_key, none_label=pipe.none_label, jupyter=False)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(page, encoding="utf8")
    return relation_counts(doc_views(annotated, _gold_records(gold, len(annotated), pipe.none_label), pipe.none_label))


def read_data(
    nlp: Language,
    data_path: Union[str, Path],
    spans_key: Optional[str],
    *,
    images_dir: Optional[Union[str, Path]] = None,
    limit: int = 0,
) -> Tuple[List[Doc], Optional[List[Records]]]:
    """Read the docs to annotate and their reference relations from a data file.

    nlp (Language): The pipeline (its tokenizer and vocab make the docs).
    data_path (Union[str, Path]): A .spacy file or folder, or a .jsonl file.
    spans_key (Optional[str]): Span group for the entities of JSONL lines; None:
        doc.ents.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths; by
        default the folder of data_path.
    limit (int): Read at most this many docs (0: all).
    RETURNS (Tuple[List[Doc], Optional[List[Records]]]): The docs (with entities, image
        and, for .spacy, doc._.relation_pairs) and per doc the reference relation
        records, or None if the data has none.
    RAISES (ValueError): ROC_E400 for an unknown format, ROC_E401 for a missing file,
        ROC_E402 for a malformed JSONL line, ROC_E403 if there are no docs.
    """
    data_path = Path(data_path)
    if not data_path.exists():
        raise ValueError(Errors.ROC_E401.format(path=data_path))
    base_dir = Path(images_dir) if images_dir is not None else (data_path if data_path.is_dir() else data_path.parent)
    if data_path.is_dir() or data_path.suffix == ".spacy":
        docs, gold = _read_spacy(nlp, data_path, base_dir, limit)
    elif data_path.suffix == ".jsonl":
        docs, gold = _read_jsonl(nlp, data_path, spans_key, base_dir, limit)
    else:
        raise ValueError(Errors.ROC_E400.format(path=data_path))
    if not docs:
        raise ValueError(Errors.ROC_E403.format(path=data_path))
    return docs, gold


def _read_spacy(nlp: Language, path: Path, base_dir: Path, limit: int) -> Tuple[List[Doc], Optional[List[Records]]]:
    """The predicted docs of a relation corpus and the records of its references."""
    from ..formats.corpus import RelationCorpus

    examples = list(RelationCorpus(path, images_dir=base_dir, limit=limit)(nlp))
    gold = [list(eg.reference._.relations) for eg in examples]
    return [eg.predicted for eg in examples], gold if any(gold) else None


def _read_jsonl(
    nlp: Language, path: Path, spans_key: Optional[str], base_dir: Path, limit: int
) -> Tuple[List[Doc], Optional[List[Records]]]:
    """The docs of a JSONL file in the format of `annotate` (codec.doc_from_json: the
    entities where the component reads them, the line's "pairs", the image, not
    opened: an unreadable one is shown without it), and its lines' relations
    (codec.records_from_json) if any line has them. Lines that `annotate` marked bad
    (with an "error") are skipped, with ROC_W401."""
    docs: List[Doc] = []
    gold: List[Optional[Records]] = []
    bad_lines: List[int] = []
    for line_no, fields in _json_lines(path):
        if limit and len(docs) >= limit:
            break
        if "error" in fields:
            bad_lines.append(line_no)
            continue
        try:
            doc = doc_from_json(nlp, fields, spans_key, base_dir)
            records = records_from_json(doc, fields.get("relations"))
        except (CodecError, UnicodeEncodeError) as err:  # spaCy's StringStore cannot hold a "\\ud800"
            reason = err.reason if isinstance(err, CodecError) else str(err)
            raise ValueError(Errors.ROC_E402.format(line_no=line_no, path=path, reason=reason)) from err
        docs.append(doc)
        gold.append(records)
    if bad_lines:
        warn(Warnings.ROC_W401.format(n=len(bad_lines), path=path, line_nos=bad_lines[:10]))
    return docs, None if all(records is None for records in gold) else [records or [] for records in gold]


def _json_lines(path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """The line number and object of each non-blank line of a JSONL file (ROC_E402
    at the first line that is not a JSON object)."""
    for line_no, fields in json_lines(path):
        if isinstance(fields, ValueError):
            raise ValueError(Errors.ROC_E402.format(line_no=line_no, path=path, reason=fields)) from fields
        yield line_no, fields


# -- the page -------------------------------------------------------------------------


def render(
    docs: Union[Doc, Iterable[Doc]],
    gold: Optional[Union[GoldInput, Sequence[GoldInput]]] = None,
    *,
    spans_key: Optional[str] = None,
    none_label: str = "None",
    jupyter: Optional[bool] = None,
    page: bool = True,
) -> Optional[str]:
    """Render docs with their relations (doc._.relations) as HTML.

    In a Jupyter notebook (jupyter None, auto-detected as displaCy does, or True) the
    HTML is displayed and None returned; otherwise the HTML is returned.

    docs (Union[Doc, Iterable[Doc]]): The annotated docs.
    gold (Optional[...]): Per doc, the gold relations: a Doc with the same tokens
        (its doc._.relations) or a list of records; for a single doc, one of them.
        None: no gold relations are shown.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    none_label (str): The no-relation label; gold records with it are not shown.
    jupyter (Optional[bool]): Override the notebook detection.
    page (bool): Return a full HTML page; False: the markup (with its <style>) only.
    RETURNS (Optional[str]): The HTML, or None when displayed in a notebook.
    RAISES (ValueError): ROC_E404 if gold does not give one entry per doc.
    """
    from spacy.util import is_in_jupyter

    if isinstance(docs, Doc):
        docs, gold = [docs], (None if gold is None else _one_doc_gold(gold))
    docs = list(docs)
    markup = render_markup(docs, _gold_records(gold, len(docs), none_label), spans_key, none_label)
    result = TPL_PAGE.format(content=markup) if page else markup
    if jupyter or (jupyter is None and is_in_jupyter()):
        from IPython.display import HTML, display

        # As displaCy: the span keeps MathJax from reading "$...$" in the text.
        return display(HTML(f'<span class="tex2jax_ignore">{result}</span>'))
    return result


def _one_doc_gold(gold: Union[GoldInput, Sequence[GoldInput]]) -> List[GoldInput]:
    """The gold of a single doc as a list of one: a Doc or a list of records, or
    already a list of one of them."""
    if isinstance(gold, Doc) or all(isinstance(record, dict) for record in gold):
        return [gold]
    return list(gold)


def _gold_records(gold: Optional[Sequence[GoldInput]], n_docs: int, none_label: str) -> Optional[List[Records]]:
    """Per doc, the gold records without the no-relation label."""
    if gold is None:
        return None
    gold = list(gold)
    if len(gold) != n_docs:
        raise ValueError(Errors.ROC_E404.format(n_gold=len(gold), n_docs=n_docs))
    relations = [item._.relations if isinstance(item, Doc) else item for item in gold]
    return [[r for r in records if r["label"] != none_label] for records in relations]


def render_markup(
    docs: Sequence[Doc], gold: Optional[Sequence[Records]], spans_key: Optional[str], none_label: str
) -> str:
    """The markup of the page body: the style, the summary and legend, one figure
    per doc. Unreadable images give one ROC_W400 warning; those docs have no image.

    docs (Sequence[Doc]): The annotated docs.
    gold (Optional[Sequence[Records]]): Per doc, the gold records to show, or None.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    none_label (str): The no-relation label.
    RETURNS (str): The markup.
    """
    colors = entity_colors(span.label_ for doc in docs for span in entity_spans(doc, spans_key))
    views = doc_views(docs, gold, none_label)
    figures, failed = [], []
    for i, doc in enumerate(docs):
        image, reason = image_markup(doc._.image, doc._.objects)
        failed.extend([reason] if reason else [])
        spans = entity_spans(doc, spans_key)
        figures.append(figure_markup(i, doc, views[i], image, spans, colors, gold is not None))
    if failed:
        warn(Warnings.ROC_W400.format(n=len(failed), reason=failed[0]))
    header = header_markup(relation_counts(views), colors, gold is not None)
    return TPL_BODY.format(style=STYLE, header=header, figures="\n".join(figures))


def entity_colors(labels: Iterable[str]) -> Dict[str, str]:
    """A distinct colour per entity label: displaCy's for its labels, else the next
    colour of PALETTE not yet used (cycling when all are).

    labels (Iterable[str]): The entity labels.
    RETURNS (Dict[str, str]): The colour of each label, by sorted label.
    """
    from spacy.displacy.render import DEFAULT_LABEL_COLORS

    colors: Dict[str, str] = {}
    for label in sorted(set(labels)):
        used = set(colors.values())
        known = DEFAULT_LABEL_COLORS.get(label)
        free = [color for color in PALETTE if color not in used]
        if known is not None and known not in used:
            colors[label] = known
        else:
            colors[label] = free[0] if free else PALETTE[len(colors) % len(PALETTE)]
    return colors


def pair_views(pred: Records, gold: Optional[Records], none_label: str) -> List[PairView]:
    """The pairs of a doc that have a relation. Without gold: the predicted records,
    unmarked. With gold: every pair of alignment.align (gold order, then the pairs
    only predicted), marked by alignment.status.

    pred (Records): The predicted records.
    gold (Optional[Records]): The gold records (without the no-relation label), or None.
    none_label (str): The no-relation label.
    RETURNS (List[PairView]): One view per pair.
    """
    if gold is None:
        return [PairView(record_key(record), record, None, None) for record in pred]
    pred_by_pair = {record_key(record): record for record in pred}
    gold_by_pair = {record_key(record): record for record in gold}
    aligned = align(labels_by_pair(gold), labels_by_pair(pred), none_label)
    return [
        PairView(key, pred_by_pair.get(key), gold_by_pair.get(key), status(gold_label, pred_label, none_label))
        for key, gold_label, pred_label in aligned
    ]


def doc_views(docs: Sequence[Doc], gold: Optional[Sequence[Records]], none_label: str) -> List[List[PairView]]:
    """The pair views (see pair_views) of each annotated doc."""
    return [pair_views(doc._.relations, None if gold is None else gold[i], none_label) for i, doc in enumerate(docs)]


def relation_counts(views: Sequence[Sequence[PairView]]) -> Dict[str, int]:
    """Count the docs, the predicted and gold relations, and the mismatches.

    views (Sequence[Sequence[PairView]]): Per doc, its pair views.
    RETURNS (Dict[str, int]): n_docs, n_predicted, n_gold and n_mismatches (pairs
        marked wrong-label, extra or missed; 0 without gold).
    """
    pairs = [view for doc_views in views for view in doc_views]
    return {
        "n_docs": len(views),
        "n_predicted": sum(view.pred is not None for view in pairs),
        "n_gold": sum(view.gold is not None for view in pairs),
        "n_mismatches": sum(view.status not in (None, "match") for view in pairs),
    }


def header_markup(counts: Dict[str, int], colors: Dict[str, str], with_gold: bool) -> str:
    """The summary line and the legend of entity types and arc marks."""
    summary = f"{counts['n_docs']} docs \u00b7 {counts['n_predicted']} predicted relations"
    if with_gold:
        summary += f" \u00b7 {counts['n_gold']} gold \u00b7 {counts['n_mismatches']} mismatches"
    chips = [
        f'<span class="roc-chip" style="background: {color}">{_esc(label)}</span>' for label, color in colors.items()
    ]
    if with_gold:
        chips += [
            f'<span class="roc-key roc-{status}">{symbol} {text}</span>' for status, (symbol, text) in STATUSES.items()
        ]
    return TPL_HEADER.format(summary=summary, legend=" ".join(chips))


def figure_markup(
    i: int, doc: Doc, views: List[PairView], image: str, spans: List[Span], colors: Dict[str, str], with_gold: bool
) -> str:
    """The figure of one doc: caption, image, displaCy's entities and arcs (the
    predicted relations, then the gold ones), relation table.

    i (int): The doc's index on the page.
    doc (Doc): The annotated doc.
    views (List[PairView]): Its pairs (see pair_views).
    image (str): Its image markup (see image_markup).
    spans (List[Span]): Its entities.
    colors (Dict[str, str]): The colour of each entity label.
    with_gold (bool): Draw the gold relations and add the gold columns.
    RETURNS (str): The markup.
    """
    counts = f"{sum(v.pred is not None for v in views)} predicted"
    counts += f", {sum(v.gold is not None for v in views)} gold" if with_gold else ""
    words, bounds = dep_words(doc, spans, views)
    kinds = [PRED, GOLD] if with_gold else [PRED]
    arcs = [arcs_markup(doc, words, bounds, views, kind, f"roc-{i}-{kind}") for kind in kinds]
    return TPL_FIGURE.format(
        i=i, caption=f"#{i} \u00b7 {counts} relation(s)", image=image, entities=entities_markup(doc, spans, colors),
        arcs="\n".join(arcs), table=relation_table(doc, views, with_gold),
    )


# -- images ---------------------------------------------------------------------------


def image_markup(value: Any, objects: Sequence[Dict[str, Any]] = ()) -> Tuple[str, Optional[str]]:
    """The <img> of a doc's image as a downscaled data URI, its objects' boxes drawn
    on it and numbered as in the arcs ("[0] ...").

    value (Any): The doc._.image value (None: no image).
    objects (Sequence[Dict[str, Any]]): doc._.objects.
    RETURNS (Tuple[str, Optional[str]]): The markup ("" without image; a note if the
        image cannot be read) and the reason it cannot be read, or None.
    """
    if value is None:
        return "", None
    try:
        image = load_image(value)
    except ImageError as err:
        return '<div class="roc-image roc-no-image">image not readable</div>', err.reason
    scale = max(1.0, MIN_DISPLAY_SIZE / max(image.size))
    if objects:  # boxes are drawn at the display size, so that they stay thin
        image = draw_objects(image.resize((round(image.width * scale), round(image.height * scale)), 0), objects)
        scale = 1.0
    uri, (width, height) = image_data_uri(image)
    pixelated = ' style="image-rendering: pixelated"' if scale > 1 else ""
    size = f'width="{round(width * scale)}" height="{round(height * scale)}"'
    return f'<img class="roc-image" alt="image of the doc" {size}{pixelated} src="{uri}">', None


def draw_objects(image: Any, objects: Sequence[Dict[str, Any]]) -> Any:
    """A copy of the image with each object's box and index drawn on it."""
    from PIL import ImageDraw

    image = image.copy()
    draw = ImageDraw.Draw(image)
    for i, record in enumerate(objects):
        x0, y0, x1, y1 = record["box"]
        box = [x0 * (image.width - 1), y0 * (image.height - 1), x1 * (image.width - 1), y1 * (image.height - 1)]
        draw.rectangle(box, outline=OBJECT_COLOR, width=2)
        draw.text((box[0] + 3, box[1] + 2), str(i), fill=OBJECT_COLOR)
    return image


def image_data_uri(image: Any, max_size: int = THUMBNAIL_SIZE) -> Tuple[str, Tuple[int, int]]:
    """Downscale an image to at most max_size pixels a side and encode it as a data
    URI: PNG if it has at most 256 colours (drawings, synthetic images), else JPEG.

    image (PIL.Image.Image): An RGB image; it is not modified.
    max_size (int): The longest side of the result.
    RETURNS (Tuple[str, Tuple[int, int]]): The data URI and the (width, height).
    """
    from PIL import Image

    scale = min(1.0, max_size / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    thumb = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if scale < 1 else image
    few_colors = thumb.getcolors(256) is not None
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG" if few_colors else "JPEG", **({} if few_colors else {"quality": 85}))
    return data_uri(buffer.getvalue(), "image/png" if few_colors else "image/jpeg"), size


# -- displaCy's drawings --------------------------------------------------------------


def entities_markup(doc: Doc, spans: Sequence[Span], colors: Dict[str, str]) -> str:
    """The text with its entities highlighted, by displaCy's "span" style.

    doc (Doc): The doc.
    spans (Sequence[Span]): Its entities (they may overlap).
    colors (Dict[str, str]): The colour of each entity label.
    RETURNS (str): displaCy's markup.
    """
    from spacy import displacy

    # displaCy escapes the tokens, not the labels.
    entities = [{"start_token": s.start, "end_token": s.end, "label": _esc(s.label_)} for s in spans]
    parse = {"text": doc.text, "tokens": [token.text for token in doc], "spans": entities}
    options = {"colors": {_esc(label): color for label, color in colors.items()}}
    return displacy.render(parse, style="span", manual=True, jupyter=False, options=options)


def dep_words(
    doc: Doc, spans: Sequence[Span], views: Sequence[PairView]
) -> Tuple[List[Dict[str, str]], List[Tuple[int, int]]]:
    """displaCy's words for the arcs of a doc: one per entity (and per head or tail
    of a relation), one per other token; where entities overlap, the doc is cut at
    each of their boundaries. A word's tag is the type of the entities starting there.

    doc (Doc): The doc.
    spans (Sequence[Span]): Its entities.
    views (Sequence[PairView]): Its pairs.
    RETURNS (Tuple[List[Dict[str, str]], List[Tuple[int, int]]]): The words
        ({"text", "tag"}) and the token offsets of each.
    """
    units = {(span.start, span.end) for span in spans} | {key for view in views for key in view.key if key[0] != "object"}
    inside = {i for start, end in units for i in range(start + 1, end)}
    cuts = sorted((set(range(len(doc) + 1)) - inside) | {i for unit in units for i in unit})
    labels: Dict[int, Dict[str, None]] = defaultdict(dict)  # ordered sets
    for span in spans:
        labels[span.start][span.label_] = None
    bounds: List[Any] = list(zip(cuts, cuts[1:]))
    words = [{"text": doc[start:end].text, "tag": _esc(" / ".join(labels[start]))} for start, end in bounds]
    for i, record in enumerate(doc._.objects):  # the image's objects, after the text
        words.append({"text": f"[{i}] {object_words(record)}", "tag": "OBJECT"})
        bounds.append(("object", i))
    return words, bounds


def object_words(record: Dict[str, Any]) -> str:
    """What an object is called on the page: its caption, else its name, else "object"."""
    return record.get("caption") or record.get("name") or "object"


def side_text(doc: Doc, key: Any) -> str:
    """The text of a pair side: the span's, or "[i] ..." for an object."""
    if key[0] == "object":
        return f"[{key[1]}] {object_words(doc._.objects[key[1]])}"
    return doc[slice(*key)].text


def arc_words(key: PairKey, word_of: Dict[int, int]) -> Optional[Tuple[int, int]]:
    """The words an arc joins: the first word of its head and of its tail; where
    both start at the same token, the longer one is joined at its first word past
    the shorter one. None if head and tail are the same span.

    key (PairKey): The (head, tail) offsets.
    word_of (Dict[int, int]): The index of the word starting at each cut.
    RETURNS (Optional[Tuple[int, int]]): The head word and the tail word.
    """
    (head, tail) = key
    ends = word_of[head if head[0] == "object" else head[0]], word_of[tail if tail[0] == "object" else tail[0]]
    if head[0] == tail[0] and head[1] != tail[1] and "object" not in (head[0], tail[0]):
        past = word_of[min(head[1], tail[1])]
        ends = (ends[0], past) if tail[1] > head[1] else (past, ends[1])
    return None if ends[0] == ends[1] else ends


def dep_arcs(
    views: Sequence[PairView], kind: str, bounds: Sequence[Tuple[int, int]]
) -> Tuple[List[Dict[str, Any]], List[PairView]]:
    """displaCy's arcs of one kind, from head to tail, labelled by arc_text.

    views (Sequence[PairView]): The doc's pairs.
    kind (str): PRED or GOLD.
    bounds (Sequence[Tuple[int, int]]): The token offsets of each word.
    RETURNS (Tuple[List[Dict[str, Any]], List[PairView]]): The arcs and the pair
        of each.
    """
    word_of = {bound if bound[0] == "object" else bound[0]: k for k, bound in enumerate(bounds)}
    arcs: List[Dict[str, Any]] = []
    drawn: List[PairView] = []
    for view in views:
        record = view.record(kind)
        ends = None if record is None else arc_words(view.key, word_of)
        if ends is None:
            continue
        (start, end), label = sorted(ends), _esc(arc_text(record, view.status, kind))
        # displaCy levels arcs by (start, end, label): two arcs that share all three
        # would be drawn on one path, so a no-break space tells them apart.
        while any((arc["start"], arc["end"], arc["label"]) == (start, end, label) for arc in arcs):
            label += "\u00a0"
        arcs.append({"start": start, "end": end, "label": label, "dir": "right" if ends[0] < ends[1] else "left"})
        drawn.append(view)
    return arcs, drawn


def arcs_markup(
    doc: Doc,
    words: List[Dict[str, str]],
    bounds: Sequence[Tuple[int, int]],
    views: Sequence[PairView],
    kind: str,
    svg_id: str,
) -> str:
    """One kind of arcs, drawn by displaCy's "dep" style (see mark_arcs), under a title.

    doc (Doc): The doc.
    words (List[Dict[str, str]]): displaCy's words (see dep_words).
    bounds (Sequence[Tuple[int, int]]): The token offsets of each word.
    views (Sequence[PairView]): The doc's pairs.
    kind (str): PRED or GOLD.
    svg_id (str): The id of the <svg>, unique on the page.
    RETURNS (str): The markup.
    """
    from spacy import displacy

    arcs, drawn = dep_arcs(views, kind, bounds)
    svg = '<p class="roc-none">none</p>'
    if arcs:
        parse = {"words": words, "arcs": arcs}
        svg = displacy.render(parse, style="dep", manual=True, jupyter=False, options=DEP_OPTIONS)
        svg = mark_arcs(doc, svg, drawn, kind, svg_id)
    return TPL_ARCS.format(kind=kind, title=TITLES[kind], svg=svg)


def mark_arcs(doc: Doc, svg: str, views: Sequence[PairView], kind: str, svg_id: str) -> str:
    """displaCy's SVG with its random id replaced (so a page renders the same twice)
    and each of its arc groups, in order, marked with its relation:
    <g class="displacy-arrow roc-arc roc-KIND roc-STATUS" data-status data-label
    data-head data-tail [data-score]>, and a <title> that describes it.

    doc (Doc): The doc.
    svg (str): displaCy's markup of the arcs of `views`, in order.
    views (Sequence[PairView]): The pair of each arc.
    kind (str): PRED or GOLD.
    svg_id (str): The new id.
    RETURNS (str): The markup.
    """
    match = re.search(r'<svg [^>]*\bid="([^"]+)"', svg)
    parts = (svg.replace(match.group(1), svg_id) if match else svg).split(DISPLACY_ARC)
    if len(parts) != len(views) + 1:
        raise ValueError(f"displaCy drew {len(parts) - 1} arcs for {len(views)} relations")
    groups = [arc_group(doc, view, kind) for view in views]
    return parts[0] + "".join(group + part for group, part in zip(groups, parts[1:]))


def arc_group(doc: Doc, view: PairView, kind: str) -> str:
    """The opening tag of an arc's group, with its title (see mark_arcs)."""
    record = view.record(kind)
    classes = f"displacy-arrow roc-arc roc-{kind}" + (f" roc-{view.status}" if view.status else "")
    score = f' data-score="{record["score"]:.4f}"' if kind == PRED else ""
    head, tail = (" ".join(map(str, offsets)) for offsets in view.key)
    attributes = f'data-status="{view.status or ""}" data-label="{_esc(record["label"])}"'
    attributes += f' data-head="{head}" data-tail="{tail}"'
    return f'<g class="{classes}" {attributes}{score}><title>{_esc(describe(doc, view, kind))}</title>'


def arc_text(record: Dict[str, Any], mark: Optional[str], kind: str) -> str:
    """The label on an arc: the mark against gold, the label, the score of predictions."""
    symbol = STATUSES[mark][0] + " " if mark else ""
    score = f" {record['score']:.2f}" if kind == PRED else ""
    return f"{symbol}{record['label']}{score}"


def describe(doc: Doc, view: PairView, kind: str) -> str:
    """A one-line description of an arc: head, label, tail, score and mark."""
    record = view.record(kind)
    (head, tail) = view.key
    score = f" ({record['score']:.2f})" if kind == PRED else ""
    mark = f"; {STATUSES[view.status][1]}" if view.status else ""
    return f"{kind}: {side_text(doc, head)} \u2192 {record['label']}{score} \u2192 {side_text(doc, tail)}{mark}"


# -- the relation table ---------------------------------------------------------------


def relation_table(doc: Doc, views: Sequence[PairView], with_gold: bool) -> str:
    """A table of the doc's relations: one row per pair, predicted and gold.

    doc (Doc): The doc.
    views (Sequence[PairView]): Its pairs (see pair_views).
    with_gold (bool): Add the gold and mark columns.
    RETURNS (str): The <table> markup ("" if there are no relations).
    """
    if not views:
        return ""
    header = ["head", "tail", "predicted", "alternatives"] + (["gold", ""] if with_gold else [])
    cells = "".join(f"<th>{name}</th>" for name in header)
    body = [_table_row(doc, view, with_gold) for view in views]
    return f'<table class="roc-table"><thead><tr>{cells}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _table_row(doc: Doc, view: PairView, with_gold: bool) -> str:
    (head, tail), pred, gold = view.key, view.pred, view.gold
    cells = [side_text(doc, head), side_text(doc, tail)]
    cells.append(f"{pred['label']} ({pred['score']:.2f})" if pred else "")
    alternatives = pred.get("alternatives", []) if pred else []
    cells.append(", ".join(f"{label} ({score:.2f})" for label, score in alternatives))
    if with_gold:
        cells += [gold["label"] if gold else "", STATUSES[view.status][1] if view.status else ""]
    row_class = f"roc-row roc-row-{view.status}" if view.status else "roc-row"
    return f'<tr class="{row_class}">' + "".join(f"<td>{_esc(cell)}</td>" for cell in cells) + "</tr>"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


# -- templates ------------------------------------------------------------------------

TPL_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>spacy-roc relations</title>
</head>
<body>
{content}
</body>
</html>
"""

TPL_BODY = """<div class="roc-viz">
<style>{style}</style>
{header}
{figures}
</div>"""

TPL_HEADER = """<header class="roc-header">
<p class="roc-summary">{summary}</p>
<p class="roc-legend">{legend}</p>
</header>"""

TPL_FIGURE = """<figure class="roc-doc" id="roc-doc-{i}" data-doc="{i}">
<figcaption>{caption}</figcaption>
<div class="roc-body">
{image}
<div class="roc-text">
<div class="roc-entities">{entities}</div>
{arcs}
{table}
</div>
</div>
</figure>"""

TPL_ARCS = """<div class="roc-arcs roc-arcs-{kind}">
<p class="roc-arcs-title">{title}</p>
<div class="roc-scroll">{svg}</div>
</div>"""

STYLE = """
.roc-viz { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; color: #222; }
.roc-header { margin: 0 0 1rem; }
.roc-summary { margin: 0 0 0.4rem; font-weight: 600; }
.roc-legend { margin: 0; line-height: 2; }
.roc-chip { padding: 0.15em 0.5em; border-radius: 0.3em; font-size: 0.8em; font-weight: 700; margin-right: 0.3em; }
.roc-key { font-size: 0.85em; margin-right: 0.8em; font-weight: 600; }
.roc-doc { margin: 0 0 2rem; padding: 0.8rem; border: 1px solid #ddd; border-radius: 6px; }
.roc-doc figcaption { font-size: 0.85em; color: #666; margin-bottom: 0.5rem; }
.roc-body { display: flex; gap: 1rem; align-items: flex-start; }
.roc-image { flex: none; border: 1px solid #ccc; max-width: 320px; height: auto; }
.roc-no-image { width: 160px; height: 60px; display: flex; align-items: center; justify-content: center; color: #999; font-size: 0.8em; }
.roc-text { flex: 1; min-width: 0; }
.roc-arcs-title { margin: 0.6rem 0 0; font-size: 0.75em; font-weight: 700; text-transform: uppercase; letter-spacing: 0.05em; color: #888; }
.roc-none { margin: 0; font-size: 0.8em; color: #999; }
.roc-scroll { overflow-x: auto; }
.roc-arc { color: #444; }
.roc-match { color: #1b7f3b; }
.roc-wrong-label { color: #c76a00; }
.roc-extra, .roc-missed { color: #c62828; }
.roc-extra .displacy-arc, .roc-missed .displacy-arc { stroke-dasharray: 6 4; }
.roc-table { border-collapse: collapse; font-size: 0.8em; margin-top: 0.5rem; }
.roc-table th, .roc-table td { border-bottom: 1px solid #eee; padding: 0.2em 0.6em; text-align: left; }
.roc-row-extra td, .roc-row-missed td { color: #c62828; }
.roc-row-wrong-label td { color: #c76a00; }
"""
