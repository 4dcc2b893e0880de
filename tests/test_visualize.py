"""The relation visualizer: `render`, `python -m spacy_roc visualize`, and the page in
a real (headless Chromium) browser."""
import base64
import io
import json
import re
import shutil
import subprocess
import sys
import warnings
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy
import pytest
import spacy
from PIL import Image
from spacy.tokens import Span
from typer.testing import CliRunner

import spacy_roc
from conftest import BLANK, BLUE, CORPUS, GREEN, PERSON_SHAPE, RED, expected_statuses, make_doc, solid_image
from spacy_roc.commands.cli import app
from spacy_roc.formats.corpus import RelationCorpus
from spacy_roc.formats.docbin import write_docbin
from spacy_roc.extensions import make_record, record_key
from spacy_roc.formats.codec import encode_png
from spacy_roc.commands.visualize import image_data_uri, read_data

# "likes" is unknown to the model: its gold relation is always missed.
EXTRA = ("anna likes the blue circle", PERSON_SHAPE, [(0, 1, "likes")], BLUE)
ROWS = [*CORPUS, EXTRA]
IMAGE_FILES = {RED: "red.png", BLUE: "blue.png", GREEN: "green.png"}
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def setup(trained, tmp_path_factory) -> Path:
    """A .spacy corpus (CORPUS plus a doc with an unknown label) whose image paths are
    relative to its folder, and the same docs as annotate-style JSONL whose image
    names are relative to images/."""
    root = tmp_path_factory.mktemp("visualize")
    (root / "images").mkdir()
    for rgb, name in IMAGE_FILES.items():
        Image.fromarray(solid_image(rgb)).save(root / "images" / name)
    docs = [make_doc(BLANK, t, e, r, image=f"images/{IMAGE_FILES[rgb]}", all_pairs=True) for t, e, r, rgb in ROWS]
    write_docbin(docs, root / "test.spacy")
    (root / "jsonl").mkdir()
    lines = [jsonl_line(doc, IMAGE_FILES[rgb]) for doc, (_, _, _, rgb) in zip(docs, ROWS)]
    lines[1]["image"] = base64.b64encode(encode_png(solid_image(GREEN))).decode("ascii")  # bytes, not a path
    del lines[2]["image"]
    (root / "jsonl" / "data.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf8")
    return root


def jsonl_line(doc, image: str) -> Dict[str, Any]:
    """A line in the format of `annotate`: character offsets, image, relations."""

    def span(offsets):
        s = doc[offsets[0] : offsets[1]]
        return {"start": s.start_char, "end": s.end_char, "text": s.text, "label": s.label_}

    entities = [{"start": s.start_char, "end": s.end_char, "label": s.label_} for s in doc.spans["entities"]]
    relations = [
        {"head": span(r["head"]), "tail": span(r["tail"]), "label": r["label"], "score": 1.0, "alternatives": []}
        for r in doc._.relations
        if r["label"] != "None"
    ]
    return {"text": doc.text, "entities": entities, "image": image, "relations": relations}


@pytest.fixture(scope="module")
def nlp(trained):
    return spacy.load(trained[2])


@pytest.fixture(scope="module")
def predicted(setup, nlp):
    """The corpus annotated independently of `visualize`, and its gold records."""
    examples = list(RelationCorpus(setup / "test.spacy", images_dir=setup)(nlp))
    docs = list(nlp.pipe([eg.predicted.copy() for eg in examples], batch_size=32))
    gold = [[r for r in eg.reference._.relations if r["label"] != "None"] for eg in examples]
    assert sum(len(doc._.relations) for doc in docs) >= len(CORPUS)  # the model predicts
    return docs, gold


def run_cli(*args: Any):
    return CliRunner().invoke(app, ["visualize", *map(str, args)])


@pytest.fixture(scope="module")
def page(setup, trained) -> Path:
    """The page written by the CLI for the .spacy corpus (images found by default)."""
    out = setup / "out" / "page.html"
    result = run_cli(trained[2], setup / "test.spacy", out)
    assert result.exit_code == 0, result.output
    assert f"{len(ROWS)} docs" in result.output
    return out


