"""The evaluation report: metrics JSON, per-label table, confusion PNG, CLI."""
import json
import re
import shutil
import warnings

import numpy
import pytest
import spacy
from PIL import Image
from spacy.tokens import DocBin
from spacy.training import Example
from typer.testing import CliRunner

from conftest import BLANK, BLUE, CORPUS, GREEN, PERSON_SHAPE, RED, make_doc, solid_image
from spacy_roc.commands.cli import app
from spacy_roc.formats.corpus import RelationCorpus
from spacy_roc.commands.evaluate import (
    confusion_matrix,
    evaluate_pipeline,
    evaluate_to_dir,
    matrix_labels,
    write_report,
)
from spacy_roc.scorer import score_relations

# "likes" is unknown to the model: its pair must be a false negative.
EXTRA = ("anna likes the blue circle", PERSON_SHAPE, [(0, 1, "likes")], BLUE)
IMAGE_FILES = {RED: "red.png", BLUE: "blue.png", GREEN: "green.png"}
N_DOCS = len(CORPUS) + 1


@pytest.fixture(scope="module")
def setup(trained, tmp_path_factory):
    """The trained pipeline on disk, and a .spacy corpus of its data plus a doc with
    an unknown label, with image files."""
    root = tmp_path_factory.mktemp("report")
    images = root / "images"
    images.mkdir()
    for rgb, name in IMAGE_FILES.items():
        Image.fromarray(solid_image(rgb)).save(images / name)
    db = DocBin(store_user_data=True)
    for text, ents, relations, rgb in [*CORPUS, EXTRA]:
        db.add(make_doc(BLANK, text, ents, relations, image=IMAGE_FILES[rgb], all_pairs=True))
    db.to_disk(root / "test.spacy")
    shutil.copytree(trained[2], root / "model")
    return root


@pytest.fixture(scope="module")
def nlp(setup):
    return spacy.load(setup / "model")


def read_examples(setup, nlp):
    corpus = RelationCorpus(setup / "test.spacy", images_dir=setup / "images")
    return list(corpus(nlp))


