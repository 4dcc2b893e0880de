"""Visualizing relations: a self-contained HTML page with, for each doc, its image
beside its text, the entities highlighted by type, the predicted relations drawn as
labelled arcs above the text and the gold relations below it.

Arcs follow displaCy's dependency style (an SVG path with an arrowhead at the tail,
the label on the arc) and are stacked in levels, so that arcs of overlapping pairs
are never drawn on top of each other. When gold relations are given, every arc is
marked: ``roc-match`` (same pair, same label), ``roc-wrong-label`` (same pair, other
label), ``roc-extra`` (predicted, not in gold) or ``roc-missed`` (gold, not
predicted). Each arc is one ``<g class="roc-arc roc-pred ...">`` or
``<g class="roc-arc roc-gold ...">`` element with ``data-label``, ``data-head`` and
``data-tail`` attributes.

The page loads nothing: the CSS is inline, the images are downscaled data URIs, and
there are no scripts or fonts. `render` builds it from annotated docs (following
displaCy's ``jupyter`` convention); `visualize` runs a pipeline over a ``.spacy`` or
JSONL file and writes it.
"""
import html
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span

from .annotate import Pair, listed_pairs, set_entities
from ..errors import Errors, Warnings, warn
from ..extensions import make_record, record_key
from ..images import ImageError, data_uri, load_image, resolve_image_string
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
MIN_DISPLAY_SIZE = 160  # smaller images are shown at this size (upscaled, pixelated)
# SVG geometry, in pixels. Text widths are estimated (see text_width): each token is
# centred in its box, so a wrong estimate only changes the gaps.
FONT_SIZE, TOKEN_GAP, PADDING = 16, 8.0, 24.0
LABEL_SIZE, ENT_LABEL_SIZE = 12.0, 11.0  # arc labels (11 px bold), entity labels (10 px bold)
LEVEL_HEIGHT, ENT_ROW_HEIGHT, ARROW_SIZE = 30.0, 17.0, 5.0
# Widths of characters in a sans-serif font, in em.
NARROW_CHARS, NARROW_WIDTH = set("fijlrtI.,;:'!|()[]{} "), 0.3
WIDE_CHARS, WIDE_WIDTH = set("mwMW@%&#"), 0.85
# Entity colours: displaCy's for its labels, then these for any other label.
PALETTE = (
    "#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb", "#9cc9cc",
    "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2", "#a5d8ff", "#ffc9c9",
    "#d8f5a2", "#eebefa", "#ffd8a8", "#c3fae8",
)

Records = List[Dict[str, Any]]
GoldInput = Union[Doc, Sequence[Dict[str, Any]]]


@dataclass
class Arc:
    """A relation drawn as an arc: its record, kind (PRED or GOLD), mark against the
    gold relations (a key of STATUSES, or None) and layout (x of both ends, level)."""

    record: Dict[str, Any]
    kind: str
    status: Optional[str]
    head_x: float = 0.0
    tail_x: float = 0.0
    level: int = 1

    @property
    def text(self) -> str:
        mark = STATUSES[self.status][0] + " " if self.status else ""
        score = f" {self.record['score']:.2f}" if self.kind == PRED else ""
        return f"{mark}{self.record['label']}{score}"


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
    return relation_counts(annotated, _gold_records(gold, len(annotated), pipe.none_label))


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
    """The docs of a JSONL file, and its lines' relations if any line has them. Lines
    that `annotate` marked bad (with an "error") are skipped, with ROC_W401."""
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
            doc, records = jsonl_doc(nlp, fields, spans_key, base_dir)
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise ValueError(Errors.ROC_E402.format(line_no=line_no, path=path, reason=_reason(err))) from err
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


def _reason(err: Exception) -> str:
    return f"missing key {err}" if isinstance(err, KeyError) else str(err)


