"""Relation descriptions: the list and object forms of an entry, cleaning, fallbacks
and ablation variants."""
import pytest
import srsly
from typer.testing import CliRunner

from conftest import BLANK, make_doc
from spacy_roc.commands.cli import app
from spacy_roc.descriptions import (
    Relation,
    complete_relations,
    description_variant,
    load_descriptions,
    load_relations,
    make_relation,
)
from spacy_roc.formats.docbin import write_docbin

SPOUSE = {
    "name": "spouse",
    "descriptions": ["the subject has the object as their spouse"],
    "aliases": ["husband", "wife"],
    "head_types": ["a person"],
    "tail_types": ["a person"],
}


def test_load_cleans_and_warns(tmp_path):
    path = tmp_path / "d.json"
    srsly.write_json(path, {"a": ["x", " x ", "", "y"], "b": "single"})
    with pytest.warns(UserWarning, match="ROC_W005"):
        d = load_descriptions(path)
    assert d == {"a": ["x", "y"], "b": ["single"]}


def test_entries_as_lists_and_as_objects():
    relations = load_relations({"/per/org/member_of": ["the head is a member of the tail"], "P26": SPOUSE, "P40": {"name": "child"}})
    member = relations["/per/org/member_of"]
    assert member == Relation("per org member of", ("the head is a member of the tail",))
    assert member.texts == ("per org member of", "the head is a member of the tail") and not member.typed
    spouse = relations["P26"]
    assert spouse == Relation("spouse", tuple(SPOUSE["descriptions"]), ("husband", "wife"), ("a person",), ("a person",))
    assert spouse.texts == ("spouse", SPOUSE["descriptions"][0], "husband", "wife") and spouse.typed
    assert relations["P40"].texts == ("child",)  # a name is enough
    assert spouse.to_json() == SPOUSE and load_relations({"P26": spouse.to_json()})["P26"] == spouse
    assert load_descriptions({"P26": SPOUSE}) == {"P26": SPOUSE["descriptions"]}


@pytest.mark.parametrize(
    "bad,code",
    [
        ({"a": []}, "ROC_E010"),
        ({"a": ["", " "]}, "ROC_E010"),
        ({"a": {"name": " ", "descriptions": []}}, "ROC_E010"),
        ([1, 2], "ROC_E013"),
        ({"a": {**SPOUSE, "tail_types": []}}, "ROC_E039"),
        ({"a": {"name": "a", "head_types": ["a person"]}}, "ROC_E039"),
        ({"a": {"name": "a", "examples": ["x"]}}, r"ROC_E040.*\['examples'\]"),
    ],
)
def test_load_rejects_bad_sets(bad, code):
    with pytest.raises(ValueError, match=code):
        load_relations(bad)


def test_make_relation_checks_the_sides():
    with pytest.raises(ValueError, match="ROC_E039.*'r'"):
        make_relation("r", ["x"], tail_types=["a place"])
    assert make_relation("r", aliases=["alias"]).texts == ("r", "alias")


def test_missing_file():
    with pytest.raises(ValueError, match="ROC_E014"):
        load_descriptions("/nonexistent/descriptions.json")


def test_complete_orders_none_first_and_falls_back():
    with pytest.warns(UserWarning, match="ROC_W003"):
        d = complete_relations(load_relations({"b": ["bee"]}), ["/per/org/member_of", "b", "None"], "None")
    assert list(d) == ["None", "b", "/per/org/member_of"]
    assert d["/per/org/member_of"].descriptions == ("per org member of",)
    assert d["None"].name == "no relation"


def test_variants():
    full = load_relations({"None": ["n1", "n2"], "r": ["r1", "r2"], "P26": SPOUSE})
    with pytest.warns(UserWarning, match="ROC_W003.*'q'"):
        assert description_variant(full, ["r", "q"], "full", "None") == {**full, "q": Relation("q", ("q",))}
    one = description_variant(full, ["r"], "one", "None")
    assert one["r"] == Relation("r", ("r1",)) and one["None"].descriptions == ("n1",)
    assert one["P26"] == Relation("spouse", tuple(SPOUSE["descriptions"][:1]), (), ("a person",), ("a person",))
    names = description_variant(full, ["r"], "names", "None")
    assert {label: r.texts for label, r in names.items()} == {"None": ("no relation",), "r": ("r",), "P26": ("spouse",)}
    assert names["P26"].typed
    with pytest.raises(ValueError, match="ROC_E026"):
        description_variant(full, [], "many", "None")


def test_descriptions_cli(tmp_path):
    doc = make_doc(BLANK, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")])
    write_docbin([doc], tmp_path / "train.spacy")
    srsly.write_json(tmp_path / "d.json", {"None": ["no"], "owns": ["o1", "o2"], "P26": SPOUSE})
    args = ["descriptions", "variant", str(tmp_path / "d.json"), str(tmp_path / "train.spacy"), str(tmp_path / "out.json"), "--variant", "one"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = load_relations(srsly.read_json(tmp_path / "out.json"))
    expected = description_variant(load_relations(srsly.read_json(tmp_path / "d.json")), ["drew", "None"], "one", "None")
    assert written == expected and list(written) == ["None", "owns", "P26", "drew"]
    assert written["drew"].descriptions == ("drew",) and written["owns"].descriptions == ("o1",)


def test_descriptions_cli_writes_objects_and_counts_descriptions(tmp_path):
    doc = make_doc(BLANK, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew")])
    write_docbin([doc], tmp_path / "train.spacy")
    srsly.write_json(tmp_path / "d.json", {"P26": SPOUSE, "P40": {"name": "child"}})
    args = ["descriptions", "variant", str(tmp_path / "d.json"), str(tmp_path / "train.spacy"), str(tmp_path / "out.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 relations, 3 descriptions (full)" in result.output  # None and drew fall back to a description
    written = srsly.read_json(tmp_path / "out.json")
    assert written["P26"] == SPOUSE and written["P40"] == {"name": "child", "descriptions": [], "aliases": [], "head_types": [], "tail_types": []}
    srsly.write_json(tmp_path / "d.json", {"P26": {**SPOUSE, "tail_types": []}})
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "ROC_E039" in result.output
