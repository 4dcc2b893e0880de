"""The Doc ⇄ JSON codec (spacy_roc.formats.codec): entities, pairs, relation records
and images, both ways, and each rule of how an "image" string is read."""
import base64
import io

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import BLANK, RED, make_doc, solid_image
from spacy_roc.extensions import make_record
from spacy_roc.formats.codec import (
    SPANS_KEY, CodecError, check_image, count_missing_images, doc_from_json, doc_to_json, encode_png,
    entities_to_json, image_from_json, image_to_json, overlapping_spans, pairs_from_json, record_pairs,
    records_from_json, records_to_json,
)

TEXT = "anna drew the red circle"
ENTS = [{"start": 0, "end": 4, "label": "PERSON"}, {"start": 10, "end": 24, "label": "SHAPE"}, {"start": 14, "end": 24, "label": "SHAPE"}]
PNG = encode_png(solid_image(RED, 4))


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (9, 9, 9)).save(buffer, format="JPEG")
    return buffer.getvalue()


# -- entities and pairs ---------------------------------------------------------------


def test_entities_go_where_the_component_reads_them_and_come_back():
    fields = {"text": TEXT, "entities": ENTS, "pairs": [[0, 2], [2, 0]], "id": 3}
    doc = doc_from_json(BLANK, fields, SPANS_KEY)
    assert [(s.start, s.end, s.label_) for s in doc.spans[SPANS_KEY]] == [(0, 1, "PERSON"), (2, 5, "SHAPE"), (3, 5, "SHAPE")]
    assert doc.ents == () and doc._.image is None
    assert doc._.relation_pairs == [[[0, 1], [3, 5]], [[3, 5], [0, 1]]]
    assert entities_to_json(doc, SPANS_KEY) == ENTS
    assert doc_to_json(doc, SPANS_KEY) == {"text": TEXT, "entities": ENTS}
    ents = doc_from_json(BLANK, {"text": TEXT, "entities": ENTS[:2]}, None)
    assert [(s.start, s.end, s.label_) for s in ents.ents] == [(0, 1, "PERSON"), (2, 5, "SHAPE")] and not ents.spans
    assert ents._.relation_pairs is None  # no "pairs": the candidates propose them
    unlabelled = doc_from_json(BLANK, {"text": TEXT, "entities": [{"start": 0, "end": 4}]}, SPANS_KEY)
    assert [(s.text, s.label_) for s in unlabelled.spans[SPANS_KEY]] == [("anna", "")]


BAD_FIELDS = [
    ({"entities": ENTS}, "ROC_E501", "missing"),
    ({"text": 7}, "ROC_E501", "a int"),
    ({"text": TEXT, "entities": {"start": 0}}, "ROC_E502", "'entities' is a dict"),
    ({"text": TEXT, "entities": [3]}, "ROC_E502", "a int, not an object"),
    ({"text": TEXT, "entities": [{"start": "0", "end": 4}]}, "ROC_E502", "must be integers"),
    ({"text": TEXT, "entities": [{"start": True, "end": 4}]}, "ROC_E502", "must be integers"),
    ({"text": TEXT, "entities": [{"start": 20, "end": 99}]}, "ROC_E502", "inside the text of 24 characters"),
    ({"text": TEXT, "entities": [{"start": 0, "end": 4, "label": 5}]}, "ROC_E502", "label 5 is not a string"),
    ({"text": TEXT, "entities": [{"start": 1, "end": 4}]}, "ROC_E503", "'nna'"),
    ({"text": TEXT, "entities": ENTS, "pairs": [[0, 3]]}, "ROC_E505", "[0, 3] is not [head, tail]"),
    ({"text": TEXT, "entities": ENTS, "pairs": [[1, 1]]}, "ROC_E505", "with different offsets"),
    ({"text": TEXT, "entities": ENTS, "pairs": {"0": 1}}, "ROC_E505", "a dict, not a list"),
    ({"text": TEXT, "image": 5}, "ROC_E506", "a int, not a path"),
]


@pytest.mark.parametrize("fields,code,reason", BAD_FIELDS)
def test_bad_fields_raise_their_code(fields, code, reason):
    with pytest.raises(CodecError, match=rf"^\[{code}\]") as err:
        doc_from_json(BLANK, fields, SPANS_KEY)
    assert err.value.code == code and reason in err.value.reason
    assert err.value.as_dict() == {"code": code, "reason": err.value.reason}
    assert not err.value.reason.startswith("[")