class Elements(HTMLParser):
    """The start tags of a page: (tag, attributes, index of the enclosing figure), and
    the text inside each arc group."""

    def __init__(self, markup: str):
        super().__init__()
        self.elements: List[tuple] = []
        self.doc: Optional[int] = None
        self.arc: Optional[Dict[str, str]] = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.doc = int(attrs["data-doc"])
        if tag == "g" and "roc-arc" in attrs.get("class", "").split():
            self.arc = attrs
            attrs["text"] = ""
        self.elements.append((tag, attrs, self.doc))

    def handle_endtag(self, tag):
        if tag == "g":
            self.arc = None

    def handle_data(self, data):
        if self.arc is not None:
            self.arc["text"] += data

    def with_class(self, name: str, doc: Optional[int] = None) -> List[Dict[str, str]]:
        return [
            attrs
            for _, attrs, i in self.elements
            if name in attrs.get("class", "").split() and (doc is None or i == doc)
        ]


def figures(markup: str) -> List[str]:
    """The markup of each doc's figure."""
    return re.findall(r'<figure class="roc-doc".*?</figure>', markup, re.S)


def entity_labels(markup: str) -> List[Tuple[str, str]]:
    """(label, colour) of each entity in displaCy's span view, which draws the
    label at the entity's first token."""
    found = re.findall(r'<span style="background: (#\w+); z-index: 10[^"]*">\s*(.*?)\s*</span>', markup, re.S)
    return [(label, color) for color, label in found]


def word_tags(svg: str) -> List[str]:
    """The tag under each word of displaCy's arc drawing."""
    return re.findall(r'<tspan class="displacy-tag"[^>]*>([^<]*)</tspan>', svg)


def word_xs(svg: str) -> Dict[str, float]:
    """The x of each word of displaCy's arc drawing, by text."""
    words = re.findall(r'<tspan class="displacy-word"[^>]* x="([\d.]+)">([^<]*)</tspan>', svg)
    return {text: float(x) for x, text in words}


def arc_geometry(svg: str) -> List[Tuple[str, str, str, float]]:
    """(data-head, data-tail, path, x of the arrowhead's tip) of each arc."""
    pattern = (
        r'<g class="displacy-arrow roc-arc[^>]* data-head="([\d ]+)" data-tail="([\d ]+)"'
        r'.*?<path class="displacy-arc"[^>]* d="([^"]+)".*?<path class="displacy-arrowhead" d="M([\d.]+),'
    )
    return [(head, tail, path, float(x)) for head, tail, path, x in re.findall(pattern, svg, re.S)]


def offsets(text: str) -> List[int]:
    return [int(x) for x in text.split()]


def test_one_arc_per_predicted_and_gold_relation(page, predicted):
    docs, gold = predicted
    elements = Elements(page.read_text(encoding="utf8"))
    assert len(elements.with_class("roc-doc")) == len(ROWS)
    for i, (doc, doc_gold) in enumerate(zip(docs, gold)):
        pred_arcs, gold_arcs = elements.with_class("roc-pred", i), elements.with_class("roc-gold", i)
        got = sorted((offsets(a["data-head"]), offsets(a["data-tail"]), a["data-label"]) for a in pred_arcs)
        assert got == sorted((r["head"], r["tail"], r["label"]) for r in doc._.relations)
        got = sorted((offsets(a["data-head"]), offsets(a["data-tail"]), a["data-label"]) for a in gold_arcs)
        assert got == sorted((r["head"], r["tail"], r["label"]) for r in doc_gold)
    assert len(elements.with_class("roc-gold")) == sum(map(len, gold)) == len(CORPUS) + 2