def jsonl_doc(
    nlp: Language, line: Dict[str, Any], spans_key: Optional[str], base_dir: Optional[Path] = None
) -> Tuple[Doc, Optional[Records]]:
    """Build a doc from one line of `python -m spacy_roc annotate` output (or input).

    As `annotate` does, the entities go where the component reads them
    (annotate.set_entities), and the pairs to score (doc._.relation_pairs, read by
    pipelines with spacy_roc.annotated_pairs.v1 as candidates) are the line's "pairs"
    (indices into "entities"), else every ordered pair of entities.

    nlp (Language): The pipeline; nlp.make_doc tokenizes the text.
    line (Dict[str, Any]): {"text", "entities": [{"start", "end", "label"}], "image",
        "pairs", "relations"}, with character offsets.
    spans_key (Optional[str]): Span group for the entities; None: doc.ents.
    base_dir (Optional[Path]): Folder for a relative image path.
    RETURNS (Tuple[Doc, Optional[Records]]): The doc (entities, image and pairs, no
        relations) and the line's relations as records, or None if it has none.
    RAISES (ValueError): If an offset is not on token boundaries, or entities in
        doc.ents overlap.
    """
    doc = nlp.make_doc(line["text"])
    spans = [_char_span(doc, entity) for entity in line.get("entities", [])]
    set_entities(doc, spans, spans_key)
    doc._.image = image_value(line.get("image"), base_dir)
    doc._.relation_pairs = _entity_pairs(spans, line.get("pairs"))
    if line.get("relations") is None:
        return doc, None
    return doc, [_jsonl_record(doc, relation) for relation in line["relations"]]


def _entity_pairs(spans: List[Span], pairs: Optional[Sequence[Sequence[int]]]) -> List[Pair]:
    """The token offsets of the (head, tail) entity pairs given as indices into the
    entities; if pairs is None, every ordered pair of entities with different offsets
    (annotate.listed_pairs)."""
    if pairs is None:
        return listed_pairs(spans, None)
    return [[[spans[h].start, spans[h].end], [spans[t].start, spans[t].end]] for h, t in pairs]


def _char_span(doc: Doc, item: Dict[str, Any]) -> Span:
    start, end = int(item["start"]), int(item["end"])
    span = doc.char_span(start, end, label=str(item.get("label") or ""))
    if span is None:
        text = doc.text[start:end]
        raise ValueError(f"characters {start}-{end} ({text!r}) are not on token boundaries")
    return span


def _jsonl_record(doc: Doc, relation: Dict[str, Any]) -> Dict[str, Any]:
    head, tail = _char_span(doc, relation["head"]), _char_span(doc, relation["tail"])
    score, alternatives = relation.get("score"), relation.get("alternatives") or ()
    score = 1.0 if score is None else score
    return make_record((head.start, head.end), (tail.start, tail.end), relation["label"], score, alternatives)


