"""Objects in the image (MORE): the data model on the Doc (DocBin, to_bytes, the
codec), object sides in pairs and records, the MORE converter (a sample written here
in MORE's format, and back), and the model's object pairs."""
import json
import warnings

import numpy
import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from conftest import BLANK, DESCRIPTIONS, initialize_quietly, make_nlp, solid_image
from spacy_roc import make_record, relation_spans
from spacy_roc.commands.cli import app
from spacy_roc.formats.codec import doc_from_json, doc_to_json, records_from_json, records_to_json
from spacy_roc.formats.docbin import read_docbin
from spacy_roc.formats.more import corners, docs_to_more, more_to_docs
from spacy_roc.objects import ImageObject

OBJECTS = [
    {"box": [0.0, 0.0, 0.5, 0.5], "name": "man_1", "caption": "a man in a suit"},
    {"box": [0.5, 0.25, 1.0, 1.0], "name": "flag_2", "caption": None},
]


def object_doc():
    doc = BLANK("Biden meets with the man on the left")
    doc.spans["entities"] = [Span(doc, 0, 1, label="PERSON")]
    doc._.objects = OBJECTS
    doc._.relations = [make_record((0, 1), {"object": 0}, "meets"), make_record((0, 1), {"object": 1}, "None")]
    return doc


def test_objects_survive_docbin_to_bytes_and_the_codec():
    doc = object_doc()
    again = Doc(BLANK.vocab).from_bytes(doc.to_bytes())
    binned = list(DocBin(docs=[doc], store_user_data=True).get_docs(BLANK.vocab))[0]
    for other in (again, binned):
        assert other._.objects == OBJECTS
        assert other._.relations == doc._.relations
    fields = doc_to_json(doc, "entities")
    assert fields["objects"] == OBJECTS
    fields["relations"] = records_to_json(doc, "entities")
    assert fields["relations"][0]["tail"] == {"object": 0, "box": [0.0, 0.0, 0.5, 0.5], "name": "man_1", "caption": "a man in a suit"}
    back = doc_from_json(BLANK, {**json.loads(json.dumps(fields)), "pairs": [[0, {"object": 1}]]}, "entities")
    assert back._.objects == OBJECTS and back._.relation_pairs == [[[0, 1], {"object": 1}]]
    records = records_from_json(back, fields["relations"])
    assert [(r["head"], r["tail"], r["label"]) for r in records] == [(r["head"], r["tail"], r["label"]) for r in doc._.relations]


def test_object_sides_of_records():
    doc = object_doc()
    head, tail = relation_spans(doc, doc._.relations[0])
    assert head.text == "Biden" and isinstance(tail, ImageObject) and tail.index == 0 and tail.text == "a man in a suit"
    for bad in ({"object": 2}, {"object": "0"}, {"objekt": 0}):
        with pytest.raises(ValueError, match="ROC_E015"):
            relation_spans(doc, {"head": [0, 1], "tail": bad, "label": "meets"})


@pytest.mark.parametrize("objects", [
    [{"box": [0.5, 0.0, 0.2, 1.0]}],  # x0 > x1
    [{"box": [0.0, 0.0, 1.2, 1.0]}],  # outside [0, 1]
    [{"box": [0.0, 0.0, 1.0]}],
    [{"box": [0.0, 0.0, 1.0, 1.0], "colour": "red"}],
    [{"box": [0.0, 0.0, 1.0, 1.0], "caption": 3}],
    "not a list",
])
def test_malformed_objects_are_coded_errors(objects):
    doc = BLANK("Biden meets")
    with pytest.raises(ValueError, match="ROC_E045"):
        doc._.objects = objects
    with pytest.raises(ValueError, match="ROC_E510"):
        doc_from_json(BLANK, {"text": "Biden meets", "objects": objects}, None)


# -- the MORE converter -------------------------------------------------------------