def test_arcs_show_label_score_and_mismatch_marks(page, predicted):
    docs, gold = predicted
    elements = Elements(page.read_text(encoding="utf8"))
    for i, (doc, doc_gold) in enumerate(zip(docs, gold)):
        pred_marks, gold_marks = expected_statuses(doc._.relations, doc_gold)
        arcs = {(tuple(offsets(a["data-head"])), tuple(offsets(a["data-tail"]))): a for a in elements.with_class("roc-pred", i)}
        for record, mark in zip(doc._.relations, pred_marks):
            arc = arcs[record_key(record)]
            assert arc["data-score"] == f"{record['score']:.4f}"
            assert f"{record['label']} {record['score']:.2f}" in arc["text"]
            assert arc["class"] == f"displacy-arrow roc-arc roc-pred roc-{mark}" and arc["data-status"] == mark
        assert [a["data-status"] for a in elements.with_class("roc-gold", i)] == gold_marks
    # "likes" is unknown to the model: missed, or predicted with another label.
    (likes,) = [a["data-status"] for a in elements.with_class("roc-gold") if a["data-label"] == "likes"]
    assert likes in ("missed", "wrong-label")


def test_render_marks_extra_wrong_label_and_missed():
    doc = make_doc(BLANK, "anna drew the red circle", PERSON_SHAPE + [(3, 5, "SHAPE")], [])
    doc._.relations = [make_record((0, 1), (2, 5), "drew", 0.9), make_record((0, 1), (3, 5), "owns", 0.6)]
    gold = [make_record((0, 1), (3, 5), "drew"), make_record((2, 5), (0, 1), "above"), make_record((0, 1), (2, 5), "None")]
    elements = Elements(spacy_roc.render(doc, gold, spans_key="entities", jupyter=False))
    # The pairs in alignment order: the gold ones, then those only predicted.
    assert [a["data-status"] for a in elements.with_class("roc-pred")] == ["wrong-label", "extra"]
    assert [a["data-status"] for a in elements.with_class("roc-gold")] == ["wrong-label", "missed"]
    assert [a["data-label"] for a in elements.with_class("roc-gold")] == ["drew", "above"]  # no "None"
    rows = [r["class"] for r in elements.with_class("roc-row")]
    assert rows == ["roc-row roc-row-wrong-label", "roc-row roc-row-missed", "roc-row roc-row-extra"]
    # Without gold: no marks, no gold arcs, no rows marked.
    elements = Elements(spacy_roc.render(doc, spans_key="entities", jupyter=False))
    assert [a["class"] for a in elements.with_class("roc-arc")] == ["displacy-arrow roc-arc roc-pred"] * 2
    assert not elements.with_class("roc-gold") and not elements.with_class("roc-key")


def test_entities_are_highlighted_by_type(page):
    text = page.read_text(encoding="utf8")
    colors: Dict[str, set] = {}
    n_drawings = 0
    for (_, ents, _, _), figure in zip(ROWS, figures(text), strict=True):
        expected = Counter(label for _, _, label in ents)
        labels = entity_labels(figure)
        assert Counter(label for label, _ in labels) == expected
        for label, color in labels:
            colors.setdefault(label, set()).add(color)
        # The arc drawings: one word per entity, tagged with its type.
        for svg in re.findall(r"<svg .*?</svg>", figure, re.S):
            assert Counter(tag for tag in word_tags(svg) if tag) == expected
            n_drawings += 1
    assert n_drawings >= len(ROWS) + len(CORPUS)  # every doc has gold, most have predictions
    assert sorted(colors) == ["PERSON", "SHAPE"] and all(len(fills) == 1 for fills in colors.values())
    assert colors["PERSON"] != colors["SHAPE"]
    chips = [attrs["style"] for attrs in Elements(text).with_class("roc-chip")]
    assert chips == [f"background: {fill}" for label in ("PERSON", "SHAPE") for fill in colors[label]]


def test_images_are_inline_data_uris(page):
    elements = Elements(page.read_text(encoding="utf8"))
    for i, (_, _, _, rgb) in enumerate(ROWS):
        (image,) = [attrs for tag, attrs, doc in elements.elements if tag == "img" and doc == i]
        prefix, _, data = image["src"].partition(",")
        assert prefix == "data:image/png;base64"
        pixels = numpy.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
        assert pixels.shape == (32, 32, 3) and (pixels == rgb).all()
        assert image["width"] == image["height"] == "160"  # small images are shown larger