def image_value(value: Any, base_dir: Optional[Path] = None) -> Any:
    """The doc._.image of a JSON "image" string, read as `annotate` reads it (see
    images.resolve_image_string), but not checked: an unreadable image is shown
    without it (ROC_W400), and so is a data URI that is not base64 (b"").

    value (Any): The field: a string or None.
    base_dir (Optional[Path]): Folder for relative paths.
    RETURNS (Any): Bytes, a path string, or None.
    RAISES (ValueError): If the value is neither None nor a string.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"image is a {type(value).__name__}, not a path or base64 string")
    try:
        return resolve_image_string(value, base_dir)[0]
    except ImageError:
        return b""


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
    markup = render_markup(docs, _gold_records(gold, len(docs), none_label), spans_key)
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


def render_markup(docs: Sequence[Doc], gold: Optional[Sequence[Records]], spans_key: Optional[str]) -> str:
    """The markup of the page body: the style, the summary and legend, one figure
    per doc. Unreadable images give one ROC_W400 warning; those docs have no image.

    docs (Sequence[Doc]): The annotated docs.
    gold (Optional[Sequence[Records]]): Per doc, the gold records to show, or None.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    RETURNS (str): The markup.
    """
    colors = entity_colors(span.label_ for doc in docs for span in entity_spans(doc, spans_key))
    figures, failed = [], []
    for i, doc in enumerate(docs):
        doc_gold = None if gold is None else gold[i]
        image, reason = image_markup(doc._.image)
        failed.extend([reason] if reason else [])
        figures.append(figure_markup(i, doc, doc_gold, image, spans_key, colors))
    if failed:
        warn(Warnings.ROC_W400.format(n=len(failed), reason=failed[0]))
    header = header_markup(relation_counts(docs, gold), colors, gold is not None)
    return TPL_BODY.format(style=STYLE, header=header, figures="\n".join(figures))


def entity_spans(doc: Doc, spans_key: Optional[str]) -> List[Span]:
    """The entities of a doc, by start then longest first.

    doc (Doc): The doc.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    RETURNS (List[Span]): The entity spans.
    """
    spans = doc.ents if spans_key is None else doc.spans.get(spans_key, [])
    return sorted(spans, key=lambda span: (span.start, -span.end))


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


def relation_statuses(pred: Records, gold: Optional[Records]) -> Tuple[List[Optional[str]], List[Optional[str]]]:
    """The mark of every predicted and every gold record (see STATUSES), by pair.

    pred (Records): The predicted records.
    gold (Optional[Records]): The gold records; None: no marks.
    RETURNS (Tuple[List[Optional[str]], List[Optional[str]]]): The marks of the
        predicted and of the gold records.
    """
    if gold is None:
        return [None] * len(pred), []
    gold_labels = {record_key(r): r["label"] for r in gold}
    pred_labels = {record_key(r): r["label"] for r in pred}

    def mark(record: Dict[str, Any], others: Dict[Any, str], absent: str) -> str:
        other = others.get(record_key(record))
        return absent if other is None else ("match" if other == record["label"] else "wrong-label")

    return [mark(r, gold_labels, "extra") for r in pred], [mark(r, pred_labels, "missed") for r in gold]


def relation_counts(docs: Sequence[Doc], gold: Optional[Sequence[Records]]) -> Dict[str, int]:
    """Count the docs, the predicted and gold relations, and the mismatches.

    docs (Sequence[Doc]): The annotated docs.
    gold (Optional[Sequence[Records]]): Per doc, the gold records, or None.
    RETURNS (Dict[str, int]): n_docs, n_predicted, n_gold and n_mismatches (marked
        predicted records plus missed gold records; 0 without gold).
    """
    counts = {"n_docs": len(docs), "n_predicted": 0, "n_gold": 0, "n_mismatches": 0}
    for i, doc in enumerate(docs):
        doc_gold = None if gold is None else gold[i]
        pred_marks, gold_marks = relation_statuses(doc._.relations, doc_gold)
        counts["n_predicted"] += len(pred_marks)
        counts["n_gold"] += len(gold_marks)
        counts["n_mismatches"] += sum(m not in (None, "match") for m in pred_marks)
        counts["n_mismatches"] += sum(m == "missed" for m in gold_marks)
    return counts


def header_markup(counts: Dict[str, int], colors: Dict[str, str], with_gold: bool) -> str:
    """The summary line and the legend of entity types and arc marks."""
    summary = f"{counts['n_docs']} docs \u00b7 {counts['n_predicted']} predicted relations (above the text)"
    if with_gold:
        summary += f" \u00b7 {counts['n_gold']} gold (below the text) \u00b7 {counts['n_mismatches']} mismatches"
    chips = [
        f'<span class="roc-chip" style="background: {color}">{_esc(label)}</span>' for label, color in colors.items()
    ]
    if with_gold:
        chips += [
            f'<span class="roc-key roc-{status}">{symbol} {text}</span>' for status, (symbol, text) in STATUSES.items()
        ]
    return TPL_HEADER.format(summary=summary, legend=" ".join(chips))


def figure_markup(
    i: int, doc: Doc, gold: Optional[Records], image: str, spans_key: Optional[str], colors: Dict[str, str]
) -> str:
    """The figure of one doc: caption, image, SVG of text and arcs, relation table.

    i (int): The doc's index on the page.
    doc (Doc): The annotated doc.
    gold (Optional[Records]): Its gold records, or None.
    image (str): Its image markup (see image_markup).
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    colors (Dict[str, str]): The colour of each entity label.
    RETURNS (str): The markup.
    """
    pred_marks, gold_marks = relation_statuses(doc._.relations, gold)
    pred = [Arc(record, PRED, mark) for record, mark in zip(doc._.relations, pred_marks)]
    gold_arcs = [Arc(record, GOLD, mark) for record, mark in zip(gold or [], gold_marks)]
    counts = f"{len(pred)} predicted" + ("" if gold is None else f", {len(gold_arcs)} gold")
    caption = f"#{i} \u00b7 {counts} relation(s)"
    svg = doc_svg(doc, entity_spans(doc, spans_key), pred, gold_arcs, colors)
    table = relation_table(doc, pred, gold_arcs, gold is not None)
    return TPL_FIGURE.format(i=i, caption=caption, image=image, svg=svg, table=table)


# -- images ---------------------------------------------------------------------------


def image_markup(value: Any) -> Tuple[str, Optional[str]]:
    """The <img> of a doc's image as a downscaled data URI.

    value (Any): The doc._.image value (None: no image).
    RETURNS (Tuple[str, Optional[str]]): The markup ("" without image; a note if the
        image cannot be read) and the reason it cannot be read, or None.
    """
    if value is None:
        return "", None
    try:
        image = load_image(value)
    except ImageError as err:
        return '<div class="roc-image roc-no-image">image not readable</div>', err.reason
    uri, (width, height) = image_data_uri(image)
    scale = max(1.0, MIN_DISPLAY_SIZE / max(width, height))
    pixelated = ' style="image-rendering: pixelated"' if scale > 1 else ""
    size = f'width="{round(width * scale)}" height="{round(height * scale)}"'
    return f'<img class="roc-image" alt="image of the doc" {size}{pixelated} src="{uri}">', None


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


# -- the SVG of a doc -----------------------------------------------------------------


def doc_svg(doc: Doc, spans: Sequence[Span], pred: List[Arc], gold: List[Arc], colors: Dict[str, str]) -> str:
    """The SVG of a doc: predicted arcs, then the tokens over their entity
    highlights, the entity label rows, then the gold arcs.

    doc (Doc): The doc.
    spans (Sequence[Span]): Its entities.
    pred (List[Arc]): The predicted arcs (laid out here, above the text).
    gold (List[Arc]): The gold arcs (laid out here, below the text).
    colors (Dict[str, str]): The colour of each entity label.
    RETURNS (str): The <svg> markup.
    """
    boxes = token_boxes(doc)
    rows = entity_rows(spans, boxes)
    pred_height = _layout_arcs(pred, boxes)
    text_top = pred_height + 4.0
    rows_bottom = text_top + FONT_SIZE + 12 + (max(rows, default=-1) + 1) * ENT_ROW_HEIGHT
    gold_height = _layout_arcs(gold, boxes)
    width = max([boxes[-1][1] if boxes else 0.0] + [_arc_extent(arc)[1] for arc in pred + gold]) + PADDING
    parts = [_entity_markup(span, row, boxes, text_top, colors) for span, row in zip(spans, rows)]
    parts += [_token_markup(token, boxes[token.i], text_top) for token in doc]
    parts += [arc_markup(doc, arc, text_top - 2, -1) for arc in pred]
    parts += [arc_markup(doc, arc, rows_bottom + 2, 1) for arc in gold]
    height = rows_bottom + 2 + gold_height
    return TPL_SVG.format(width=round(width), height=round(height), content="\n".join(parts))


def token_boxes(doc: Doc) -> List[Tuple[float, float]]:
    """The estimated (x start, x end) of each token.

    doc (Doc): The doc.
    RETURNS (List[Tuple[float, float]]): One box per token.
    """
    boxes, x = [], PADDING
    for token in doc:
        width = max(text_width(token.text, FONT_SIZE), 8.0)
        boxes.append((x, x + width))
        x += width + (TOKEN_GAP if token.whitespace_ else 2.0)
    return boxes


def text_width(text: str, font_size: float) -> float:
    """The estimated width of a text in a sans-serif font: narrow characters 0.3 em,
    wide ones and capitals 0.85 or 0.7 em, other ASCII 0.55 em, any other character
    (accented, CJK, emoji) 1 em, which errs on the wide side.

    text (str): The text.
    font_size (float): The font size in pixels.
    RETURNS (float): The width in pixels.
    """
    ems = 0.0
    for char in text:
        if char in NARROW_CHARS:
            ems += NARROW_WIDTH
        elif char in WIDE_CHARS:
            ems += WIDE_WIDTH
        else:
            ems += (0.7 if char.isupper() else 0.55) if char.isascii() else 1.0
    return ems * font_size


def _span_box(start: int, end: int, boxes: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    return boxes[start][0] - 3.0, boxes[end - 1][1] + 3.0


def entity_rows(spans: Sequence[Span], boxes: Sequence[Tuple[float, float]]) -> List[int]:
    """The row of each entity's label bar below the text: the lowest row where its
    bar (at least as wide as its label) overlaps no other bar.

    spans (Sequence[Span]): The entities, by start.
    boxes (Sequence[Tuple[float, float]]): The token boxes.
    RETURNS (List[int]): One row per entity, from 0.
    """
    placed: List[Tuple[int, float, float]] = []
    for span in spans:
        low, high = _span_box(span.start, span.end, boxes)
        high = max(high, low + text_width(span.label_, ENT_LABEL_SIZE) + 8)
        taken = {row for row, a, b in placed if a < high + 2 and low < b + 2}
        placed.append((min(set(range(len(placed) + 1)) - taken), low, high))
    return [row for row, _, _ in placed]


def _layout_arcs(arcs: List[Arc], boxes: Sequence[Tuple[float, float]]) -> float:
    """Set the levels and end points of arcs; return the height they need."""
    for arc in arcs:
        arc.head_x = sum(_span_box(*arc.record["head"], boxes)) / 2
        arc.tail_x = sum(_span_box(*arc.record["tail"], boxes)) / 2
    stack_arcs(arcs)
    spread_anchors(arcs, boxes)
    return max((arc.level for arc in arcs), default=0) * LEVEL_HEIGHT + (14.0 if arcs else 4.0)


def _arc_extent(arc: Arc) -> Tuple[float, float]:
    """The x range an arc and its label take."""
    low, high = sorted((arc.head_x, arc.tail_x))
    middle, half = _label_x(arc), text_width(arc.text, LABEL_SIZE) / 2 + 4
    return min(low, middle - half), max(high, middle + half)


def _label_x(arc: Arc) -> float:
    """The x of an arc's label: the middle of the arc, kept off the left edge."""
    half = text_width(arc.text, LABEL_SIZE) / 2 + 4
    return max((arc.head_x + arc.tail_x) / 2, half)


