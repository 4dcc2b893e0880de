"""Description sets: loading, cleaning, fallbacks and ablation variants."""
import pytest
import srsly
from typer.testing import CliRunner

from spacy_roc.commands.cli import app
from spacy_roc.descriptions import complete_descriptions, description_variant, load_descriptions
from spacy_roc.formats.docbin import write_docbin
from conftest import make_doc

import spacy


def test_load_cleans_and_warns(tmp_path):
    path = tmp_path / "d.json"
    srsly.write_json(path, {"a": ["x", " x ", "", "y"], "b": "single"})
    with pytest.warns(UserWarning, match="ROC_W005"):
        d = load_descriptions(path)
    assert d == {"a": ["x", "y"], "b": ["single"]}


@pytest.mark.parametrize("bad,code", [({"a": []}, "ROC_E010"), ({"a": ["", " "]}, "ROC_E010"), ([1, 2], "ROC_E013")])
def test_load_rejects_bad_sets(bad, code):
    with pytest.raises(ValueError, match=code):
        load_descriptions(bad)


def test_missing_file():
    with pytest.raises(ValueError, match="ROC_E014"):
        load_descriptions("/nonexistent/descriptions.json")


def test_complete_orders_none_first_and_falls_back():
    with pytest.warns(UserWarning, match="ROC_W003"):
        d = complete_descriptions({"b": ["bee"]}, ["/per/org/member_of", "b", "None"], "None")
    assert list(d) == ["None", "b", "/per/org/member_of"]
    assert d["/per/org/member_of"] == ["per org member of"]


def test_variants():
    full = {"None": ["n1", "n2"], "r": ["r1", "r2"]}
    assert description_variant(full, ["r"], "full", "None") == full
    assert description_variant(full, ["r"], "one", "None") == {"None": ["n1"], "r": ["r1"]}
    assert description_variant(full, ["r"], "names", "None") == {"None": ["no relation"], "r": ["r"]}
    with pytest.raises(ValueError, match="ROC_E026"):
        description_variant(full, [], "many", "None")


def test_descriptions_cli(tmp_path):
    nlp = spacy.blank("en")
    doc = make_doc(nlp, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")])
    write_docbin([doc], tmp_path / "train.spacy")
    srsly.write_json(tmp_path / "d.json", {"None": ["no"], "owns": ["o1", "o2"]})
    result = CliRunner().invoke(app, ["descriptions", "variant", str(tmp_path / "d.json"), str(tmp_path / "train.spacy"), str(tmp_path / "out.json"), "--variant", "one"])
    assert result.exit_code == 0, result.output
    assert srsly.read_json(tmp_path / "out.json") == {"None": ["no"], "owns": ["o1"], "drew": ["drew"]}