def test_image_data_uri_downscales_photos():
    noise = numpy.random.default_rng(0).integers(0, 256, (600, 1000, 3), dtype="uint8")
    image = Image.fromarray(noise)
    uri, size = image_data_uri(image)
    assert uri.startswith("data:image/jpeg;base64,") and size == (320, 192)
    assert Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))).size == (320, 192)
    assert image.size == (1000, 600)  # not modified


def test_page_loads_nothing_from_outside(page):
    text = page.read_text(encoding="utf8")
    # displaCy's SVGs declare their XML namespaces; no other URL is named.
    local = re.sub(r' xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"', "", text)
    assert "http://" not in local and "https://" not in local
    for needle in ("<script", "<link", "@import", "url(", "<a "):
        assert needle not in text
    elements = [attrs for _, attrs, _ in Elements(text).elements]
    ids = [attrs["id"] for attrs in elements if "id" in attrs]
    assert len(ids) == len(set(ids))  # each drawing and arc has its own id
    refs = [attrs[name] for attrs in elements for name in ("src", "href", "xlink:href") if name in attrs]
    assert any(ref.startswith("#") for ref in refs) and any(ref.startswith("data:") for ref in refs)
    assert all(ref.startswith("data:") or (ref.startswith("#") and ref[1:] in ids) for ref in refs)


def test_text_and_labels_are_escaped():
    doc = BLANK.make_doc('anna <b>drew</b> & "the" circle')
    doc.ents = [Span(doc, 0, 1, label="<PER>"), Span(doc, 1, 6, label="SHAPE")]  # <b>drew</b>
    doc._.relations = [make_record((0, 1), (1, 6), 'a<i>"b', 0.5)]
    markup = spacy_roc.render(doc, jupyter=False, page=False)
    assert "<b>" not in markup and "<i>" not in markup and "<PER>" not in markup and "</b" not in markup
    assert "<td>&lt;b&gt;drew&lt;/b&gt;</td>" in markup
    assert re.search(r'class="displacy-word"[^>]*>&lt;b&gt;drew&lt;/b&gt;</tspan>', markup)
    assert ">&amp;</tspan>" in markup and ">&quot;</tspan>" in markup and ">&lt;PER&gt;</tspan>" in markup
    assert ">a&lt;i&gt;&quot;b 0.50</textPath>" in markup
    elements = Elements(markup)
    assert [tag for tag, _, _ in elements.elements if tag in ("b", "i")] == []
    assert elements.with_class("roc-arc")[0]["data-label"] == 'a<i>"b'
    # displaCy finds the colour of the escaped label: the one of the legend.
    labels = entity_labels(markup)
    assert [label for label, _ in labels] == ["&lt;PER&gt;", "SHAPE"]
    assert [a["style"] for a in elements.with_class("roc-chip")] == [f"background: {color}" for _, color in labels]


def test_arcs_go_from_head_to_tail_and_never_share_a_path():
    doc = make_doc(BLANK, "anna drew the red circle", PERSON_SHAPE + [(3, 5, "SHAPE")], [])
    pairs = [((0, 1), (2, 5)), ((2, 5), (0, 1)), ((0, 1), (3, 5)), ((3, 5), (0, 1)), ((2, 5), (3, 5))]
    doc._.relations = [make_record(h, t, "drew", 0.5) for h, t in pairs]
    markup = spacy_roc.render(doc, doc._.relations, spans_key="entities", jupyter=False)
    svgs = re.findall(r"<svg .*?</svg>", markup, re.S)
    assert len(svgs) == 2  # predicted, then gold
    word_of = {"0 1": "anna", "2 5": "the", "3 5": "red circle"}  # an entity's first word
    for svg in svgs:
        arcs = arc_geometry(svg)
        assert [(head, tail) for head, tail, _, _ in arcs] == [(f"{h[0]} {h[1]}", f"{t[0]} {t[1]}") for h, t in pairs]
        assert len({path for _, _, path, _ in arcs}) == len(pairs)  # stacked, never on one path
        x_of = word_xs(svg)
        for head, tail, _, arrow_x in arcs:  # the arrowhead is at the tail
            assert abs(arrow_x - x_of[word_of[tail]]) < abs(arrow_x - x_of[word_of[head]])