def stack_arcs(arcs: Sequence[Arc]) -> None:
    """Set the level of each arc, as displaCy does: shortest arcs first, each one
    level above the highest placed arc whose extent (with its label) it overlaps.

    arcs (Sequence[Arc]): The arcs, with their end points at the entity centres.
    """
    placed: List[Tuple[Arc, Tuple[float, float]]] = []
    for arc in sorted(arcs, key=lambda arc: abs(arc.head_x - arc.tail_x)):
        low, high = _arc_extent(arc)
        arc.level = 1 + max((other.level for other, (a, b) in placed if a < high and low < b), default=0)
        placed.append((arc, (low, high)))


def spread_anchors(arcs: Sequence[Arc], boxes: Sequence[Tuple[float, float]]) -> None:
    """Give each arc its own end points inside its entities' boxes, so that arcs
    meeting at an entity do not share an end: arcs to the left take the left part,
    higher arcs outside lower ones.

    arcs (Sequence[Arc]): The arcs, with levels and ends at the entity centres.
    boxes (Sequence[Tuple[float, float]]): The token boxes.
    """
    ends: Dict[Tuple[int, int], List[Tuple[Tuple[int, int], Arc, str]]] = defaultdict(list)
    for arc in arcs:
        for end, x, other_x in (("head", arc.head_x, arc.tail_x), ("tail", arc.tail_x, arc.head_x)):
            order = (0, -arc.level) if other_x < x else (1, arc.level)
            ends[tuple(arc.record[end])].append((order, arc, end))
    for (start, stop), members in ends.items():
        low, high = _span_box(start, stop, boxes)
        members.sort(key=lambda member: member[0])
        for k, (_, arc, end) in enumerate(members):
            setattr(arc, f"{end}_x", low + 3 + (high - low - 6) * (k + 1) / (len(members) + 1))


