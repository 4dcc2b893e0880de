"""Tests of the Prodigy rel.manual converter and exporter (spacy_roc.formats.prodigy)
and their CLI commands."""
import base64
import copy
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
import pytest
import spacy
import srsly
from PIL import Image
from spacy.tokens import Span
from typer.testing import CliRunner

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from spacy_roc.commands.cli import app
from spacy_roc.formats.docbin import read_docbin, write_docbin
from spacy_roc.commands.export import export_prodigy
from spacy_roc.formats.prodigy import convert_prodigy, prodigy_to_docs
from spacy_roc.formats.prodigy import doc_to_task
from spacy_roc.extensions import make_record, record_key
from spacy_roc.formats.codec import encode_png, image_to_json

from conftest import BLANK, fresh_docs, make_doc, solid_image, write_jsonl



# -- building rel.manual tasks as Prodigy writes them ----------------------------------


def tokens_of(words: Sequence[str], ws: Optional[Sequence[bool]] = None) -> List[Dict[str, Any]]:
    ws = list(ws) if ws is not None else [True] * (len(words) - 1) + [False]
    tokens, start = [], 0
    for i, (word, space) in enumerate(zip(words, ws)):
        tokens.append({"text": word, "start": start, "end": start + len(word), "id": i, "ws": space})
        start += len(word) + space
    return tokens


def span_of(tokens: List[Dict[str, Any]], first: int, last: int, label: Optional[str]) -> Dict[str, Any]:
    """A Prodigy span over tokens first..last (inclusive)."""
    return {
        "start": tokens[first]["start"], "end": tokens[last]["end"],
        "token_start": first, "token_end": last, "label": label,
    }


def relation_of(head: Dict[str, Any], child: Dict[str, Any], label: str, with_spans: bool = True) -> Dict[str, Any]:
    relation = {"head": head["token_end"], "child": child["token_end"], "label": label}
    if with_spans:
        relation.update(head_span=head, child_span=child, color="#c5bdf4")
    return relation


def task_of(words, spans, relations, answer: Optional[str] = "accept", **extra) -> Dict[str, Any]:
    tokens = tokens_of(words)
    task = {
        "text": " ".join(words),
        "_input_hash": 123,
        "_task_hash": 456,
        "tokens": tokens,
        "spans": spans,
        "relations": relations,
        "_view_id": "relations",
        **extra,
    }
    if answer is not None:
        task["answer"] = answer
    return copy.deepcopy(task)  # tests mutate tasks; the module's spans stay as they are


# "Anna Smith visited New York City ." with the overlapping spans "New York City" (GPE)
# and "York City" (LOC), which end on the same token: the relations name them by
# head_span / child_span.
WORDS_A = ["Anna", "Smith", "visited", "New", "York", "City", "."]
TOKENS_A = tokens_of(WORDS_A)
ANNA = span_of(TOKENS_A, 0, 1, "PERSON")
NYC = span_of(TOKENS_A, 3, 5, "GPE")
YORK_CITY = span_of(TOKENS_A, 4, 5, "LOC")
# "the red circle is above the blue square": relations without head_span / child_span
WORDS_B = ["the", "red", "circle", "is", "above", "the", "blue", "square"]
TOKENS_B = tokens_of(WORDS_B)
RED_CIRCLE = span_of(TOKENS_B, 1, 2, "SHAPE")
BLUE_SQUARE = span_of(TOKENS_B, 6, 7, "SHAPE")
PNG_RED = encode_png(solid_image((255, 0, 0), 8))
PNG_BLUE = encode_png(solid_image((0, 0, 255), 8))


def task_a(**extra) -> Dict[str, Any]:
    relations = [relation_of(ANNA, NYC, "visited"), relation_of(YORK_CITY, ANNA, "home_of")]
    return task_of(WORDS_A, [ANNA, NYC, YORK_CITY], relations, image="img/a.png", **extra)


