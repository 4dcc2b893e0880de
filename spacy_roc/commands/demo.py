"""A synthetic, image-grounded relation dataset for offline demos and tests.

Each doc comes with a small PNG of 2-3 solid shapes of distinct colours on a white
background (``doc._.image`` = the file name, relative to ``images/``). The text mentions
every shape once as a ``SHAPE`` entity ("the red circle") and some people (``PERSON``,
first names; never drawn in the image). The entities are in the span group
``"entities"`` and, as they never overlap, in ``doc.ents`` too. Tokenizer:
``spacy.blank("en")``.

Relations (``DEMO_LABELS``), one gold record per unordered entity pair:

- ``left_of`` / ``above`` (SHAPE -> SHAPE) are **image-only**. Shapes are placed on a 3x3
  grid, all in one row or one column, so for every shape pair exactly one of the two
  relations holds in one direction. The annotated direction is random: if the head is
  left of (above) the tail the label is ``left_of`` (``above``), otherwise ``None``.
- ``drawn_by`` / ``gift_for`` (SHAPE -> PERSON) are **text-only**: "Anna drew the red
  circle.", "The blue square is a gift for Ben.". A shape without such a clause, and a
  person from a distractor sentence ("Carl said hello."), give ``None`` pairs.
  Person-person pairs are ``None``.

Independence by construction: each example draws its text from one random stream and its
layout (the grid cells) and the direction of each shape-shape pair from another. The text
never reads the layout, so the spatial labels cannot be predicted from the text; see
``text_only_baseline`` and ``tests/test_demo.py`` for the checks.

**The object task** (``task="objects"``, MORE-style): each image holds 3 shapes of
distinct colours in 3 of the 9 grid cells, and they are the doc's objects
(``doc._.objects``: each box its cell, no name, no caption). The text names one or two
people (``PERSON``) and refers to a shape only by its colour: "Anna painted the red
one.", "Ben is holding the blue one." Every (person, object) pair has a gold record:
``painted`` or ``holds`` for the object of the colour the text names, ``None`` for
the others. Which object is red only the image tells: without it, a model can do no
better than guess one object of three.
"""
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..formats.codec import SPANS_KEY
from ..formats.docbin import write_docbin
from ..errors import Errors
from ..extensions import install_extensions, make_record

NONE_LABEL = "None"
IMAGE_ONLY_LABELS = ("left_of", "above")
TEXT_ONLY_LABELS = ("drawn_by", "gift_for")
DEMO_LABELS = ("left_of", "above", "drawn_by", "gift_for", NONE_LABEL)
SPLITS = ("train", "dev", "test")
TASKS = ("relations", "objects")
OBJECT_LABELS = ("painted", "holds", NONE_LABEL)
OBJECT_TEMPLATES = {
    "painted": ("{P} painted the {c} one.", "The {c} one was painted by {P}.", "{P} has painted the {c} one."),
    "holds": ("{P} is holding the {c} one.", "{P} holds the {c} one.", "The {c} one is in the hands of {P}."),
}

PALETTE: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 220),
    "yellow": (235, 195, 0),
    "purple": (140, 40, 170),
}
KINDS = ("circle", "square", "triangle")
NAMES = (
    "Anna", "Ben", "Carla", "David", "Emma", "Felix", "Greta", "Hugo",
    "Ida", "Jonas", "Kim", "Leo", "Mia", "Noah", "Olga", "Paul",
)
GRID = 3

PLAIN_TEMPLATES = ("There is {s}.", "I can see {s}.", "{S} is in the picture.", "Look at {s}.")
DRAWN_TEMPLATES = ("{P} drew {s}.", "{S} was drawn by {P}.", "{P} painted {s} yesterday.")
GIFT_TEMPLATES = ("{S} is a gift for {P}.", "{P} got {s} as a present.", "We gave {s} to {P}.")
DISTRACTOR_TEMPLATES = ("{P} said hello.", "{P} is watching.", "Later, {P} left the room.")
CLAUSES = {
    NONE_LABEL: PLAIN_TEMPLATES,
    "drawn_by": DRAWN_TEMPLATES,
    "gift_for": GIFT_TEMPLATES,
}