def arc_markup(doc: Doc, arc: Arc, base_y: float, direction: int) -> str:
    """The SVG group of one arc: the path from head to tail, the arrowhead at the
    tail, the label (with the score of predictions) at the top of the arc.

    doc (Doc): The doc.
    arc (Arc): The laid-out arc.
    base_y (float): The y of the arc's ends.
    direction (int): -1 draws the arc upwards (predictions), 1 downwards (gold).
    RETURNS (str): The markup.
    """
    x1, x2, rise = arc.head_x, arc.tail_x, direction * arc.level * LEVEL_HEIGHT
    # Control points 4/3 as far as the top: the curve's middle reaches base_y + rise.
    control = base_y + rise / 0.75
    path = f"M{x1:.1f},{base_y:.1f} C{x1:.1f},{control:.1f} {x2:.1f},{control:.1f} {x2:.1f},{base_y:.1f}"
    back = base_y + direction * 2 * ARROW_SIZE
    arrow = f"M{x2:.1f},{base_y:.1f} L{x2 - ARROW_SIZE:.1f},{back:.1f} L{x2 + ARROW_SIZE:.1f},{back:.1f} Z"
    classes = f"roc-arc roc-{arc.kind}" + (f" roc-{arc.status}" if arc.status else "")
    score = f' data-score="{arc.record["score"]:.4f}"' if arc.kind == PRED else ""
    return TPL_ARC.format(
        classes=classes, status=arc.status or "", label=_esc(arc.record["label"]), score=score,
        head=" ".join(map(str, arc.record["head"])), tail=" ".join(map(str, arc.record["tail"])),
        title=_esc(_describe(doc, arc)), path=path, arrow=arrow, text=_label_markup(arc, base_y + rise),
    )