def test_entities_with_the_same_start_are_joined_at_different_words():
    doc = make_doc(BLANK, "anna drew the red circle", [(2, 4, "SHAPE"), (2, 5, "SHAPE")], [])
    doc._.relations = [make_record((2, 5), (2, 4), "part_of", 0.7)]
    markup = spacy_roc.render(doc, spans_key="entities", jupyter=False)
    (svg,) = re.findall(r"<svg .*?</svg>", markup, re.S)
    assert list(word_xs(svg)) == ["anna", "drew", "the red", "circle"] and word_tags(svg)[2:] == ["SHAPE", ""]
    ((head, tail, _, arrow_x),) = arc_geometry(svg)
    assert (head, tail) == ("2 5", "2 4")
    x_of = word_xs(svg)
    assert abs(arrow_x - x_of["the red"]) < abs(arrow_x - x_of["circle"])


def test_render_is_the_cli_page(page, predicted):
    docs, gold = predicted
    text = page.read_text(encoding="utf8")
    assert spacy_roc.render(docs, gold, spans_key="entities", jupyter=False) == text
    body = text.split("<body>\n", 1)[1].rsplit("\n</body>", 1)[0]
    assert spacy_roc.render(docs, gold, spans_key="entities", jupyter=False, page=False) == body
    # Gold given as reference docs: the same page.
    references = [make_doc(BLANK, t, e, r, all_pairs=True) for t, e, r, _ in ROWS]
    assert spacy_roc.render(docs, references, spans_key="entities", jupyter=False) == text


def test_render_in_jupyter_displays(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    doc = make_doc(BLANK, "anna drew the red circle", PERSON_SHAPE, [(0, 1, "drew")])
    assert spacy_roc.render(doc, jupyter=True, page=False) is None
    assert len(shown) == 1 and 'class="displacy-arrow roc-arc roc-pred"' in shown[0].data
    assert shown[0].data.startswith('<span class="tex2jax_ignore"><div class="roc-viz">')
    assert isinstance(spacy_roc.render(doc, jupyter=None), str)  # not in a notebook
    assert shown[1:] == []


def test_render_checks_gold_length():
    doc = make_doc(BLANK, "anna drew the red circle", PERSON_SHAPE, [(0, 1, "drew")])
    with pytest.raises(ValueError, match=r"\[ROC_E404\]"):
        spacy_roc.render([doc, doc], [doc._.relations], jupyter=False)


def test_jsonl_input(setup, trained, nlp):
    out = setup / "out" / "jsonl.html"
    with pytest.warns(UserWarning, match=r"\[ROC_W001\]"):  # the line without image
        result = run_cli(trained[2], setup / "jsonl" / "data.jsonl", out, "--images-dir", setup / "images")
    assert result.exit_code == 0, result.output
    elements = Elements(out.read_text(encoding="utf8"))
    lines = [json.loads(line) for line in (setup / "jsonl" / "data.jsonl").read_text().splitlines()]
    docs = []
    for line in lines:
        doc = nlp.make_doc(line["text"])
        doc.spans["entities"] = [doc.char_span(e["start"], e["end"], label=e["label"]) for e in line["entities"]]
        doc._.image = str(setup / "images" / line["image"]) if line.get("image", "").endswith(".png") else None
        doc._.image = base64.b64decode(line["image"]) if doc._.image is None and "image" in line else doc._.image
        docs.append(doc)
    with pytest.warns(UserWarning, match=r"\[ROC_W001\]"):
        docs = list(nlp.pipe(docs, batch_size=32))
    for i, (doc, line) in enumerate(zip(docs, lines)):
        got = sorted((offsets(a["data-head"]), a["data-label"], a["data-score"]) for a in elements.with_class("roc-pred", i))
        assert got == sorted((r["head"], r["label"], f"{r['score']:.4f}") for r in doc._.relations)
        assert len(elements.with_class("roc-gold", i)) == len(line["relations"])
        assert len(elements.with_class("roc-image", i)) == int("image" in line)
    assert len(elements.with_class("roc-gold")) == len(CORPUS) + 2
    (green,) = [attrs for tag, attrs, i in elements.elements if tag == "img" and i == 1]  # the base64 line
    pixels = numpy.asarray(Image.open(io.BytesIO(base64.b64decode(green["src"].partition(",")[2]))))
    assert (pixels == GREEN).all()


def test_jsonl_docs_without_relations_have_no_gold(tmp_path):
    path = tmp_path / "data.jsonl"
    entities = [{"start": 0, "end": 4, "label": "PERSON"}, {"start": 10, "end": 24, "label": "SHAPE"}]
    line = {"text": "anna drew the red circle", "entities": entities}
    path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "pairs": [[1, 0]]}) + "\n")
    docs, gold = read_data(BLANK, path, "entities")
    assert gold is None and [s.text for s in docs[0].spans["entities"]] == ["anna", "the red circle"]
    # The pairs to score, as `annotate` lists them: "pairs", or None (the candidates').
    assert docs[0]._.relation_pairs is None
    assert docs[1]._.relation_pairs == [[[2, 5], [0, 1]]]
    docs, gold = read_data(BLANK, path, None)
    assert [e.label_ for e in docs[0].ents] == ["PERSON", "SHAPE"] and not docs[0].spans