def generate_demo(
    output_dir: Path,
    n_train: int = 600,
    n_dev: int = 150,
    n_test: int = 150,
    image_size: int = 32,
    seed: int = 0,
    task: str = "relations",
) -> Dict[str, int]:
    """Write the demo dataset: images/*.png and {train,dev,test}.spacy.

    output_dir (Path): The folder to write to; created if needed.
    n_train (int): Number of training docs.
    n_dev (int): Number of development docs.
    n_test (int): Number of test docs.
    image_size (int): Width and height of the images in pixels (at least 12).
    seed (int): Random seed; the same seed gives byte-identical files.
    task (str): "relations" (between text entities) or "objects" (between a person
        and an object of the image; see the module docstring).
    RETURNS (Dict[str, int]): Docs per split, number of images and of relation records.
    """
    if image_size < 12:
        raise ValueError(Errors.ROC_E027.format(value=image_size))
    if task not in TASKS:
        raise ValueError(Errors.ROC_E049.format(value=task, tasks=list(TASKS)))
    output_dir = Path(output_dir)
    images_dir = output_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    install_extensions()
    nlp = _blank_nlp()
    counts: Dict[str, int] = {split: 0 for split in SPLITS}
    counts.update({"images": 0, "relations": 0})
    for split, n_docs in zip(SPLITS, (n_train, n_dev, n_test)):
        write = _write_object_example if task == "objects" else _write_example
        docs = [write(nlp, images_dir, split, i, image_size, seed) for i in range(n_docs)]
        write_docbin(docs, output_dir / f"{split}.spacy")
        counts[split] = len(docs)
        counts["images"] += len(docs)
        counts["relations"] += sum(len(doc._.relations) for doc in docs)
    return counts


def _blank_nlp() -> Language:
    import spacy

    return spacy.blank("en")


def _write_example(
    nlp: Language, images_dir: Path, split: str, index: int, image_size: int, seed: int
) -> Doc:
    """Build one example, save its image and return the annotated doc."""
    text_rng, layout_rng = _example_rngs(seed, split, index)
    example = make_example(text_rng, layout_rng)
    name = _image_name(split, index)
    image = render_image(example["shapes"], example["cells"], image_size)
    image.save(images_dir / name, format="PNG")
    doc = example_to_doc(nlp, example)
    doc._.image = name
    return doc


def _write_object_example(
    nlp: Language, images_dir: Path, split: str, index: int, image_size: int, seed: int
) -> Doc:
    """Build one example of the object task, save its image and return the doc."""
    text_rng, layout_rng = _example_rngs(seed, split, index, task="objects")
    example = make_object_example(text_rng, layout_rng)
    name = _image_name(split, index)
    render_image(example["shapes"], example["cells"], image_size).save(images_dir / name, format="PNG")
    doc = object_example_to_doc(nlp, example)
    doc._.image = name
    return doc


def make_object_example(text_rng: random.Random, layout_rng: random.Random) -> Dict[str, Any]:
    """Draw one example of the object task: 3 shapes of distinct colours (text_rng
    picks the colours, which people relate to which, and the templates); the cells
    come from layout_rng. RETURNS: "text", "mentions" (char offsets, label),
    "shapes", "cells" and "pairs" ((person mention, object index, label))."""
    colours = text_rng.sample(sorted(PALETTE), 3)
    shapes = [(colour, text_rng.choice(KINDS)) for colour in colours]
    n_people = text_rng.choice((1, 2))
    people = text_rng.sample(NAMES, n_people)
    targets = text_rng.sample(range(3), n_people)
    text, mentions, relations = "", [], {}
    for person, target in zip(people, targets):
        relation = text_rng.choice(("painted", "holds"))
        template = text_rng.choice(OBJECT_TEMPLATES[relation])
        sentence, slots = fill_template(template.replace("{c}", shapes[target][0]), None, person)
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        mentions.append((start + slots["P"][0], start + slots["P"][1], "PERSON"))
        relations[(len(mentions) - 1, target)] = relation
    cells = [divmod(cell, GRID) for cell in layout_rng.sample(range(GRID * GRID), 3)]
    pairs = [(p, o, relations.get((p, o), NONE_LABEL)) for p in range(n_people) for o in range(3)]
    return {"text": text, "mentions": mentions, "shapes": shapes, "cells": cells, "pairs": pairs}


