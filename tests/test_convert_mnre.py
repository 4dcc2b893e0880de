"""Tests of the MNRE converter (spacy_roc.formats.mnre) and its CLI command."""
import ast
import json
from collections import Counter
from pathlib import Path

import pytest
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from conftest import BLANK, read_docs
from spacy_roc.commands.cli import app
from spacy_roc.formats.docbin import read_docbin
from spacy_roc.formats.mnre import ENTITY_LABEL, SPANS_KEY, convert_mnre, mnre_to_docs
from spacy_roc.formats.mnre import MNRELineError, has_overlapping_mentions, parse_mnre_line
from spacy_roc.extensions import record_key, validate_record

MNRE_DIR = Path(__file__).parents[2] / "shared" / "data" / "mnre"
EXPECTED = {
    "train": {"n_instances": 12247, "n_docs": 7356, "n_overlapping_docs": 59},
    "val": {"n_instances": 1624, "n_docs": 931, "n_overlapping_docs": 3},
}

LINE_A1 = (
    "{'token': ['Anna', 'Smith', 'joined', 'Acme', 'Corp', 'in', 'Paris'], "
    "'h': {'name': 'Anna Smith', 'pos': [0, 2]}, 't': {'name': 'Acme Corp', 'pos': [3, 5]}, "
    "'img_id': 'a.jpg', 'relation': '/per/org/member_of'}"
)
LINE_A2 = (
    "{'token': ['Anna', 'Smith', 'joined', 'Acme', 'Corp', 'in', 'Paris'], "
    "'h': {'name': 'Paris', 'pos': [6, 7]}, 't': {'name': 'Anna Smith', 'pos': [0, 2]}, "
    "'img_id': 'a.jpg', 'relation': 'None'}"
)
LINE_B = (
    "{'token': ['Bob', 'Lee', 'met', 'Lee'], 'h': {'name': 'Bob Lee', 'pos': [0, 2]}, "
    "'t': {'name': 'Lee', 'pos': [1, 2]}, 'img_id': 'b.jpg', 'relation': '/per/per/alumi'}"
)
BROKEN = "{'token': ['oops', 'h': {'name': 'x'"


def _write(path: Path, lines) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path



def _raw_instances(path: Path):
    with path.open(encoding="utf8") as file_:
        return [ast.literal_eval(line) for line in file_ if line.strip()]


@pytest.fixture(scope="module", params=["train", "val"])
def converted(request, tmp_path_factory):
    source = MNRE_DIR / f"mnre_{request.param}.txt"
    if not source.is_file():
        pytest.skip(f"MNRE data not found at {source}")
    output = tmp_path_factory.mktemp("mnre") / f"{request.param}.spacy"
    stats = convert_mnre(source, output, progress=False)
    return request.param, source, stats, read_docs(output)


def test_counts(converted):
    split, _, stats, docs = converted
    expected = EXPECTED[split]
    assert stats["n_lines"] == stats["n_instances"] == expected["n_instances"]
    assert stats["n_docs"] == len(docs) == expected["n_docs"]
    assert stats["n_overlapping_docs"] == expected["n_overlapping_docs"]
    assert sum(has_overlapping_mentions(doc) for doc in docs) == expected["n_overlapping_docs"]
    assert sum(len(doc._.relations) for doc in docs) == expected["n_instances"]
    assert stats["errors"] == [] and stats["n_name_mismatches"] == 0
    assert stats["n_missing_images"] is None


def test_label_counts(converted):
    split, _, stats, docs = converted
    label_counts = json.loads((MNRE_DIR / "label_counts.json").read_text(encoding="utf8"))
    expected = label_counts["mnre_v2"]["splits"][split]["labels"]
    expected = {label: n for label, n in expected.items() if n}
    assert stats["labels"] == expected
    assert Counter(r["label"] for doc in docs for r in doc._.relations) == Counter(expected)
    rel2id = json.loads((MNRE_DIR / "ours_rel2id.json").read_text(encoding="utf8"))
    assert set(stats["labels"]) <= set(rel2id)
    assert "/per/per/alumi" in stats["labels"]  # misspelling kept


def test_every_instance_present_with_direction(converted):
    _, source, _, docs = converted
    raw = Counter(
        (tuple(inst["token"]), inst["img_id"], tuple(inst["h"]["pos"]), tuple(inst["t"]["pos"]),
         inst["relation"])
        for inst in _raw_instances(source)
    )
    ours = Counter(
        (tuple(t.text for t in doc), doc._.image) + record_key(r) + (r["label"],)
        for doc in docs
        for r in doc._.relations
    )
    assert ours == raw


def test_spans_and_records(converted):
    _, source, _, docs = converted
    names = {}
    for inst in _raw_instances(source):
        for key in ("h", "t"):
            where = (tuple(inst["token"]), inst["img_id"], tuple(inst[key]["pos"]))
            names[where] = inst[key]["name"]
    for doc in docs:
        assert doc.text == " ".join(t.text for t in doc)
        assert isinstance(doc._.image, str)
        mentions = {(s.start, s.end) for s in doc.spans[SPANS_KEY]}
        assert {s.label_ for s in doc.spans[SPANS_KEY]} == {ENTITY_LABEL}
        words = tuple(t.text for t in doc)
        for record in doc._.relations:
            head, tail = validate_record(doc, record)
            assert head in mentions and tail in mentions
            assert record["score"] == 1.0
            for offsets in (head, tail):
                assert doc[offsets[0] : offsets[1]].text == names[(words, doc._.image, offsets)]
        assert mentions == {o for r in doc._.relations for o in record_key(r)}