def _label_markup(arc: Arc, y: float) -> str:
    """The label of an arc on a white box, centred at (label x, y)."""
    x, width = _label_x(arc), text_width(arc.text, LABEL_SIZE) + 6
    box = f'<rect class="roc-arc-label-bg" x="{x - width / 2:.1f}" y="{y - 7:.1f}" width="{width:.1f}" height="14" rx="3"/>'
    return f'{box}<text class="roc-arc-label" x="{x:.1f}" y="{y:.1f}">{_esc(arc.text)}</text>'


def _describe(doc: Doc, arc: Arc) -> str:
    """A one-line description of an arc: head, label, tail, score and mark."""
    record = arc.record
    head, tail = doc[slice(*record["head"])].text, doc[slice(*record["tail"])].text
    score = f" ({record['score']:.2f})" if arc.kind == PRED else ""
    mark = f"; {STATUSES[arc.status][1]}" if arc.status else ""
    return f"{arc.kind}: {head} \u2192 {record['label']}{score} \u2192 {tail}{mark}"


def _entity_markup(
    span: Span, row: int, boxes: Sequence[Tuple[float, float]], text_top: float, colors: Dict[str, str]
) -> str:
    """An entity: a highlight behind its tokens and a label bar in its row."""
    low, high = _span_box(span.start, span.end, boxes)
    bar_y = text_top + FONT_SIZE + 12 + row * ENT_ROW_HEIGHT
    bar_width = max(high - low, text_width(span.label_, ENT_LABEL_SIZE) + 8)
    return TPL_ENT.format(
        label=_esc(span.label_), start=span.start, end=span.end, color=colors[span.label_],
        x=f"{low:.1f}", y=f"{text_top:.1f}", width=f"{high - low:.1f}", height=FONT_SIZE + 10,
        bar_y=f"{bar_y:.1f}", bar_width=f"{bar_width:.1f}", bar_height=ENT_ROW_HEIGHT - 3,
        text_x=f"{low + 4:.1f}", text_y=f"{bar_y + (ENT_ROW_HEIGHT - 3) / 2:.1f}",
    )


def _token_markup(token: Any, box: Tuple[float, float], text_top: float) -> str:
    x, y = (box[0] + box[1]) / 2, text_top + (FONT_SIZE + 10) / 2
    return f'<text class="roc-token" x="{x:.1f}" y="{y:.1f}">{_esc(token.text)}</text>'


# -- the relation table ---------------------------------------------------------------