def cell_box(cell: Tuple[int, int]) -> List[float]:
    """The normalised box [x0, y0, x1, y1] of a grid cell (row, column)."""
    row, col = cell
    return [col / GRID, row / GRID, (col + 1) / GRID, (row + 1) / GRID]


def object_example_to_doc(nlp: Language, example: Dict[str, Any]) -> Doc:
    """Tokenize an object-task example: the people as entities (span group
    "entities" and doc.ents), the shapes as doc._.objects (box only), and a gold
    record per (person, object) pair."""
    install_extensions()
    doc = nlp.make_doc(example["text"])
    spans = [doc.char_span(start, end, label=label) for start, end, label in example["mentions"]]
    doc.spans[SPANS_KEY] = spans
    doc.ents = spans
    doc._.objects = [{"box": cell_box(cell), "name": None, "caption": None} for cell in example["cells"]]
    doc._.relations = [
        make_record((spans[p].start, spans[p].end), {"object": o}, label) for p, o, label in example["pairs"]
    ]
    return doc


def _example_rngs(seed: int, split: str, index: int, task: str = "relations") -> Tuple[random.Random, random.Random]:
    """The two independent random streams of one example (text and layout). String
    seeds are hashed with SHA-512 by random.Random, so they do not depend on
    PYTHONHASHSEED."""
    prefix = "spacy-roc-demo" if task == "relations" else f"spacy-roc-demo-{task}"
    text_rng = random.Random(f"{prefix}/{seed}/{split}/{index}/text")
    layout_rng = random.Random(f"{prefix}/{seed}/{split}/{index}/layout")
    return text_rng, layout_rng


def _image_name(split: str, index: int) -> str:
    return f"{split}_{index:05d}.png"


def make_example(text_rng: random.Random, layout_rng: random.Random) -> Dict[str, Any]:
    """Draw one example. The text depends only on text_rng; the grid cells and the
    direction of the shape-shape pairs depend only on layout_rng.

    text_rng (random.Random): Stream for the shapes, people, clauses and templates.
    layout_rng (random.Random): Stream for the grid cells and pair directions.
    RETURNS (Dict[str, Any]): Keys "text", "mentions" (list of (char_start, char_end,
        entity label)), "shapes" (list of (colour, kind)), "cells" (grid (row, col) per
        shape) and "pairs" (list of (head mention index, tail mention index, label)).
    """
    shapes, clauses, distractor = _draw_content(text_rng)
    text, mentions, person_of = _compose_text(text_rng, shapes, clauses, distractor)
    cells = _draw_cells(layout_rng, len(shapes))
    pairs = _spatial_pairs(layout_rng, cells)
    pairs += _person_pairs(layout_rng, len(shapes), mentions, person_of)
    return {"text": text, "mentions": mentions, "shapes": shapes, "cells": cells, "pairs": pairs}


def _draw_content(
    rng: random.Random,
) -> Tuple[List[Tuple[str, str]], List[Tuple[str, Optional[str]]], Optional[str]]:
    """Draw the shapes, one clause type (and person) per shape, and an optional
    distractor person."""
    n_shapes = rng.choice((2, 3))
    colours = rng.sample(sorted(PALETTE), n_shapes)
    shapes = [(colour, rng.choice(KINDS)) for colour in colours]
    names = rng.sample(NAMES, n_shapes + 1)
    clauses: List[Tuple[str, Optional[str]]] = []
    for i in range(n_shapes):
        kind = rng.choice((NONE_LABEL, NONE_LABEL, "drawn_by", "gift_for"))
        clauses.append((kind, None if kind == NONE_LABEL else names[i]))
    distractor = names[-1] if rng.random() < 0.5 else None
    return shapes, clauses, distractor


