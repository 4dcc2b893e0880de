"""`python -m spacy_roc annotate`: JSONL and .spacy in and out, images, bad lines,
the summary, the CLI, and the Ray backend against the local one."""
import base64
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
import spacy
from typer.testing import CliRunner

from conftest import BLANK, CORPUS, RED, make_doc, solid_image, write_jsonl
from spacy_roc.commands.annotate import (
    ERROR_KEY,
    Settings,
    annotate,
    annotate_local,
    parse_line,
)
from spacy_roc.commands.cli import app
from spacy_roc.formats.codec import encode_png, image_from_json
from spacy_roc.formats.docbin import read_docbin, write_docbin
from spacy_roc.formats.jsonl import iter_lines



def png_bytes(rgb) -> bytes:
    return encode_png(solid_image(rgb))


def char_entities(text: str, ents: Sequence[tuple]) -> List[Dict[str, Any]]:
    """CORPUS entities (token offsets) as annotate input (character offsets)."""
    doc = BLANK.make_doc(text)
    return [{"start": doc[s:e].start_char, "end": doc[s:e].end_char, "label": label} for s, e, label in ents]


def write_images(folder: Path) -> List[str]:
    """One PNG per CORPUS row in folder; RETURNS their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (_, _, _, rgb) in enumerate(CORPUS):
        names.append(f"row{i}.png")
        (folder / names[-1]).write_bytes(png_bytes(rgb))
    return names


def corpus_lines(images: Sequence[Optional[str]]) -> List[Dict[str, Any]]:
    """The CORPUS rows as input lines with extra fields, and the given images."""
    lines = []
    for i, ((text, ents, _, _), image) in enumerate(zip(CORPUS, images)):
        line = {"id": f"row-{i}", "text": text, "entities": char_entities(text, ents), "meta": {"n": [i, 2.5, None]}}
        if image is not None:
            line["image"] = image
        lines.append(line)
    return lines


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").split("\n")[:-1]]


def expected_relations(nlp, row: tuple, spans_key: Optional[str] = "entities") -> List[Dict[str, Any]]:
    """What nlp(doc) gives for a CORPUS row, as annotate writes it (character offsets)."""
    text, ents, _, rgb = row
    doc = nlp(make_doc(nlp, text, ents, [], image=solid_image(rgb)))
    entities = doc.spans["entities"] if spans_key else doc.ents
    labels = {(s.start, s.end): s.label_ for s in entities}
    out = []
    for record in doc._.relations:
        head, tail = (doc[record[k][0] : record[k][1]] for k in ("head", "tail"))
        ends = [{"start": s.start_char, "end": s.end_char, "text": s.text, "label": labels[(s.start, s.end)]} for s in (head, tail)]
        out.append({"head": ends[0], "tail": ends[1], "label": record["label"], "score": record["score"], "alternatives": record["alternatives"]})
    return out


def assert_close(actual: Any, expected: Any, where: str = "") -> None:
    """Equal, with floats within 1e-4 (batches of other sizes pad differently)."""
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-4), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (where, actual, expected)
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, (where, actual, expected)


@pytest.fixture(scope="module")
def loaded(trained):
    """A copy of the trained pipeline loaded from disk, for tests that patch it."""
    return spacy.load(trained[2])


def image_paths(corpus_dir: Path) -> List[str]:
    """Absolute paths of the CORPUS images of corpus_dir."""
    return [str(corpus_dir / "images" / f"row{i}.png") for i in range(len(CORPUS))]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """input.jsonl with the CORPUS rows and images/ relative to it."""
    folder = tmp_path_factory.mktemp("annotate_corpus")
    names = write_images(folder / "images")
    write_jsonl(folder / "input.jsonl", corpus_lines([f"images/{name}" for name in names]))
    return folder


# -- reading lines --------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_iter_lines_splits_at_newlines_only(chunk_size):
    data = b'\xef\xbb\xbf{"a": 1}\r\n{"t": "x\xe2\x80\xa8y\xc2\x85z\rw"}\n\nlast'
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    lines = list(iter_lines(chunks))
    assert lines == [b'{"a": 1}', b'{"t": "x\xe2\x80\xa8y\xc2\x85z\rw"}', b"", b"last"]
    assert list(iter_lines([data + b"\n"])) == lines


# -- JSONL in and out -----------------------------------------------------------------


def test_jsonl_keeps_fields_and_order_and_gives_nlp_relations(trained, corpus_dir, tmp_path):
    nlp = trained[0]
    output = tmp_path / "out" / "output.jsonl"
    summary = annotate_local(nlp, corpus_dir / "input.jsonl", output, progress=False)
    inputs, outputs = read_jsonl(corpus_dir / "input.jsonl"), read_jsonl(output)
    assert [line["id"] for line in outputs] == [f"row-{i}" for i in range(len(CORPUS))]
    for i, (line, out) in enumerate(zip(inputs, outputs)):
        assert {key: value for key, value in out.items() if key != "relations"} == line
        assert list(out) == list(line) + ["relations"]
        assert_close(out["relations"], expected_relations(nlp, CORPUS[i]), f"line {i}")
        for relation in out["relations"]:
            for end in (relation["head"], relation["tail"]):
                assert line["text"][end["start"] : end["end"]] == end["text"]
                assert {"start": end["start"], "end": end["end"], "label": end["label"]} in line["entities"]
    n_relations = sum(len(out["relations"]) for out in outputs)
    assert n_relations > 0
    # the last two rows differ only in their image, which decides their relation
    assert outputs[-1]["relations"][0]["label"] != outputs[-2]["relations"][0]["label"]
    assert summary == {"lines": 7, "annotated": 7, "relations": n_relations, "n_errors": 0, "errors": {}, "first_errors": []}


def test_images_resolve_against_images_dir_and_base64(trained, corpus_dir, tmp_path):
    nlp = trained[0]
    reference = tmp_path / "reference.jsonl"
    annotate_local(nlp, corpus_dir / "input.jsonl", reference, progress=False)
    names = write_images(tmp_path / "elsewhere" / "pictures")
    pngs = [png_bytes(rgb) for _, _, _, rgb in CORPUS]
    variants = {
        "images_dir": ([f"pictures/{name}" for name in names], tmp_path / "elsewhere"),
        "absolute": ([str(tmp_path / "elsewhere" / "pictures" / name) for name in names], None),
        "data_uri": ([f"data:image/png;base64,{base64.b64encode(png).decode()}" for png in pngs], None),
        "base64": ([base64.b64encode(png).decode() for png in pngs], None),
    }
    expected = [line["relations"] for line in read_jsonl(reference)]
    for name, (images, images_dir) in variants.items():
        source = write_jsonl(tmp_path / name / "input.jsonl", corpus_lines(images))
        summary = annotate_local(nlp, source, tmp_path / name / "out.jsonl", images_dir=images_dir, progress=False)
        assert summary["n_errors"] == 0, (name, summary)
        assert_close([line["relations"] for line in read_jsonl(tmp_path / name / "out.jsonl")], expected, name)


def test_without_image_is_text_only_not_an_error(trained, tmp_path):
    nlp = trained[0]
    source = write_jsonl(tmp_path / "input.jsonl", corpus_lines([None] * len(CORPUS)))
    with pytest.warns(UserWarning, match="ROC_W001"):
        summary = annotate_local(nlp, source, tmp_path / "out.jsonl", progress=False)
    assert summary["annotated"] == len(CORPUS) and summary["n_errors"] == 0


# -- bad lines ------------------------------------------------------------------------

TEXT = "anna drew the red circle"
ENTS = [{"start": 0, "end": 4, "label": "PERSON"}, {"start": 14, "end": 24, "label": "SHAPE"}]
# (line, the code of its error, or None for a good line)
BAD_LINES = [
    ({"id": 1, "text": TEXT, "entities": ENTS, "image": "red.png"}, None),
    ("not json {", "ROC_E500"),
    ("[1, 2]", "ROC_E500"),
    ("", "ROC_E500"),
    (b'{"text": "caf\xe9"}', "ROC_E500"),
    ({"id": 6, "entities": ENTS}, "ROC_E501"),
    ({"id": 7, "text": 3}, "ROC_E501"),
    ({"id": 8, "text": TEXT, "entities": {"start": 0}}, "ROC_E502"),
    ({"id": 9, "text": TEXT, "entities": [{"start": 14, "end": 99, "label": "SHAPE"}]}, "ROC_E502"),
    ({"id": 10, "text": TEXT, "entities": [{"start": 4, "end": 4, "label": "X"}]}, "ROC_E502"),
    ({"id": 11, "text": TEXT, "entities": [{"start": "0", "end": 4}]}, "ROC_E502"),
    ({"id": 12, "text": TEXT, "entities": [{"start": 1, "end": 4, "label": "PERSON"}]}, "ROC_E503"),
    ({"id": 13, "text": TEXT, "entities": ENTS, "pairs": [[0, 0]]}, "ROC_E505"),
    ({"id": 14, "text": TEXT, "entities": ENTS, "pairs": [[0, 2]]}, "ROC_E505"),
    ({"id": 15, "text": TEXT, "entities": ENTS, "image": "missing.png"}, "ROC_E506"),
    ({"id": 16, "text": TEXT, "entities": ENTS, "image": 123}, "ROC_E506"),
    ({"id": 17, "text": TEXT, "entities": ENTS, "image": base64.b64encode(b"not an image").decode()}, "ROC_E506"),
    ({"id": 18, "text": TEXT, "entities": ENTS, "image": "data:image/png;base64,@@@"}, "ROC_E506"),
    ({"id": 19, "text": TEXT + " \u2028", "entities": ENTS, "image": "red.png"}, None),
    ({"id": 20, "text": "a lone \ud800 surrogate"}, "ROC_E500"),
]


@pytest.fixture
def bad_file(tmp_path) -> Path:
    (tmp_path / "red.png").write_bytes(png_bytes(RED))
    return write_jsonl(tmp_path / "bad.jsonl", [line for line, _ in BAD_LINES])


def test_bad_lines_come_back_with_coded_errors(trained, bad_file, tmp_path):
    output = tmp_path / "out.jsonl"
    summary = annotate_local(trained[0], bad_file, output, progress=False)
    outputs = read_jsonl(output)
    assert len(outputs) == len(BAD_LINES)
    for (line, code), out in zip(BAD_LINES, outputs):
        if code is None:
            assert "error" not in out and (len(out["relations"]) > 0) == ("entities" in line), out
            assert {key: value for key, value in out.items() if key != "relations"} == line
            continue
        assert out["error"]["code"] == code and out["error"]["reason"], out
        if isinstance(line, dict):
            assert {key: value for key, value in out.items() if key != "error"} == line
        else:
            raw = line.decode("utf8", "replace") if isinstance(line, bytes) else line
            assert out == {"raw": raw, "error": out["error"]}
    codes = [code for _, code in BAD_LINES if code is not None]
    assert summary["lines"] == len(BAD_LINES) and summary["annotated"] == len(BAD_LINES) - len(codes)
    assert summary["errors"] == {code: codes.count(code) for code in codes}
    assert summary["relations"] == sum(len(out.get("relations", [])) for out in outputs)
    assert [e[:2] for e in summary["first_errors"]] == [[i + 1, c] for i, (_, c) in enumerate(BAD_LINES) if c]


def test_strict_makes_the_first_bad_line_an_error(trained, bad_file, tmp_path):
    with pytest.raises(ValueError, match=r"ROC_E507.*line 2 .*\[ROC_E500\]"):
        annotate_local(trained[0], bad_file, tmp_path / "out.jsonl", strict=True, progress=False)


def test_overlapping_entities_are_bad_where_doc_ents_are_read(loaded, corpus_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(loaded.get_pipe("roc_relations"), "spans_key", None)
    lines = corpus_lines(image_paths(corpus_dir))
    source = write_jsonl(tmp_path / "input.jsonl", lines)
    summary = annotate_local(loaded, source, tmp_path / "out.jsonl", progress=False)
    outputs = read_jsonl(tmp_path / "out.jsonl")
    assert summary["errors"] == {"ROC_E504": 1} and outputs[4]["error"]["code"] == "ROC_E504"
    assert summary["relations"] > 0
    settings = Settings.for_pipeline(loaded, None)
    for i, out in enumerate(outputs):
        if i != 4:
            doc = parse_line(json.dumps(lines[i]).encode(), loaded, settings).doc
            assert "entities" not in doc.spans and len(doc.ents) == len(CORPUS[i][1])
            assert_close(out["relations"], expected_relations(loaded, CORPUS[i], spans_key=None), f"line {i}")


# -- pairs ----------------------------------------------------------------------------


def test_pairs_restrict_what_is_scored(trained, corpus_dir, tmp_path):
    nlp = trained[0]
    lines = corpus_lines(image_paths(corpus_dir)[:4])
    restricted = [dict(line, pairs=[[1, 0]]) for line in lines]
    source = write_jsonl(tmp_path / "input.jsonl", lines + restricted)
    annotate_local(nlp, source, tmp_path / "out.spacy", progress=False)
    annotate_local(nlp, source, tmp_path / "out.jsonl", progress=False)
    docs, outputs = read_docbin(tmp_path / "out.spacy"), read_jsonl(tmp_path / "out.jsonl")
    for doc, line in zip(docs, lines + restricted):
        spans = [[s.start, s.end] for s in doc.spans["entities"]]
        assert doc._.relation_pairs == ([[spans[1], spans[0]]] if "pairs" in line else None)
    # without "pairs": the candidates' pairs, as nlp(doc) scores them (person -> shape "drew"/"owns")
    assert_close([out["relations"] for out in outputs[:4]], [expected_relations(nlp, row) for row in CORPUS[:4]])
    assert all(any(r["head"]["label"] == "PERSON" for r in out["relations"]) for out in outputs[:4])
    # with "pairs": only shape -> person is scored
    for out, line in zip(outputs[4:], restricted):
        shape, person = line["entities"][1], line["entities"][0]
        assert all((r["head"]["start"], r["tail"]["start"]) == (shape["start"], person["start"]) for r in out["relations"])


def test_reserved_fields_warn(trained, tmp_path):
    line = {"text": TEXT, "entities": ENTS, "pairs": [[0, 1]], "relations": ["gold"]}
    source = write_jsonl(tmp_path / "input.jsonl", [line])
    with pytest.warns(UserWarning) as record:
        annotate_local(trained[0], source, tmp_path / "out.jsonl", progress=False)
    messages = " ".join(str(w.message) for w in record)
    assert "ROC_W500" in messages
    relations = read_jsonl(tmp_path / "out.jsonl")[0]["relations"]
    # the listed pair only, PERSON -> SHAPE, predicted as the pipeline predicts it
    assert relations != ["gold"] and [(r["head"]["label"], r["tail"]["label"]) for r in relations] == [("PERSON", "SHAPE")]


def test_n_process_goes_to_nlp_pipe(loaded, corpus_dir, tmp_path, monkeypatch):
    calls = []
    pipe = loaded.pipe

    def spy(docs, **kwargs):
        calls.append(kwargs)
        return pipe(docs, **dict(kwargs, n_process=1))

    monkeypatch.setattr(loaded, "pipe", spy)
    annotate_local(loaded, corpus_dir / "input.jsonl", tmp_path / "out.jsonl", n_process=2, batch_size=3, progress=False)
    assert calls == [{"batch_size": 3, "n_process": 2}]


# -- .spacy in and out ----------------------------------------------------------------


def test_spacy_in_and_out(trained, tmp_path):
    nlp = trained[0]
    names = write_images(tmp_path / "images")
    docs = [make_doc(BLANK, text, ents, [(0, 1, "gold")], image=f"images/{name}") for (text, ents, _, _), name in zip(CORPUS, names)]
    docs[2]._.image = "images/missing.png"
    write_docbin(docs, tmp_path / "input.spacy")
    summary = annotate_local(nlp, tmp_path / "input.spacy", tmp_path / "out.spacy", progress=False)
    annotate_local(nlp, tmp_path / "input.spacy", tmp_path / "out.jsonl", progress=False)
    assert summary["lines"] == len(CORPUS) and summary["errors"] == {"ROC_E506": 1}
    out_docs, outputs = read_docbin(tmp_path / "out.spacy"), read_jsonl(tmp_path / "out.jsonl")
    assert [doc.text for doc in out_docs] == [row[0] for row in CORPUS]
    assert out_docs[2].user_data[ERROR_KEY]["code"] == "ROC_E506" and out_docs[2]._.relations == []
    assert outputs[2]["error"]["code"] == "ROC_E506" and "relations" not in outputs[2]
    for i, (doc, out) in enumerate(zip(out_docs, outputs)):
        if i == 2:
            continue
        assert ERROR_KEY not in doc.user_data
        assert out["text"] == CORPUS[i][0] and out["entities"] == char_entities(*CORPUS[i][:2])
        assert out["image"] == str(tmp_path / "images" / names[i])
        assert_close(out["relations"], expected_relations(nlp, CORPUS[i]), f"doc {i}")
        assert [r["label"] for r in doc._.relations] == [r["label"] for r in out["relations"]]


def test_spacy_input_images_are_data_uris_and_pairs_are_checked(trained, tmp_path):
    nlp = trained[0]
    docs = [make_doc(BLANK, text, ents, [], image=png_bytes(rgb)) for text, ents, _, rgb in CORPUS[:3]]
    docs[1]._.relation_pairs = [[[0, 1], [0, 1]]]  # head == tail
    docs[2]._.relation_pairs = [[[2, 5], [0, 1]]]
    write_docbin(docs, tmp_path / "input.spacy")
    summary = annotate_local(nlp, tmp_path / "input.spacy", tmp_path / "out.jsonl", progress=False)
    outputs = read_jsonl(tmp_path / "out.jsonl")
    assert summary["errors"] == {"ROC_E505": 1} and outputs[1]["error"]["code"] == "ROC_E505"
    for out, (_, _, _, rgb) in zip(outputs, CORPUS):
        assert out["image"].startswith("data:image/png;base64,")
        assert image_from_json(out["image"]) == (png_bytes(rgb), "data URI")
    assert_close(outputs[0]["relations"], expected_relations(nlp, CORPUS[0]))
    assert all((r["head"]["text"], r["tail"]["text"]) == ("the green triangle", "carl") for r in outputs[2]["relations"])


def test_jsonl_in_spacy_out_keeps_bad_lines(trained, bad_file, tmp_path):
    annotate_local(trained[0], bad_file, tmp_path / "out.spacy", progress=False)
    docs = read_docbin(tmp_path / "out.spacy")
    assert len(docs) == len(BAD_LINES)
    for doc, (line, code) in zip(docs, BAD_LINES):
        assert doc.user_data.get(ERROR_KEY, {}).get("code") == code
        text = line.get("text") if isinstance(line, dict) and code != "ROC_E500" else None
        assert doc.text == (text if isinstance(text, str) else "")
        assert (len(doc._.relations) > 0) == (code is None and "entities" in line)


# -- usage errors, CLI ----------------------------------------------------------------


def test_usage_errors(trained, corpus_dir, tmp_path, monkeypatch):
    nlp = trained[0]
    with pytest.raises(ValueError, match="ROC_E509.*no roc_relations"):
        annotate_local(spacy.blank("en"), corpus_dir / "input.jsonl", tmp_path / "out.jsonl", progress=False)
    with pytest.raises(ValueError, match="ROC_E509.*local files"):
        annotate_local(nlp, "s3://bucket/in.jsonl", tmp_path / "out.jsonl", progress=False)
    with pytest.raises(ValueError, match="ROC_E509.*does not exist"):
        annotate_local(nlp, tmp_path / "nothing.jsonl", tmp_path / "out.jsonl", progress=False)
    with pytest.raises(ValueError, match="ROC_E509.*is the input"):
        annotate_local(nlp, corpus_dir / "input.jsonl", corpus_dir / "." / "input.jsonl", progress=False)
    with pytest.raises(ValueError, match="ROC_E509.*unknown backend"):
        annotate(nlp, corpus_dir / "input.jsonl", tmp_path / "out.jsonl", backend="spark")
    with pytest.raises(ValueError, match="ROC_E509.*JSONL"):
        annotate("model", corpus_dir / "input.jsonl", tmp_path / "out.spacy", backend="ray")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"ROC_E508.*spacy-roc\[ray\]"):
        annotate("model", corpus_dir / "input.jsonl", tmp_path / "out.jsonl", backend="ray")


def test_cli_annotate(trained, corpus_dir, bad_file, tmp_path):
    path = str(trained[2])
    output = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(app, ["annotate", path, str(corpus_dir / "input.jsonl"), str(output), "--no-progress", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(output)) == len(CORPUS) and "7 lines" in result.output
    result = CliRunner().invoke(app, ["annotate", path, str(bad_file), str(tmp_path / "bad_out.jsonl"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "ROC_E506" in result.output and "line 15" in result.output
    result = CliRunner().invoke(app, ["annotate", path, str(bad_file), str(tmp_path / "strict.jsonl"), "--no-progress", "--strict"])
    assert result.exit_code == 1 and "ROC_E507" in result.output


def test_cli_images_dir(trained, tmp_path):
    names = write_images(tmp_path / "pictures")
    source = write_jsonl(tmp_path / "input" / "input.jsonl", corpus_lines(names))
    args = ["annotate", str(trained[2]), str(source), str(tmp_path / "out.jsonl"), "--no-progress"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert {line["error"]["code"] for line in read_jsonl(tmp_path / "out.jsonl")} == {"ROC_E506"}
    result = CliRunner().invoke(app, args + ["--images-dir", str(tmp_path / "pictures")])
    assert result.exit_code == 0, result.output
    assert all("relations" in line for line in read_jsonl(tmp_path / "out.jsonl"))


# -- Ray ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*ROC_W500", "ignore:.*ROC_W001", "ignore::DeprecationWarning")
def test_ray_backend_gives_the_local_output(trained, bad_file, tmp_path):
    ray = pytest.importorskip("ray")
    lines = [line for line, _ in BAD_LINES] + corpus_lines([None] * len(CORPUS)) + [line for line, _ in BAD_LINES]
    source = write_jsonl(bad_file.parent / "mixed.jsonl", lines)
    local = annotate_local(trained[0], source, tmp_path / "local.jsonl", batch_size=4, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024**2)
    try:
        on_ray = annotate(trained[2], source, tmp_path / "ray.jsonl", backend="ray", batch_size=4, concurrency=1, progress=False)
    finally:
        ray.shutdown()
    assert_close(on_ray, local, "summary")
    assert on_ray == local and local["n_errors"] > 0 and local["relations"] > 0
    local_lines = (tmp_path / "local.jsonl").read_bytes().split(b"\n")
    ray_lines = (tmp_path / "ray.jsonl").read_bytes().split(b"\n")
    assert len(ray_lines) == len(local_lines) == len(lines) + 1
    for i, (a, b) in enumerate(zip(ray_lines, local_lines)):
        assert_close(json.loads(a or "null"), json.loads(b or "null"), f"line {i + 1}")
        if b"relations" not in b:
            assert a == b