def write_more_sample(folder, lines, boxes, captions=None):
    """A MORE split written in MORE's own formats: dict-literal lines, the .pth of
    (cx, cy, w, h) boxes (torch.save, as MORE's ent_*_dict.pth), captions JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("\n".join(repr(line) for line in lines) + "\n", encoding="utf8")
    torch.save(boxes, folder / "ent_train_dict.pth")
    if captions is not None:
        (folder / "caption_dict.json").write_text(json.dumps(captions), encoding="utf8")
    return folder


LINES = [
    {"token": ["Biden", "meets", "with", "Xi"], "h": {"name": "Biden", "pos": [0, 1]}, "t": {"name": "man_0"}, "img_id": "a.jpg", "relation": "/per/per/meet"},
    {"token": ["Biden", "meets", "with", "Xi"], "h": {"name": "Biden", "pos": [0, 1]}, "t": {"name": "flag_1"}, "img_id": "a.jpg", "relation": "None"},
    {"token": ["Biden", "meets", "with", "Xi"], "h": {"name": "Xi", "pos": [3, 4]}, "t": {"name": "man_0"}, "img_id": "a.jpg", "relation": "None"},
    {"token": ["A", "flag", "in", "Paris"], "h": {"name": "Paris", "pos": [3, 4]}, "t": {"name": "flag_0"}, "img_id": "b.jpg", "relation": "/loc/misc/located"},
]
BOXES = {
    "a.jpg": {"man_0": (0.25, 0.5, 0.5, 1.0), "flag_1": (0.75, 0.25, 0.5, 0.5)},
    "b.jpg": {"flag_0": (0.5, 0.5, 0.25, 0.5)},
}
CAPTIONS = {"a.jpg": {"man_0": "a man in a dark suit"}}


def test_more_converts_to_docs_and_back_with_nothing_lost(tmp_path):
    folder = write_more_sample(tmp_path / "MORE", LINES, BOXES, CAPTIONS)
    docs, stats = more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth", folder / "caption_dict.json")
    assert (stats["n_lines"], stats["n_instances"], stats["n_docs"], stats["n_objects"]) == (4, 4, 2, 3)
    assert stats["errors"] == [] and stats["n_clipped_boxes"] == 0
    first = docs[0]
    assert [(s.start, s.end, s.label_) for s in first.spans["entities"]] == [(0, 1, "ENTITY"), (3, 4, "ENTITY")]
    assert first._.objects[0] == {"box": [0.0, 0.0, 0.5, 1.0], "name": "man_0", "caption": "a man in a dark suit"}
    assert first._.relations[0]["tail"] == {"object": 0} and first._.image == "a.jpg"
    lines, boxes, captions = docs_to_more(docs)
    assert [eval(line) for line in lines] == LINES  # noqa: S307 (our own repr)
    assert {img: {k: pytest.approx(v) for k, v in objs.items()} for img, objs in boxes.items()} == BOXES
    assert captions == CAPTIONS


def test_more_bad_input_is_reported(tmp_path):
    unknown = {**LINES[0], "t": {"name": "dog_9"}}
    broken = "{'token': ['x'"
    folder = write_more_sample(tmp_path / "MORE", [LINES[0], unknown, LINES[3]], BOXES)
    (folder / "train.txt").write_text((folder / "train.txt").read_text() + broken + "\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"ROC_E120.*line 2.*'dog_9'"):
        more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth")
    with pytest.warns(UserWarning, match=r"ROC_W120.*2 line"):
        docs, stats = more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth", on_error="skip")
    assert [no for no, _ in stats["errors"]] == [2, 4] and stats["n_instances"] == 2
    # a box reaching outside [0, 1]: clipped, counted, warned; an empty one: an error
    torch.save({**BOXES, "b.jpg": {"flag_0": (0.9, 0.5, 0.4, 0.2)}}, folder / "ent_train_dict.pth")
    with pytest.warns(UserWarning, match="ROC_W121"):
        _, stats = more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth", on_error="skip")
    assert stats["n_clipped_boxes"] == 1 and corners((0.9, 0.5, 0.4, 0.2)) == ([0.7, 0.4, 1.0, 0.6], True)
    torch.save({**BOXES, "b.jpg": {"flag_0": (1.5, 0.5, 0.4, 0.2)}}, folder / "ent_train_dict.pth")
    with pytest.raises(ValueError, match="ROC_E123"):
        more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth", on_error="skip")
    # more than 10 objects: kept, counted, warned
    many = {f"obj_{i}": (0.5, 0.5, 0.1, 0.1) for i in range(12)}
    torch.save({**BOXES, "b.jpg": {"flag_0": (0.5, 0.5, 0.25, 0.5), **many}}, folder / "ent_train_dict.pth")
    with pytest.warns(UserWarning, match="ROC_W122"):
        docs, stats = more_to_docs(folder / "train.txt", folder / "ent_train_dict.pth", on_error="skip")
    assert stats["images_over_limit"] == ["b.jpg"] and len(docs[-1]._.objects) == 13


def test_convert_more_cli(tmp_path):
    folder = write_more_sample(tmp_path / "MORE", LINES, BOXES, CAPTIONS)
    out = tmp_path / "train.spacy"
    args = ["convert", "more", str(folder / "train.txt"), str(folder / "ent_train_dict.pth"), str(out), "--captions", str(folder / "caption_dict.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Converted 4 of 4 lines into 2 docs with 3 objects" in result.output
    assert [len(doc._.objects) for doc in read_docbin(out, BLANK.vocab)] == [2, 1]


# -- the model ----------------------------------------------------------------------


def objects_example(rgb_left, rgb_right, relation_left):
    """A doc whose image has a left and a right object of two colours; the person
    relates to the left one."""
    image = numpy.zeros((32, 32, 3), dtype="uint8")
    image[:, :16], image[:, 16:] = rgb_left, rgb_right
    doc = BLANK("anna painted the red one")
    doc.spans["entities"] = [Span(doc, 0, 1, label="PERSON")]
    doc._.objects = [{"box": [0.0, 0.0, 0.5, 1.0]}, {"box": [0.5, 0.0, 1.0, 1.0]}]
    doc._.image = image
    doc._.relations = [make_record((0, 1), {"object": 0}, relation_left), make_record((0, 1), {"object": 1}, "None")]
    return doc


def test_object_pairs_are_scored_with_one_image_pass_and_written_as_records(tiny_bert_dir):
    from conftest import to_example

    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = [to_example(BLANK, objects_example((255, 0, 0), (0, 0, 255), "drew"))]
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    pipe = nlp.get_pipe("roc_relations")
    assert ["PERSON", "OBJECT"] in pipe.cfg["type_pairs"]
    doc = objects_example((255, 0, 0), (0, 0, 255), "drew")
    doc._.relations = []
    pairs, probs = pipe.predict([doc])
    assert [(h.start, t.index) for h, t in pairs[0]] == [(0, 0), (0, 1)]  # entity -> object, both objects
    assert probs.shape == (2, len(pipe.labels))
    from conftest import list_every_pair

    with list_every_pair(pipe):
        out = nlp(doc)
    assert [(r["head"], r["tail"]) for r in out._.relations] == [([0, 1], {"object": 0, "box": [0.0, 0.0, 0.5, 1.0]}), ([0, 1], {"object": 1, "box": [0.5, 0.0, 1.0, 1.0]})]


def test_object_pairs_need_the_inline_encoder(tiny_bert_dir):
    from conftest import LEVITATED, to_example

    nlp = make_nlp(tiny_bert_dir, spans_key="entities", pair_encoder=LEVITATED)
    examples = [to_example(BLANK, objects_example((255, 0, 0), (0, 0, 255), "drew"))]
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    with pytest.raises(ValueError, match="ROC_E047.*LevitatedMarkers"):
        nlp.get_pipe("roc_relations").predict([examples[0].predicted])


def test_visualize_draws_object_boxes_and_arcs_to_them():
    import base64
    import io
    import re

    from PIL import Image

    from spacy_roc.commands.visualize import render

    doc = object_doc()
    doc._.image = numpy.full((40, 40, 3), 255, dtype="uint8")
    gold = [dict(r) for r in doc._.relations]
    doc._.relations = [make_record((0, 1), {"object": 0, "box": OBJECTS[0]["box"]}, "meets", 0.9)]
    page = render([doc], [gold], spans_key="entities", none_label="None", jupyter=False)
    assert "[0] a man in a suit" in page and "[1] flag_2" in page  # the objects as words of the drawing
    arcs = re.findall(r'<g class="displacy-arrow roc-arc roc-(pred|gold)[^"]*" [^>]*data-tail="object 0"', page)
    assert arcs == ["pred", "gold"]
    uri = re.search(r'<img class="roc-image"[^>]* src="data:image/png;base64,([^"]+)"', page).group(1)
    image = Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB")
    assert image.getpixel((0, image.height // 4)) == (255, 0, 160)  # the left edge of box 0
    assert image.getpixel((image.width * 3 // 4, image.height // 8)) == (255, 255, 255)  # outside every box


def test_objects_survive_a_prodigy_round_trip(tmp_path):
    from spacy_roc.formats.prodigy import doc_to_task, prodigy_to_docs

    doc = object_doc()
    task = {**doc_to_task(doc, "entities"), "answer": "accept"}
    assert task["objects"] == OBJECTS and task["object_relations"][0]["child_object"] == 0
    srsly.write_jsonl(tmp_path / "tasks.jsonl", [task])
    docs, _ = prodigy_to_docs(tmp_path / "tasks.jsonl")
    assert docs[0]._.objects == OBJECTS
    assert {(tuple(r["head"]), r["tail"]["object"], r["label"]) for r in docs[0]._.relations} == {((0, 1), 0, "meets"), ((0, 1), 1, "None")}


def test_a_relation_that_states_its_sides_takes_only_such_pairs(tiny_bert_dir):
    from conftest import list_every_pair, to_example

    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    doc = objects_example((255, 0, 0), (0, 0, 255), "drew")
    doc.spans["entities"] = [Span(doc, 0, 1, label="PERSON"), Span(doc, 3, 5, label="SHAPE")]
    initialize_quietly(nlp, [to_example(BLANK, doc)], DESCRIPTIONS)
    pipe = nlp.get_pipe("roc_relations")
    pipe.add_relation("shows", ["the head is shown by the tail object"], sides=["text", "object"])
    with pytest.raises(ValueError, match="ROC_E050"):
        pipe.add_relation("bad", ["x"], sides=["text", "image"])
    fresh = doc.copy()
    fresh._.relations = []
    pairs, probs = pipe.predict([fresh])
    column = pipe.labels.index("shows")
    for (head, tail), row in zip(pairs[0], probs):
        assert (row[column] > 0) == isinstance(tail, ImageObject)  # text -> text pairs cannot take it
    assert any(not isinstance(t, ImageObject) for _, t in pairs[0])


def test_annotate_reads_objects_and_writes_object_sides(trained, tmp_path):
    import json as json_module

    from conftest import write_jsonl
    from spacy_roc.commands.annotate import annotate_local

    nlp = trained[0]
    line = {
        "id": "a", "text": "anna drew the red circle",
        "entities": [{"start": 0, "end": 4, "label": "PERSON"}, {"start": 10, "end": 24, "label": "SHAPE"}],
        "objects": OBJECTS, "pairs": [[0, {"object": 1}], [0, 1]],
    }
    pipe = nlp.get_pipe("roc_relations")
    saved = pipe.none_label
    pipe.none_label = "__list_every_pair__"
    try:
        annotate_local(nlp, write_jsonl(tmp_path / "in.jsonl", [line]), tmp_path / "out.jsonl", progress=False)
    finally:
        pipe.none_label = saved
    out = json_module.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert out["objects"] == OBJECTS
    assert out["relations"][0]["tail"] == {"object": 1, "box": [0.5, 0.25, 1.0, 1.0], "name": "flag_2", "caption": None}
    assert out["relations"][1]["tail"]["text"] == "the red circle"


def test_object_slots_get_gradients_from_docs_with_objects(tiny_bert_dir):
    """On docs with image objects, every parameter of the object slots gets a finite,
    non-zero gradient after one step (which moves the zero-initialised outputs)."""
    from conftest import to_example
    from spacy_roc.model.roc_model import get_network

    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = [to_example(BLANK, objects_example((255, 0, 0), (0, 0, 255), "drew")), to_example(BLANK, objects_example((0, 0, 255), (255, 0, 0), "owns"))]
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    pipe = nlp.get_pipe("roc_relations")
    pipe.update(examples, sgd=nlp.create_optimizer())
    network = get_network(pipe.model)
    network.zero_grad()
    pipe.update(examples, sgd=None)
    slots = dict(network.pairs.objects.named_parameters())
    assert slots
    for name, param in slots.items():
        assert param.grad is not None and param.grad.abs().sum() > 0 and torch.isfinite(param.grad).all(), name