def table_rows(text):
    """{label: [support, predicted, P, R, F]} from the per-label Markdown table."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `(.+?)` \| (\d+) \| (\d+) \|", line)
        if match:
            rows[match.group(1)] = [int(match.group(2)), int(match.group(3))]
    return rows


def test_evaluate_pipeline_matches_scorer(setup, nlp):
    examples = read_examples(setup, nlp)
    scores, pairs = evaluate_pipeline(nlp, examples, batch_size=2)
    # Independently: annotate fresh copies and score them.
    docs = [nlp(eg.predicted.copy()) for eg in examples]
    expected = score_relations([Example(d, eg.reference) for d, eg in zip(docs, examples)])
    per_type = expected.pop("rel_f_per_type")
    assert {k: scores[k] for k in expected} == pytest.approx(expected)
    assert scores["rel_f_per_type"].keys() == per_type.keys()
    for label, prf in per_type.items():
        assert scores["rel_f_per_type"][label] == pytest.approx(prf)
    assert scores["n_docs"] == N_DOCS
    assert scores["n_pairs"] == len(pairs) >= 10
    assert scores["docs_per_second"] > 0
    assert [g for g, _ in pairs].count("likes") == 1  # unknown to the model: never right
    # The examples were not annotated.
    assert all(eg.predicted._.relations == [] for eg in examples)


def test_confusion_matrix():
    pairs = [("a", "a"), ("a", "b"), ("None", "None"), ("x", "None"), ("b", "b")]
    labels = ["None", "a", "b"]
    assert matrix_labels(pairs, labels) == ["None", "a", "b", "x"]
    matrix = confusion_matrix(pairs, labels)
    assert matrix.shape == (4, 4)
    assert matrix.sum() == len(pairs)
    assert matrix[1, 1] == 1 and matrix[1, 2] == 1 and matrix[3, 0] == 1
    assert numpy.trace(matrix) == 3


def test_write_report_empty(tmp_path):
    scores = score_relations([])
    scores.update({"n_docs": 0, "n_pairs": 0, "docs_per_second": None})
    paths = write_report(tmp_path, scores, [], ["None", "drew"])
    assert json.loads(paths["json"].read_text())["rel_acc"] is None
    Image.open(paths["png"]).verify()


def test_evaluate_to_dir(setup, tmp_path):
    out = tmp_path / "report"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_to_dir(
            setup / "model", setup / "test.spacy", out, images_dir=setup / "images", text_only_too=True
        )
    assert any("[ROC_W001]" in str(w.message) for w in caught)
    assert result["images_used"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    # JSON equals the scores computed independently on the same predictions.
    nlp = spacy.load(setup / "model")
    examples = read_examples(setup, nlp)
    docs = [nlp(eg.predicted.copy()) for eg in examples]
    expected = score_relations([Example(d, eg.reference) for d, eg in zip(docs, examples)])
    for key in ("rel_acc", "rel_micro_p", "rel_micro_r", "rel_micro_f"):
        assert metrics[key] == pytest.approx(expected[key])
        assert result[key] == pytest.approx(expected[key])
    assert metrics["rel_f_per_type"].keys() == expected["rel_f_per_type"].keys()
    for label, prf in expected["rel_f_per_type"].items():
        assert metrics["rel_f_per_type"][label] == pytest.approx(prf)
    # Confusion matrix: sums to n_pairs, diagonal share is the accuracy.
    _, pairs = evaluate_pipeline(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    matrix = confusion_matrix(pairs, pipe.labels)
    assert matrix.sum() == metrics["n_pairs"]
    assert numpy.trace(matrix) / metrics["n_pairs"] == pytest.approx(metrics["rel_acc"])
    # Per-label table: every gold label with its support.
    gold_counts = {}
    for eg in examples:
        for record in eg.reference._.relations:
            gold_counts[record["label"]] = gold_counts.get(record["label"], 0) + 1
    rows = table_rows((out / "metrics_per_label.md").read_text())
    for label, count in gold_counts.items():
        assert rows[label][0] == count
    assert sum(row[1] for row in rows.values()) == metrics["n_pairs"]
    assert "likes" in rows and "likes" not in pipe.labels
    text = (out / "metrics_per_label.md").read_text()
    assert "With image vs text-only" in text and "Accuracy:" in text and "**micro**" in text
    # PNGs are valid.
    for name in ("metrics", "metrics_text_only"):
        with Image.open(out / f"{name}_confusion.png") as image:
            assert image.format == "PNG"
            image.verify()
    # Text-only run: its own files and scores.
    text_only = json.loads((out / "metrics_text_only.json").read_text())
    assert (out / "metrics_text_only_per_label.md").exists()
    assert text_only["n_pairs"] >= text_only["n_docs"] == N_DOCS
    assert result["text_only"]["rel_acc"] == pytest.approx(text_only["rel_acc"])


def test_text_only_does_not_mutate_examples(setup, nlp):
    examples = read_examples(setup, nlp)
    images = [eg.predicted._.image for eg in examples]
    with pytest.warns(UserWarning, match=r"\[ROC_W001\]"):
        evaluate_pipeline(nlp, examples, text_only=True)
    assert [eg.predicted._.image for eg in examples] == images
    assert all(image is not None for image in images)
    assert all(eg.predicted._.relations == [] for eg in examples)


@pytest.mark.filterwarnings("ignore:.*ROC_W001")
def test_cli_evaluate(setup, tmp_path):
    out = tmp_path / "cli"
    args = [
        "evaluate",
        str(setup / "model"),
        str(setup / "test.spacy"),
        str(out),
        "--images-dir",
        str(setup / "images"),
        "--text-only-too",
        "--batch-size",
        "2",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Acc" in result.output and "text-only" in result.output
    for name in ("metrics.json", "metrics_per_label.md", "metrics_confusion.png", "metrics_text_only.json"):
        assert (out / name).exists()


def test_cli_evaluate_no_relation_pipe(tmp_path, setup):
    spacy.blank("en").to_disk(tmp_path / "blank")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "blank"), str(setup / "test.spacy"), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "ROC_E200" in result.output


def test_cli_evaluate_empty_corpus(tmp_path, setup):
    DocBin().to_disk(tmp_path / "empty.spacy")
    result = CliRunner().invoke(app, ["evaluate", str(setup / "model"), str(tmp_path / "empty.spacy"), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "ROC_E201" in result.output and not (tmp_path / "o" / "metrics.json").exists()


def test_missing_images_folder_evaluates_text_only(setup, tmp_path):
    """A folder that does not exist (MNRE without its images): warned once, then the
    same scores as the run with the images withheld."""
    missing = tmp_path / "no_such_folder"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_to_dir(setup / "model", setup / "test.spacy", tmp_path / "out", images_dir=missing)
    assert sum("[ROC_W009]" in str(w.message) for w in caught) == 1
    assert result["images_used"] is False
    assert not any("[ROC_W002]" in str(w.message) for w in caught)  # no per-image failures
    nlp = spacy.load(setup / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, _ = evaluate_pipeline(nlp, read_examples(setup, nlp), text_only=True)
    for key in ("rel_acc", "rel_micro_p", "rel_micro_r", "rel_micro_f"):
        assert result[key] == pytest.approx(expected[key])

    cli = CliRunner().invoke(
        app, ["evaluate", str(setup / "model"), str(setup / "test.spacy"), str(tmp_path / "cli"), "--images-dir", str(missing)]
    )
    assert cli.exit_code == 0, cli.output
    assert "text-only" in cli.output and "with image" not in cli.output