def _compose_text(
    rng: random.Random,
    shapes: Sequence[Tuple[str, str]],
    clauses: Sequence[Tuple[str, Optional[str]]],
    distractor: Optional[str],
) -> Tuple[str, List[Tuple[int, int, str]], Dict[int, Tuple[int, str]]]:
    """Fill one template per shape (plus the distractor sentence) and join them.

    RETURNS (Tuple): The text; the mentions as (char_start, char_end, label), shapes first
        in shape order, then people; and a map shape index -> (mention index of its
        related person, relation).
    """
    items: List[Tuple[str, Optional[int], Optional[str]]] = []
    for i, (relation, person) in enumerate(clauses):
        items.append((rng.choice(CLAUSES[relation]), i, person))
    if distractor is not None:
        position = rng.randrange(len(items) + 1)
        items.insert(position, (rng.choice(DISTRACTOR_TEMPLATES), None, distractor))
    shape_spans: Dict[int, Tuple[int, int]] = {}
    person_spans: List[Tuple[int, int]] = []
    person_of: Dict[int, Tuple[int, str]] = {}
    sentences: List[str] = []
    offset = 0
    for template, shape_i, person in items:
        shape = None if shape_i is None else "the {} {}".format(*shapes[shape_i])
        sentence, slots = fill_template(template, shape, person)
        if "s" in slots and shape_i is not None:
            shape_spans[shape_i] = (offset + slots["s"][0], offset + slots["s"][1])
        if "P" in slots:
            if shape_i is not None:
                person_of[shape_i] = (len(shapes) + len(person_spans), clauses[shape_i][0])
            person_spans.append((offset + slots["P"][0], offset + slots["P"][1]))
        sentences.append(sentence)
        offset += len(sentence) + 1
    mentions = [(*shape_spans[i], "SHAPE") for i in range(len(shapes))]
    mentions += [(start, end, "PERSON") for start, end in person_spans]
    return " ".join(sentences), mentions, person_of


def fill_template(
    template: str, shape: Optional[str], person: Optional[str]
) -> Tuple[str, Dict[str, Tuple[int, int]]]:
    """Fill the slots {s} (shape), {S} (shape, capitalised) and {P} (person).

    template (str): The template.
    shape (Optional[str]): The shape mention, e.g. "the red circle".
    person (Optional[str]): The person's name.
    RETURNS (Tuple[str, Dict[str, Tuple[int, int]]]): The sentence and the character
        offsets of the filled slots, keyed "s" (shape) and "P" (person).
    """
    text = ""
    slots: Dict[str, Tuple[int, int]] = {}
    for part in re.split(r"(\{[sSP]\})", template):
        if part in ("{s}", "{S}"):
            value = str(shape)
            value = value[0].upper() + value[1:] if part == "{S}" else value
            slots["s"] = (len(text), len(text) + len(value))
        elif part == "{P}":
            value = str(person)
            slots["P"] = (len(text), len(text) + len(value))
        else:
            value = part
        text += value
    return text, slots


def _draw_cells(rng: random.Random, n_shapes: int) -> List[Tuple[int, int]]:
    """Put the shapes in distinct cells of one grid row or one grid column, so every
    shape pair is either side by side or one above the other (never diagonal)."""
    line = rng.randrange(GRID)
    positions = rng.sample(range(GRID), n_shapes)
    if rng.random() < 0.5:
        return [(line, position) for position in positions]
    return [(position, line) for position in positions]


def spatial_label(head_cell: Tuple[int, int], tail_cell: Tuple[int, int]) -> str:
    """The image-only relation from the head shape to the tail shape.

    head_cell (Tuple[int, int]): Grid (row, column) of the head shape.
    tail_cell (Tuple[int, int]): Grid (row, column) of the tail shape.
    RETURNS (str): "left_of", "above" or "None".
    """
    (head_row, head_col), (tail_row, tail_col) = head_cell, tail_cell
    if head_row == tail_row and head_col < tail_col:
        return "left_of"
    if head_col == tail_col and head_row < tail_row:
        return "above"
    return NONE_LABEL


def _spatial_pairs(
    rng: random.Random, cells: Sequence[Tuple[int, int]]
) -> List[Tuple[int, int, str]]:
    """One pair per unordered shape pair, in a random direction."""
    pairs = []
    for i in range(len(cells)):
        for j in range(i + 1, len(cells)):
            head, tail = (i, j) if rng.random() < 0.5 else (j, i)
            pairs.append((head, tail, spatial_label(cells[head], cells[tail])))
    return pairs