def test_overlapping_entities_are_an_error_only_in_doc_ents():
    with pytest.raises(CodecError, match=r"\[ROC_E504\] Entities 1 and 2 overlap"):
        doc_from_json(BLANK, {"text": TEXT, "entities": ENTS}, None)
    doc = BLANK.make_doc(TEXT)
    spans = [doc[2:5], doc[0:1], doc[3:5]]
    assert overlapping_spans(spans) == (0, 2) and overlapping_spans(spans[:2]) is None


def test_gold_pairs_are_the_pairs_of_the_records():
    records = [make_record((0, 1), (3, 5), "drew"), make_record((3, 5), (0, 1), "None", 0.2)]
    assert record_pairs(records) == [[[0, 1], [3, 5]], [[3, 5], [0, 1]]]
    doc = BLANK.make_doc(TEXT)
    spans = [doc[0:1], doc[2:5], doc[3:5]]
    assert pairs_from_json(spans, [[0, 2], [2, 0]]) == record_pairs(records)
    assert pairs_from_json(spans, None) is None and pairs_from_json(spans, []) == []


# -- relation records -----------------------------------------------------------------


def test_relation_records_round_trip():
    doc = make_doc(BLANK, TEXT, [(0, 1, "PERSON"), (2, 5, "SHAPE"), (3, 5, "SHAPE")], [])
    doc._.relations = [
        make_record((0, 1), (3, 5), "drew", 0.75, [("owns", 0.2), ("None", 0.05)]),
        make_record((3, 5), (1, 2), "near", 0.5),  # "drew" is no entity: label ""
    ]
    relations = records_to_json(doc, SPANS_KEY)
    assert relations[0] == {
        "head": {"start": 0, "end": 4, "text": "anna", "label": "PERSON"},
        "tail": {"start": 14, "end": 24, "text": "red circle", "label": "SHAPE"},
        "label": "drew", "score": 0.75, "alternatives": [["owns", 0.2], ["None", 0.05]],
    }
    assert relations[1]["tail"] == {"start": 5, "end": 9, "text": "drew", "label": ""}
    assert records_from_json(doc, relations) == doc._.relations
    bare = [{"head": relations[0]["head"], "tail": relations[0]["tail"], "label": "drew"}]
    assert records_from_json(doc, bare) == [make_record((0, 1), (3, 5), "drew", 1.0)]
    assert records_from_json(doc, None) is None and records_from_json(doc, []) == []


@pytest.mark.parametrize(
    "relations,code",
    [
        ({"head": {}}, "ROC_E015"),
        ([{"head": {"start": 0, "end": 4}, "tail": {"start": 10, "end": 24}}], "ROC_E015"),
        ([{"head": {"start": 0, "end": 4}, "tail": {"start": 10, "end": 24}, "label": "x", "score": "high"}], "ROC_E015"),
        ([{"head": {"start": 0, "end": 4}, "tail": {"start": 10, "end": 24}, "label": "x", "alternatives": [["y"]]}], "ROC_E015"),
        ([{"head": {"start": 0, "end": 4}, "tail": {"start": 11, "end": 24}, "label": "x"}], "ROC_E503"),
        ([{"head": {"start": 0, "end": 4}, "label": "x"}], "ROC_E502"),
    ],
)
def test_bad_relations_raise_their_code(relations, code):
    with pytest.raises(CodecError) as err:
        records_from_json(BLANK.make_doc(TEXT), relations)
    assert err.value.code == code


# -- images: the one rule -------------------------------------------------------------


def test_image_rule_1_no_image():
    assert image_from_json(None) == (None, "no image") and image_from_json("", "/x")[0] is None


def test_image_rule_2_data_uri():
    encoded = base64.b64encode(PNG).decode()
    assert image_from_json(f"data:image/png;base64,{encoded}", "/x") == (PNG, "data URI")
    wrapped = f"DATA:image/png;BASE64,{encoded[:10]}\n{encoded[10:]}"  # case and whitespace
    assert image_from_json(wrapped)[0] == PNG
    assert image_from_json(f"data:application/octet-stream;base64,{encoded}")[0] == PNG
    bad = {
        "data:image/png;base64,@@@": "does not decode as base64",
        "data:image/png;base64,": "holds no data",
        "data:image/svg+xml;utf8,<svg/>": "not base64",
        "data:image/png": "not base64",
    }
    for value, reason in bad.items():
        with pytest.raises(CodecError, match=r"\[ROC_E506\]") as err:
            image_from_json(value)
        assert reason in err.value.values["reason"]