def task_b(**extra) -> Dict[str, Any]:
    image = "data:image/png;base64," + base64.b64encode(PNG_RED).decode()
    relations = [relation_of(RED_CIRCLE, BLUE_SQUARE, "above", with_spans=False)]
    return task_of(WORDS_B, [RED_CIRCLE, BLUE_SQUARE], relations, image=image, **extra)


@pytest.fixture
def annotations(tmp_path) -> Path:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG_BLUE)
    rejected = task_of(WORDS_B, [RED_CIRCLE], [], answer="reject")
    ignored = task_of(["just", "text"], [], [], answer="ignore")
    return write_jsonl(tmp_path / "rel.jsonl", [task_a(), rejected, "", task_b(), ignored])


def spans_of(doc, key: str = "entities") -> List[Tuple[int, int, str]]:
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


def labels_of(doc) -> Dict[Tuple[Tuple[int, int], Tuple[int, int]], str]:
    return {record_key(r): r["label"] for r in doc._.relations}


# -- convert ---------------------------------------------------------------------------


def test_convert_keeps_tokens_spans_and_relations(annotations, tmp_path):
    output = tmp_path / "out" / "train.spacy"
    stats = convert_prodigy(annotations, output, progress=False)
    doc_a, doc_b = read_docbin(output, BLANK.vocab)
    assert [t.text for t in doc_a] == WORDS_A and doc_a.text == "Anna Smith visited New York City ."
    assert spans_of(doc_a) == [(0, 2, "PERSON"), (3, 6, "GPE"), (4, 6, "LOC")]
    assert doc_a.ents == ()  # overlapping: span group only
    assert [(e.start, e.end, e.label_) for e in doc_b.ents] == [(1, 3, "SHAPE"), (6, 8, "SHAPE")]
    assert labels_of(doc_a) == {
        ((0, 2), (3, 6)): "visited", ((4, 6), (0, 2)): "home_of",
        ((3, 6), (0, 2)): "None", ((0, 2), (4, 6)): "None",
        ((3, 6), (4, 6)): "None", ((4, 6), (3, 6)): "None",
    }
    assert labels_of(doc_b) == {((1, 3), (6, 8)): "above", ((6, 8), (1, 3)): "None"}
    assert all(r["score"] == 1.0 and r["alternatives"] == [] for r in doc_a._.relations)
    assert stats["n_docs"] == 2 and stats["n_lines"] == 4
    assert stats["answers"] == {"accept": 2, "ignore": 1, "reject": 1}
    assert stats["n_not_accepted"] == 2
    assert stats["n_spans"] == 5 and stats["n_relations"] == 3 and stats["n_records"] == 8
    assert stats["n_overlapping_docs"] == 1 and stats["errors"] == []
    assert stats["labels"] == {"None": 5, "above": 1, "home_of": 1, "visited": 1}


def test_convert_keeps_prodigy_whitespace(tmp_path):
    tokens = tokens_of(["Hi", ",", "Bo", "!"], ws=[False, True, False, False])
    task = {"tokens": tokens, "spans": [span_of(tokens, 2, 2, "PERSON")], "relations": [], "answer": "accept"}
    docs, _ = prodigy_to_docs(write_jsonl(tmp_path / "x.jsonl", [task]))
    assert docs[0].text == "Hi, Bo!" and [t.text for t in docs[0]] == ["Hi", ",", "Bo", "!"]
    assert docs[0]._.relations == []  # one span: no pair


def test_none_label(annotations):
    docs, stats = prodigy_to_docs(annotations, none_label="NO_REL")
    assert labels_of(docs[1]) == {((1, 3), (6, 8)): "above", ((6, 8), (1, 3)): "NO_REL"}
    assert "None" not in stats["labels"] and stats["labels"]["NO_REL"] == 5