def _person_pairs(
    rng: random.Random,
    n_shapes: int,
    mentions: Sequence[Tuple[int, int, str]],
    person_of: Dict[int, Tuple[int, str]],
) -> List[Tuple[int, int, str]]:
    """SHAPE -> PERSON pairs (drawn_by, gift_for or None) and None person pairs."""
    people = range(n_shapes, len(mentions))
    pairs = []
    for shape in range(n_shapes):
        for person in people:
            related, relation = person_of.get(shape, (-1, NONE_LABEL))
            pairs.append((shape, person, relation if related == person else NONE_LABEL))
    for a in people:
        for b in people:
            if a < b:
                pairs.append((a, b, NONE_LABEL) if rng.random() < 0.5 else (b, a, NONE_LABEL))
    return pairs


def render_image(
    shapes: Sequence[Tuple[str, str]], cells: Sequence[Tuple[int, int]], size: int = 32
) -> Any:
    """Draw solid shapes on a white square image, one per grid cell.

    shapes (Sequence[Tuple[str, str]]): (colour, kind) per shape.
    cells (Sequence[Tuple[int, int]]): Grid (row, column) per shape.
    size (int): Width and height in pixels.
    RETURNS (PIL.Image.Image): The RGB image.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cell = size / GRID
    half = cell * 0.38
    for (colour, kind), (row, col) in zip(shapes, cells):
        cx, cy = (col + 0.5) * cell, (row + 0.5) * cell
        box = [round(cx - half), round(cy - half), round(cx + half), round(cy + half)]
        fill = PALETTE[colour]
        if kind == "circle":
            draw.ellipse(box, fill=fill)
        elif kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=fill)
    return image


def example_to_doc(nlp: Language, example: Dict[str, Any]) -> Doc:
    """Tokenize an example and attach its entities (span group "entities" and doc.ents)
    and gold relation records. The image is not set.

    nlp (Language): Pipeline whose tokenizer is used (spacy.blank("en")).
    example (Dict[str, Any]): An example from make_example.
    RETURNS (Doc): The annotated doc.
    """
    install_extensions()
    doc = nlp.make_doc(example["text"])
    spans: List[Span] = []
    for start, end, label in example["mentions"]:
        span = doc.char_span(start, end, label=label)
        if span is None:
            raise ValueError(f"Mention {example['text'][start:end]!r} is not token-aligned.")
        spans.append(span)
    ordered = sorted(spans, key=lambda span: (span.start, span.end))
    doc.spans[SPANS_KEY] = ordered
    doc.ents = ordered
    doc._.relations = [
        make_record((spans[h].start, spans[h].end), (spans[t].start, spans[t].end), label)
        for h, t, label in example["pairs"]
    ]
    return doc


def demo_docs(split: str, n_docs: int, seed: int = 0) -> List[Doc]:
    """Build the docs of one split in memory, without images (doc._.image is the file
    name generate_demo would use). Same docs as generate_demo writes.

    split (str): "train", "dev" or "test".
    n_docs (int): Number of docs.
    seed (int): Random seed.
    RETURNS (List[Doc]): The annotated docs.
    """
    nlp = _blank_nlp()
    docs = []
    for index in range(n_docs):
        text_rng, layout_rng = _example_rngs(seed, split, index)
        doc = example_to_doc(nlp, make_example(text_rng, layout_rng))
        doc._.image = _image_name(split, index)
        docs.append(doc)
    return docs


PairFilter = Callable[[str, str], bool]
Signature = Callable[[Doc, Dict[str, Any]], Hashable]


def is_shape_pair(head_label: str, tail_label: str) -> bool:
    """Pair filter: both entities are shapes (the image-only pairs)."""
    return head_label == "SHAPE" and tail_label == "SHAPE"


def is_shape_person_pair(head_label: str, tail_label: str) -> bool:
    """Pair filter: a shape and a person (the text-only pairs)."""
    return {head_label, tail_label} == {"SHAPE", "PERSON"}


def template_signature(doc: Doc, record: Dict[str, Any]) -> Hashable:
    """All the text except the entity names: the tokens with the head replaced by
    "<HEAD:type>", the tail by "<TAIL:type>" and other entities by "<type>"."""
    (hs, he), (ts, te) = record["head"], record["tail"]
    labels = {(span.start, span.end): span.label_ for span in doc.spans[SPANS_KEY]}
    slots = {offsets: f"<{label}>" for offsets, label in labels.items()}
    slots[(hs, he)] = f"<HEAD:{labels.get((hs, he), '')}>"
    slots[(ts, te)] = f"<TAIL:{labels.get((ts, te), '')}>"
    words, i = [], 0
    starts = {start: (end, slot) for (start, end), slot in slots.items()}
    while i < len(doc):
        end, slot = starts.get(i, (i + 1, doc[i].lower_))
        words.append(slot)
        i = end
    return " ".join(words)


def between_signature(doc: Doc, record: Dict[str, Any]) -> Hashable:
    """The words between the two mentions (entity names replaced by their type), the
    words around them within one token, and which mention comes first: the local cues a
    relation classifier relies on."""
    (hs, he), (ts, te) = record["head"], record["tail"]
    first, second = sorted([(hs, he), (ts, te)])
    masked = _masked_tokens(doc)
    return (
        hs < ts,
        tuple(masked[first[1] : second[0]]),
        tuple(masked[max(first[0] - 1, 0) : first[0]]),
        tuple(masked[second[1] : second[1] + 1]),
    )


def _masked_tokens(doc: Doc) -> List[str]:
    masked = [token.lower_ for token in doc]
    for span in doc.spans[SPANS_KEY]:
        for i in range(span.start, span.end):
            masked[i] = f"<{span.label_}>"
    return masked


def lexical_signature(doc: Doc, record: Dict[str, Any]) -> Hashable:
    """The entity names of the pair and their order in the text."""
    (hs, he), (ts, te) = record["head"], record["tail"]
    return (doc[hs:he].text.lower(), doc[ts:te].text.lower(), hs < ts)


def full_text_signature(doc: Doc, record: Dict[str, Any]) -> Hashable:
    """The whole text with the pair's offsets: what a perfect text-only memoriser sees."""
    return (doc.text, tuple(record["head"]), tuple(record["tail"]))