def test_image_rule_3_existing_file_wins(tmp_path):
    (tmp_path / "abcd").write_bytes(PNG)  # a file whose name is valid base64
    assert image_from_json("abcd", tmp_path) == (str(tmp_path / "abcd"), f"file {tmp_path / 'abcd'}")
    assert image_from_json("abcd", str(tmp_path))[0] == str(tmp_path / "abcd")
    assert image_from_json(str(tmp_path / "abcd"), "/elsewhere")[0] == str(tmp_path / "abcd")  # absolute


def test_image_rule_4_base64(tmp_path):
    encoded = base64.b64encode(PNG).decode()
    data, how = image_from_json(encoded[:20] + "\n " + encoded[20:], tmp_path)
    assert data == PNG and "read as base64" in how
    assert image_from_json("wxyz", tmp_path)[0] == base64.b64decode("wxyz")  # not checked here


def test_image_rule_5_missing_path(tmp_path):
    assert image_from_json("no such file.png", tmp_path) == (str(tmp_path / "no such file.png"), "path")
    assert image_from_json("no such file.png") == ("no such file.png", "path")
    url = "https://example.com/cat.jpg"
    assert image_from_json(url, tmp_path) == (url, "path")  # URLs are not joined


def test_opened_images_are_checked(tmp_path):
    (tmp_path / "red.png").write_bytes(PNG)
    doc = doc_from_json(BLANK, {"text": TEXT, "image": "red.png"}, None, tmp_path, open_image=True)
    assert doc._.image == str(tmp_path / "red.png")
    for value, reason in [("missing.png", "path: file not found"), ("wxyz", "read as base64: cannot decode image")]:
        with pytest.raises(CodecError, match=r"\[ROC_E506\]") as err:
            doc_from_json(BLANK, {"text": TEXT, "image": value}, None, tmp_path, open_image=True)
        assert reason in err.value.reason and " at 0x" not in err.value.reason
        assert doc_from_json(BLANK, {"text": TEXT, "image": value}, None, tmp_path)._.image is not None
    with pytest.raises(CodecError, match=r"\[ROC_E506\].*ROC_E002"):
        check_image(3.5)


# -- images: written back -------------------------------------------------------------


def test_images_are_written_as_paths_or_data_uris(tmp_path):
    assert image_to_json(None) is None and image_to_json("a/b.png") == "a/b.png"
    assert image_to_json(tmp_path / "b.png") == str(tmp_path / "b.png")
    assert image_to_json(PNG) == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert image_to_json(bytearray(jpeg_bytes())).startswith("data:image/jpeg;base64,")
    assert image_to_json(b"not an image").startswith("data:application/octet-stream;base64,")
    array = numpy.zeros((3, 2, 3), dtype="uint8")
    array[..., 1] = 200
    for value in (array, Image.fromarray(array)):
        uri = image_to_json(value)
        assert uri.startswith("data:image/png;base64,")
        assert (numpy.asarray(Image.open(io.BytesIO(image_from_json(uri)[0]))) == array).all()
    with pytest.raises(TypeError, match="ROC_E002"):
        image_to_json(3.5)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_any_bytes_round_trip(data):
    uri = image_to_json(data)
    assert uri.startswith("data:") and image_from_json(uri, "/elsewhere") == (data, "data URI")


def test_paths_round_trip(tmp_path):
    (tmp_path / "red.png").write_bytes(PNG)
    for path in (str(tmp_path / "red.png"), "https://example.com/a.png"):
        assert image_from_json(image_to_json(path), "/elsewhere")[0] == path


def test_count_missing_images(tmp_path, monkeypatch):
    (tmp_path / "red.png").write_bytes(PNG)
    docs = [BLANK.make_doc("a") for _ in range(5)]
    for doc, image in zip(docs, ["red.png", "gone.png", "https://example.com/x.png", PNG, None]):
        doc._.image = image
    assert count_missing_images(docs, tmp_path) == {
        "n_image_paths": 3, "n_image_bytes": 1, "n_missing_images": 1, "missing_images": ["gone.png"],
    }
    monkeypatch.chdir(tmp_path / "..")
    assert count_missing_images(docs)["missing_images"] == ["red.png", "gone.png"]  # relative to the cwd