def test_limit(setup, trained):
    out = setup / "out" / "limit.html"
    result = run_cli(trained[2], setup / "test.spacy", out, "--limit", 2)
    assert result.exit_code == 0, result.output
    elements = Elements(out.read_text(encoding="utf8"))
    assert len(elements.with_class("roc-doc")) == 2
    assert {i for _, _, i in elements.elements if i is not None} == {0, 1}
    assert len(elements.with_class("roc-gold")) == 2  # one gold relation in each of the first two docs
    docs, _ = read_data(BLANK, setup / "jsonl" / "data.jsonl", "entities", limit=3)
    assert [doc.text for doc in docs] == [row[0] for row in ROWS[:3]]


def test_data_errors(setup, trained, tmp_path):
    bad = tmp_path / "data.txt"
    bad.write_text("anna drew\n")
    result = run_cli(trained[2], bad, tmp_path / "out.html")
    assert result.exit_code == 1 and "[ROC_E400]" in result.output
    assert not (tmp_path / "out.html").exists()
    lines = {
        "Expecting property name": "{not json",
        'no "text" string': json.dumps({"entities": []}),
        "does not start and end on token boundaries": json.dumps({"text": "anna drew", "entities": [{"start": 1, "end": 4, "label": "P"}]}),
        "does not decode as base64": json.dumps({"text": "anna drew", "image": "data:image/png;base64,@@@"}),
        "Entity (head of relation 0) is malformed": json.dumps({"text": "anna drew", "relations": [{"tail": {"start": 0, "end": 4}, "label": "x"}]}),
    }
    for reason, line in lines.items():
        path = tmp_path / "data.jsonl"
        path.write_text(json.dumps({"text": "ok"}) + "\n\n" + line + "\n")
        with pytest.raises(ValueError, match=r"\[ROC_E402\] Malformed line 3 ") as info:
            read_data(BLANK, path, None)
        assert reason in str(info.value)
    path.write_text("\n")
    with pytest.raises(ValueError, match=r"\[ROC_E403\]"):
        read_data(BLANK, path, None)
    with pytest.raises(ValueError, match=r"\[ROC_E401\]"):
        read_data(BLANK, tmp_path / "absent.jsonl", None)