def relation_table(doc: Doc, pred: Sequence[Arc], gold: Sequence[Arc], with_gold: bool) -> str:
    """A table of the doc's relations: one row per pair, predicted and gold.

    doc (Doc): The doc.
    pred (Sequence[Arc]): The predicted arcs.
    gold (Sequence[Arc]): The gold arcs.
    with_gold (bool): Add the gold and mark columns.
    RETURNS (str): The <table> markup ("" if there are no relations).
    """
    rows: Dict[Any, Dict[str, Arc]] = {}
    for arc in [*pred, *gold]:
        rows.setdefault(record_key(arc.record), {}).setdefault(arc.kind, arc)
    if not rows:
        return ""
    header = ["head", "tail", "predicted", "alternatives"] + (["gold", ""] if with_gold else [])
    cells = "".join(f"<th>{name}</th>" for name in header)
    body = [_table_row(doc, key, arcs, with_gold) for key, arcs in rows.items()]
    return f'<table class="roc-table"><thead><tr>{cells}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _table_row(doc: Doc, key: Any, arcs: Dict[str, Arc], with_gold: bool) -> str:
    (head, tail), pred, gold = key, arcs.get(PRED), arcs.get(GOLD)
    cells = [doc[slice(*head)].text, doc[slice(*tail)].text]
    cells.append(f"{pred.record['label']} ({pred.record['score']:.2f})" if pred else "")
    alternatives = pred.record.get("alternatives", []) if pred else []
    cells.append(", ".join(f"{label} ({score:.2f})" for label, score in alternatives))
    status = (pred or gold).status
    if with_gold:
        cells += [gold.record["label"] if gold else "", STATUSES[status][1] if status else ""]
    row_class = f"roc-row roc-row-{status}" if status else "roc-row"
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
<div class="roc-scroll">{svg}</div>
{table}
</div>
</div>
</figure>"""

TPL_SVG = """<svg class="roc-svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">
{content}
</svg>"""

TPL_ENT = """<g class="roc-ent" data-label="{label}" data-start="{start}" data-end="{end}">
<rect class="roc-ent-highlight" x="{x}" y="{y}" width="{width}" height="{height}" rx="4" fill="{color}"/>
<rect class="roc-ent-bar" x="{x}" y="{bar_y}" width="{bar_width}" height="{bar_height}" rx="3" fill="{color}"/>
<text class="roc-ent-label" x="{text_x}" y="{text_y}">{label}</text>
</g>"""

TPL_ARC = """<g class="{classes}" data-status="{status}" data-label="{label}" data-head="{head}" data-tail="{tail}"{score}>
<title>{title}</title>
<path class="roc-arc-line" d="{path}"/>
<path class="roc-arc-head" d="{arrow}"/>
{text}
</g>"""

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
.roc-scroll { overflow-x: auto; }
.roc-svg { display: block; }
.roc-token { font-size: 16px; text-anchor: middle; dominant-baseline: central; fill: #222; }
.roc-ent-highlight { fill-opacity: 0.55; }
.roc-ent-label { font-size: 10px; font-weight: 700; dominant-baseline: central; fill: #222; }
.roc-arc { color: #444; }
.roc-arc-line { fill: none; stroke: currentColor; stroke-width: 2px; }
.roc-arc-head { fill: currentColor; }
.roc-arc-label-bg { fill: #fff; fill-opacity: 0.9; }
.roc-arc-label { font-size: 11px; font-weight: 600; text-anchor: middle; dominant-baseline: central; fill: currentColor; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
.roc-match { color: #1b7f3b; }
.roc-wrong-label { color: #c76a00; }
.roc-extra, .roc-missed { color: #c62828; }
.roc-extra .roc-arc-line, .roc-missed .roc-arc-line { stroke-dasharray: 6 4; }
.roc-gold .roc-arc-line { stroke-width: 1.5px; }
.roc-table { border-collapse: collapse; font-size: 0.8em; margin-top: 0.5rem; }
.roc-table th, .roc-table td { border-bottom: 1px solid #eee; padding: 0.2em 0.6em; text-align: left; }
.roc-row-extra td, .roc-row-missed td { color: #c62828; }
.roc-row-wrong-label td { color: #c76a00; }
"""