def test_overlapping_mentions_kept(converted):
    _, _, _, docs = converted
    overlapping = [doc for doc in docs if has_overlapping_mentions(doc)]
    assert overlapping
    for doc in overlapping:
        spans = sorted(doc.spans[SPANS_KEY], key=lambda s: (s.start, s.end))
        assert len(spans) == len({(s.start, s.end) for s in spans})


def test_grouping_does_not_rely_on_order(tmp_path):
    path = _write(tmp_path / "x.txt", [LINE_A1, LINE_B, LINE_A2])
    docs, stats = mnre_to_docs(path)
    assert stats["n_docs"] == 2 and stats["n_instances"] == 3
    assert [len(doc._.relations) for doc in docs] == [2, 1]
    assert [r["label"] for r in docs[0]._.relations] == ["/per/org/member_of", "None"]
    assert record_key(docs[0]._.relations[1]) == ((6, 7), (0, 2))  # direction kept
    assert [(s.start, s.end) for s in docs[0].spans[SPANS_KEY]] == [(0, 2), (3, 5), (6, 7)]
    assert stats["n_overlapping_docs"] == 1  # "Bob Lee" / "Lee"
    same_words_other_image = LINE_A1.replace("'a.jpg'", "'c.jpg'")
    path = _write(tmp_path / "y.txt", [LINE_A1, same_words_other_image])
    assert mnre_to_docs(path)[1]["n_docs"] == 2


def test_malformed_line_raise(tmp_path):
    path = _write(tmp_path / "bad.txt", [LINE_A1, "", BROKEN, LINE_B])
    with pytest.raises(ValueError, match=r"ROC_E100.*line 3"):
        convert_mnre(path, tmp_path / "out.spacy", progress=False)
    assert not (tmp_path / "out.spacy").exists()


def test_malformed_line_skip(tmp_path):
    path = _write(tmp_path / "bad.txt", [LINE_A1, "", BROKEN, LINE_B, "[1, 2]"])
    with pytest.warns(UserWarning, match="ROC_W100"):
        stats = convert_mnre(path, tmp_path / "out.spacy", on_error="skip", progress=False)
    assert [line_no for line_no, _ in stats["errors"]] == [3, 5]
    assert "expected a dict" in stats["errors"][1][1]
    assert stats["n_lines"] == 4 and stats["n_instances"] == 2 and stats["n_docs"] == 2
    assert len(read_docs(tmp_path / "out.spacy")) == 2


@pytest.mark.parametrize(
    "line,reason",
    [
        (LINE_B.replace("'relation': '/per/per/alumi'", "'rel': 'x'"), "missing key"),
        (LINE_B.replace("[1, 2]", "[3, 9]"), "outside"),
        (LINE_B.replace("[1, 2]", "[0, 2]"), "same span"),
        (LINE_B.replace("[1, 2]", "['1', 2]"), "integers"),
        (LINE_B.replace("'Bob', ", "'', "), "non-empty strings"),
        ("not python", "not a Python literal"),
    ],
)
def test_parse_errors(line, reason):
    with pytest.raises(MNRELineError, match=reason):
        parse_mnre_line(line)


def test_on_error_value(tmp_path):
    path = _write(tmp_path / "x.txt", [LINE_A1])
    with pytest.raises(ValueError, match="ROC_E101"):
        mnre_to_docs(path, on_error="ignore")


def test_missing_images(tmp_path):
    path = _write(tmp_path / "x.txt", [LINE_A1, LINE_A2, LINE_B])
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not really a jpeg")
    with pytest.warns(UserWarning, match="ROC_W101"):
        stats = convert_mnre(path, tmp_path / "out.spacy", images_dir=images, progress=False)
    assert stats["n_missing_images"] == 1 and stats["missing_images"] == ["b.jpg"]
    docs = read_docs(tmp_path / "out.spacy")
    assert [doc._.image for doc in docs] == ["a.jpg", "b.jpg"]  # missing: still usable
    with pytest.raises(ValueError, match="ROC_E103"):
        convert_mnre(path, tmp_path / "o.spacy", images_dir=tmp_path / "nope", progress=False)


def test_msgpack_cache_changes_nothing(tmp_path):
    """The msgpack registry cache changes speed only, and is undone afterwards."""
    path = _write(tmp_path / "x.txt", [LINE_A1, LINE_A2, LINE_B])
    convert_mnre(path, tmp_path / "out.spacy", progress=False)
    docs, _ = mnre_to_docs(path)
    plain = DocBin(docs=docs, store_user_data=True).to_bytes()
    assert (tmp_path / "out.spacy").read_bytes() == plain
    vocab = BLANK.vocab
    slow = list(DocBin().from_bytes(plain).get_docs(vocab))
    fast = read_docbin(tmp_path / "out.spacy", vocab)
    assert [d.to_bytes() for d in slow] == [d.to_bytes() for d in fast]
    for registry in (srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders):
        assert "get_all" not in vars(registry)


def test_cli_convert(tmp_path):
    path = _write(tmp_path / "x.txt", [LINE_A1, BROKEN, LINE_B])
    output = tmp_path / "out.spacy"
    runner = CliRunner()
    args = ["convert", "mnre", str(path), str(output), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "line 2" in result.output
    result = runner.invoke(app, args + ["--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "Skipped line 2" in result.output and "Wrote 2 docs" in result.output
    assert len(read_docs(output)) == 2