def test_images(annotations, tmp_path):
    docs, stats = prodigy_to_docs(annotations)
    assert docs[0]._.image == str(tmp_path / "img" / "a.png")
    assert docs[1]._.image == PNG_RED
    assert stats["n_image_paths"] == 1 and stats["n_image_bytes"] == 1
    assert stats["n_missing_images"] == 0
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.warns(UserWarning, match="ROC_W111"):
        docs, stats = prodigy_to_docs(annotations, images_dir=other)
    assert docs[0]._.image == str(other.absolute() / "img" / "a.png")
    assert stats["n_missing_images"] == 1 and stats["missing_images"] == [docs[0]._.image]


def test_task_images_follow_the_codec_rule(tmp_path):
    values = [base64.b64encode(PNG_RED).decode(), "/abs/cat.jpg", "https://example.com/cat.jpg", "cats/1.jpg", None, ""]
    tasks = [dict(task_b(), image=value) for value in values]
    with pytest.warns(UserWarning, match=r"ROC_W111\] 2 of 3 image path"):
        docs, stats = prodigy_to_docs(write_jsonl(tmp_path / "x.jsonl", tasks))
    expected = [PNG_RED, "/abs/cat.jpg", "https://example.com/cat.jpg", str(tmp_path / "cats" / "1.jpg"), None, None]
    assert [doc._.image for doc in docs] == expected
    assert stats["n_image_paths"] == 3 and stats["n_image_bytes"] == 1
    assert stats["missing_images"] == ["/abs/cat.jpg", str(tmp_path / "cats" / "1.jpg")]  # URLs are not checked


def test_relation_names_span_by_head_span(tmp_path):
    tokens = tokens_of(WORDS_B)
    given = span_of(tokens, 4, 4, None)  # "above": drawn in the UI, never annotated as a span
    relation = relation_of(given, BLUE_SQUARE, "near")
    task = task_of(WORDS_B, [RED_CIRCLE, BLUE_SQUARE], [relation])
    docs, stats = prodigy_to_docs(write_jsonl(tmp_path / "x.jsonl", [task]))
    assert spans_of(docs[0]) == [(1, 3, "SHAPE"), (4, 5, "ENTITY"), (6, 8, "SHAPE")]
    assert labels_of(docs[0])[((4, 5), (6, 8))] == "near"
    assert len(docs[0]._.relations) == 6
    assert stats["n_spans_from_relations"] == 1 and stats["n_spans"] == 3


def _malformed(mutate) -> Dict[str, Any]:
    task = task_a()
    mutate(task)
    return task