def text_only_baseline(
    train_docs: Iterable[Doc],
    test_docs: Iterable[Doc],
    signature: Signature,
    pair_filter: PairFilter = is_shape_pair,
) -> Dict[str, float]:
    """Accuracy of the best text-only predictor of a family: the majority training label
    per text signature (falling back to the overall majority label), against the
    majority-class baseline, over the pairs that pass pair_filter.

    train_docs (Iterable[Doc]): Docs to fit the predictor on.
    test_docs (Iterable[Doc]): Docs to evaluate on.
    signature (Callable[[Doc, dict], Hashable]): What the predictor sees of a pair.
    pair_filter (Callable[[str, str], bool]): Which pairs to count, given the entity
        labels of head and tail.
    RETURNS (Dict[str, float]): "n_test", "majority_acc" and "signature_acc".
    """
    by_signature: Dict[Hashable, Counter] = {}
    overall: Counter = Counter()
    for key, label in _signed_pairs(train_docs, signature, pair_filter):
        by_signature.setdefault(key, Counter())[label] += 1
        overall[label] += 1
    if not overall:
        raise ValueError("No training pair passes pair_filter.")
    majority = overall.most_common(1)[0][0]
    n = hits_majority = hits_signature = 0
    for key, label in _signed_pairs(test_docs, signature, pair_filter):
        counts = by_signature.get(key)
        guess = counts.most_common(1)[0][0] if counts else majority
        n += 1
        hits_majority += label == majority
        hits_signature += label == guess
    return {
        "n_test": float(n),
        "majority_acc": hits_majority / max(n, 1),
        "signature_acc": hits_signature / max(n, 1),
    }


def _signed_pairs(
    docs: Iterable[Doc], signature: Signature, pair_filter: PairFilter
) -> Iterable[Tuple[Hashable, str]]:
    for doc in docs:
        labels = {(span.start, span.end): span.label_ for span in doc.spans[SPANS_KEY]}
        for record in doc._.relations:
            head, tail = tuple(record["head"]), tuple(record["tail"])
            if pair_filter(labels.get(head, ""), labels.get(tail, "")):
                yield signature(doc, record), record["label"]