def test_unreadable_image_warns_and_renders_without_it(tmp_path):
    docs = [make_doc(BLANK, "anna drew the red circle", PERSON_SHAPE, [(0, 1, "drew")]) for _ in range(3)]
    docs[0]._.image = str(tmp_path / "missing.png")
    docs[1]._.image = b"not an image"
    docs[2]._.image = solid_image(RED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        elements = Elements(spacy_roc.render(docs, jupyter=False))
    (warning,) = [w for w in caught if "[ROC_W400]" in str(w.message)]
    assert str(warning.message).startswith("[ROC_W400] 2 image(s)") and "missing.png" in str(warning.message)
    assert warning.filename == __file__  # attributed to the caller's line
    assert [len(elements.with_class("roc-no-image", i)) for i in range(3)] == [1, 1, 0]
    assert [tag for tag, _, i in elements.elements if tag == "img"] == ["img"]


def test_import_stays_light():
    code = "import sys, spacy_roc; print(sorted(m for m in sys.modules if m.startswith('spacy_roc.commands.visualize')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- in a real browser ----------------------------------------------------------------


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@needs_chromium
def test_browser_screenshot_is_not_blank(page, tmp_path):
    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    pixels = numpy.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (900, 1200)
    n_colors = len(numpy.unique(pixels.reshape(-1, 3), axis=0))
    not_white = (pixels < 240).any(axis=2).mean()
    assert n_colors > 100 and not_white > 0.05
    for rgb in (RED, BLUE):  # the images are drawn (upscaled to 160 px)
        assert (pixels == rgb).all(axis=2).sum() > 100 * 100
    # displaCy's arcs take the colour of their mark: the first docs' are correct (green).
    assert (pixels[100:] == (0x1B, 0x7F, 0x3B)).all(axis=2).sum() > 300


@needs_chromium
def test_browser_dom_has_one_arc_per_relation(page, predicted, tmp_path):
    docs, gold = predicted
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    elements = Elements(dom)
    assert len(elements.with_class("roc-doc")) == len(ROWS)
    assert len(elements.with_class("roc-pred")) == sum(len(doc._.relations) for doc in docs)
    assert len(elements.with_class("roc-gold")) == sum(map(len, gold))
    assert len(re.findall(r'<g class="displacy-arrow roc-arc roc-pred', dom)) == len(elements.with_class("roc-pred"))
    assert len(entity_labels(dom)) == sum(len(ents) for _, ents, _, _ in ROWS)


def test_jsonl_images_are_read_as_annotate_reads_them(tmp_path):
    data = encode_png(solid_image(RED))
    encoded = base64.b64encode(data).decode("ascii")
    (tmp_path / "red.png").write_bytes(data)
    (tmp_path / "abcd").write_bytes(data)  # an existing file wins over base64 ("abcd" is valid base64)
    images = ["red.png", str(tmp_path / "red.png"), encoded, "data:image/png;base64," + encoded, "missing.png", "", "abcd"]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": "anna", "image": image}) for image in images) + "\n")
    docs, _ = read_data(BLANK, path, None)
    red, missing = str(tmp_path / "red.png"), str(tmp_path / "missing.png")
    assert [doc._.image for doc in docs] == [red, red, data, data, missing, None, str(tmp_path / "abcd")]


def test_jsonl_skips_lines_annotate_marked_bad(tmp_path):
    path = tmp_path / "data.jsonl"
    good = {"text": "anna drew", "entities": [], "relations": []}
    bad = {"text": "anna drew", "entities": [{"start": 1, "end": 2, "label": "P"}], "error": {"code": "ROC_E503", "reason": "x"}}
    path.write_text("\n".join(json.dumps(line) for line in (good, bad, bad, good)) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs, gold = read_data(BLANK, path, None)
    assert len(docs) == 2 and gold == [[], []]
    (warning,) = [w for w in caught if "[ROC_W401]" in str(w.message)]
    assert "Skipped 2 line(s)" in str(warning.message) and "[2, 3]" in str(warning.message)
    path.write_text(json.dumps({"text": "anna", "image": 3}) + "\n")
    with pytest.raises(ValueError, match=r"\[ROC_E402\] Malformed line 1 .*a int, not a path or base64 string"):
        read_data(BLANK, path, None)
    path.write_text(json.dumps({"text": "anna", "entities": [{"start": 0, "end": 4}], "pairs": [[0, 1]]}) + "\n")
    with pytest.raises(ValueError, match=r"\[ROC_E402\] Malformed line 1 .*\[0, 1\] is not \[head, tail\]"):
        read_data(BLANK, path, None)