MALFORMED = {
    "missing tokens": (lambda t: t.pop("tokens"), "'tokens' must be a non-empty list"),
    "token without ws": (lambda t: t["tokens"][2].pop("ws"), "token 2 must have a boolean 'ws'"),
    "token id": (lambda t: t["tokens"][3].update(id=7), "token 3 has 'id' 7"),
    "span past the tokens": (lambda t: t["spans"][1].update(token_end=7), "span 1 tokens 3-7"),
    "span end before start": (lambda t: t["spans"][0].update(token_start=2), "span 0 tokens 2-1"),
    "span without label": (lambda t: t["spans"][0].pop("label"), "span 0 [0, 2] has no label"),
    "span with two labels": (
        lambda t: t["spans"].append(dict(ANNA, label="ORG")), "has two labels, 'PERSON' and 'ORG'"
    ),
    "relation head not a token": (lambda t: t["relations"][0].update(head=9), "relation 0 head 9 is not a token index"),
    "relation at no span": (
        lambda t: t["relations"][0].update(head=2, head_span=None),
        "head token 2 is the last token of no annotated span",
    ),
    "ambiguous child": (
        lambda t: t["relations"][0].pop("child_span"), "child token 5 is the last token of 2 overlapping spans"
    ),
    "head_span disagrees": (
        lambda t: t["relations"][0].update(head=0), "head 0 is not the last token of its head_span"
    ),
    "relation to itself": (
        lambda t: t["relations"][0].update(child=1, child_span=ANNA), "joins the span [0, 2] to itself"
    ),
    "pair with two labels": (
        lambda t: t["relations"].append(relation_of(ANNA, NYC, "lives_in")),
        "another relation joins them with 'visited'",
    ),
    "broken data URI": (lambda t: t.update(image="data:image/png;base64,@@@"), "'image' is a data URI whose payload does not decode as base64"),
    "image not a string": (lambda t: t.update(image=["a.png"]), "'image' is a list, not a path"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_task_raises_with_line_number(tmp_path, name):
    mutate, reason = MALFORMED[name]
    path = write_jsonl(tmp_path / "x.jsonl", [task_b(), "", _malformed(mutate)])
    with pytest.raises(ValueError, match=r"ROC_E110\] Malformed Prodigy task on line 3 ") as err:
        prodigy_to_docs(path)
    assert reason in str(err.value)


def test_malformed_json_raises(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [task_b(), '{"tokens": [', "[1, 2]"])
    with pytest.raises(ValueError, match="ROC_E110.*line 2.*not JSON"):
        prodigy_to_docs(path)
    path = write_jsonl(tmp_path / "x.jsonl", [task_b(), "[1, 2]"])
    with pytest.raises(ValueError, match="ROC_E110.*line 2.*expected a JSON object, got list"):
        prodigy_to_docs(path)


def test_rejected_tasks_are_not_checked(tmp_path):
    broken = _malformed(lambda t: t.pop("tokens"))
    broken["answer"] = "reject"
    docs, stats = prodigy_to_docs(write_jsonl(tmp_path / "x.jsonl", [broken, task_b()]))
    assert len(docs) == 1 and stats["answers"] == {"accept": 1, "reject": 1} and stats["errors"] == []


def test_skip_reports_line_numbers(tmp_path):
    bad_span = _malformed(MALFORMED["span past the tokens"][0])
    no_span = _malformed(MALFORMED["relation at no span"][0])
    path = write_jsonl(tmp_path / "x.jsonl", [task_a(), bad_span, task_b(), "", "not json", no_span])
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG_BLUE)
    with pytest.warns(UserWarning, match=r"ROC_W110\] Skipped 3 malformed Prodigy task\(s\)"):
        docs, stats = prodigy_to_docs(path, on_error="skip")
    assert [spans_of(doc)[0] for doc in docs] == [(0, 2, "PERSON"), (1, 3, "SHAPE")]
    assert [no for no, _ in stats["errors"]] == [2, 5, 6]
    assert "span 1 tokens 3-7" in stats["errors"][0][1] and "not JSON" in stats["errors"][1][1]
    assert stats["n_docs"] == 2 and stats["n_lines"] == 5


def test_bad_arguments(annotations, tmp_path):
    with pytest.raises(ValueError, match="ROC_E101"):
        prodigy_to_docs(annotations, on_error="ignore")
    with pytest.raises(ValueError, match="ROC_E102"):
        prodigy_to_docs(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="ROC_E103"):
        prodigy_to_docs(annotations, images_dir=tmp_path / "no_such_dir")


def test_unanswered_tasks_warn(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [task_b(answer=None), task_b(answer=None)])
    with pytest.warns(UserWarning, match=r"ROC_W112\] 2 task\(s\).*first on line 1"):
        docs, stats = prodigy_to_docs(path)
    assert docs == [] and stats["answers"] == {"(none)": 2} and stats["n_not_accepted"] == 2


# -- export ----------------------------------------------------------------------------


def _doc_with_relations(spans_key_only: bool = False):
    doc = make_doc(BLANK, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE"), (3, 5, "SHAPE")], [])
    doc._.relations = [make_record((0, 1), (3, 5), "drew", 0.9), make_record((0, 1), (2, 5), "None", 0.8)]
    return doc


def test_doc_to_task():
    doc = _doc_with_relations()
    task = doc_to_task(doc, "entities", "None")
    assert task["text"] == doc.text and "answer" not in task and "image" not in task
    assert task["tokens"][3] == {"text": "red", "start": 14, "end": 17, "id": 3, "ws": True}
    assert task["tokens"][4]["ws"] is False
    assert [(s["token_start"], s["token_end"], s["label"]) for s in task["spans"]] == [
        (0, 0, "PERSON"), (2, 4, "SHAPE"), (3, 4, "SHAPE")
    ]
    assert task["spans"][1]["start"] == 10 and task["spans"][1]["end"] == 24
    assert task["relations"] == [{
        "head": 0, "child": 4, "label": "drew",
        "head_span": {"start": 0, "end": 4, "token_start": 0, "token_end": 0, "label": "PERSON"},
        "child_span": {"start": 14, "end": 24, "token_start": 3, "token_end": 4, "label": "SHAPE"},
    }]
    doc.ents = [Span(doc, 0, 1, label="PERSON")]  # spans_key None: the entities are doc.ents
    assert [s["label"] for s in doc_to_task(doc, None)["spans"]] == ["PERSON"]


def test_exported_task_converts_back(tmp_path):
    doc = _doc_with_relations()
    task = dict(doc_to_task(doc, "entities"), answer="accept", image=image_to_json(PNG_RED))
    docs, _ = prodigy_to_docs(write_jsonl(tmp_path / "x.jsonl", [task]))
    assert spans_of(docs[0]) == spans_of(doc)
    assert labels_of(docs[0])[((0, 1), (3, 5))] == "drew"
    assert {label for key, label in labels_of(docs[0]).items() if key != ((0, 1), (3, 5))} == {"None"}
    assert docs[0]._.image == PNG_RED


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    nlp, examples, path = trained
    folder = tmp_path_factory.mktemp("prodigy_export")
    data = folder / "data.spacy"
    write_docbin([eg.reference for eg in examples], data)
    output = folder / "tasks.jsonl"
    stats = export_prodigy(path, data, output)
    return stats, list(srsly.read_jsonl(output)), folder


def relations_in(task: Dict[str, Any]) -> Dict[Tuple[Tuple[int, int], Tuple[int, int]], str]:
    """{(head, tail): label} of a task's relations, in token offsets (end exclusive)."""
    return {
        ((r["head_span"]["token_start"], r["head"] + 1), (r["child_span"]["token_start"], r["child"] + 1)): r["label"]
        for r in task["relations"]
    }


def test_export_writes_predictions(trained, exported):
    nlp, examples, _ = trained
    stats, tasks, _ = exported
    predictions = [{record_key(r): r["label"] for r in doc._.relations} for doc in nlp.pipe(fresh_docs(examples))]
    assert len(tasks) == len(examples) == stats["n_docs"]
    for task, pred, eg in zip(tasks, predictions, examples):
        assert "answer" not in task and task["text"] == eg.reference.text
        spans = [(s["token_start"], s["token_end"] + 1, s["label"]) for s in task["spans"]]
        assert spans == sorted(spans_of(eg.reference))
        assert relations_in(task) == {key: label for key, label in pred.items() if label != "None"}
    # the overlapping doc: two predicted relations whose tails end on the same token
    assert [r["child"] for r in tasks[4]["relations"]].count(4) == 2
    assert stats["n_relations"] == sum(len(t["relations"]) for t in tasks) > 0
    assert stats["n_image_data"] == len(tasks) and stats["n_image_paths"] == 0


def test_export_round_trip(trained, exported, tmp_path):
    _, examples, _ = trained
    _, tasks, _ = exported
    accepted = [dict(task, answer="accept") for task in tasks]  # as Prodigy's db-out writes them
    docs, stats = prodigy_to_docs(write_jsonl(tmp_path / "db_out.jsonl", accepted))
    assert stats["n_docs"] == len(examples) and stats["errors"] == []
    for doc, task, eg in zip(docs, tasks, examples):
        assert [t.text for t in doc] == [t.text for t in eg.reference]
        assert spans_of(doc) == sorted(spans_of(eg.reference))
        related = {k: v for k, v in labels_of(doc).items() if v != "None"}
        assert related == relations_in(task)
        n = len(doc.spans["entities"])
        assert len(doc._.relations) == n * (n - 1)
        image = numpy.asarray(Image.open(io.BytesIO(doc._.image)))
        assert (image == eg.reference._.image).all()


def test_export_of_unlabelled_docs_scores_the_candidates(trained, tmp_path):
    nlp, examples, path = trained
    unlabelled = [eg.reference.copy() for eg in examples]
    for doc in unlabelled:
        doc._.relations = []  # no gold pairs: the pipeline's candidates propose them
    write_docbin(unlabelled, tmp_path / "data.spacy")
    stats = export_prodigy(path, tmp_path / "data.spacy", tmp_path / "tasks.jsonl")
    tasks = list(srsly.read_jsonl(tmp_path / "tasks.jsonl"))
    predictions = [{record_key(r): r["label"] for r in doc._.relations} for doc in nlp.pipe(fresh_docs(examples))]
    assert [relations_in(task) for task in tasks] == [{k: v for k, v in pred.items() if v != "None"} for pred in predictions]
    assert stats["n_relations"] > 0


def test_export_without_docs_or_pipe(trained, tmp_path):
    _, _, path = trained
    empty = tmp_path / "empty.spacy"
    write_docbin([], empty)
    with pytest.raises(ValueError, match="ROC_E111"):
        export_prodigy(path, empty, tmp_path / "out.jsonl")
    blank = tmp_path / "blank"
    spacy.blank("en").to_disk(blank)
    with pytest.raises(ValueError, match="ROC_E200"):
        export_prodigy(blank, empty, tmp_path / "out.jsonl")


def test_images_that_cannot_be_exported_warn(trained):
    from spacy_roc.commands.export import predictions_to_tasks

    nlp, examples, _ = trained
    docs = fresh_docs(examples)[:2]
    docs[1]._.image = numpy.zeros((4, 4, 3), dtype="float32")  # not uint8: unreadable (ROC_E023)
    with pytest.warns(UserWarning) as record:
        tasks, _ = predictions_to_tasks(nlp, docs)
    messages = [str(w.message) for w in record]
    assert any("ROC_W113" in m and "1 doc(s)" in m and "ROC_E023" in m for m in messages), messages
    assert any("ROC_W002" in m for m in messages)  # the component read it text-only
    assert len(tasks) == 2 and tasks[0]["image"].startswith("data:image/png;base64,") and "image" not in tasks[1]


# -- CLI ---------------------------------------------------------------------------------


def test_cli_convert(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG_BLUE)
    bad = _malformed(MALFORMED["relation at no span"][0])
    path = write_jsonl(tmp_path / "x.jsonl", [task_a(), bad, task_b()])
    output = tmp_path / "out.spacy"
    runner = CliRunner()
    args = ["convert", "prodigy", str(path), str(output), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "ROC_E110" in result.output and "line 2" in result.output
    assert not output.exists()
    result = runner.invoke(app, args + ["--on-error", "skip", "--none-label", "NA"])
    assert result.exit_code == 0, result.output
    assert "Skipped line 2" in result.output and "Wrote 2 docs (8 relation records)" in result.output
    docs = read_docbin(output, BLANK.vocab)
    assert [len(doc.spans["entities"]) for doc in docs] == [3, 2]
    assert labels_of(docs[1])[((6, 8), (1, 3))] == "NA"


def test_cli_export(trained, exported, tmp_path):
    _, _, path = trained
    _, tasks, folder = exported
    output = tmp_path / "cli" / "tasks.jsonl"
    result = CliRunner().invoke(app, ["export", "prodigy", str(path), str(folder / "data.spacy"), str(output)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {len(tasks)} tasks" in result.output
    assert list(srsly.read_jsonl(output)) == tasks
    args = ["export", "prodigy", str(tmp_path / "no_model"), str(folder / "data.spacy"), str(output)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Export failed" in result.output
