"""Relations by description: FewRel reading, zero-shot splits, label-text variants,
and `python -m spacy_roc blend` (the blend chosen on held-out relations)."""
import json

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from conftest import BLANK, fresh_docs, make_doc, solid_image
from spacy_roc.commands.cli import app
from spacy_roc.commands.zeroshot import choose_split, entry, heldout_labels
from spacy_roc.formats.docbin import read_docbin, write_docbin
from spacy_roc.formats.fewrel import fewrel_doc, read_fewrel

INSTANCE = {"tokens": ["anna", "drew", "the", "red", "circle"], "h": ["anna", "Q1", [[0]]], "t": ["the red circle", "Q2", [[2, 3, 4]]]}
# Relations the trained pipeline has never seen, given by description alone
HELDOUT = {
    "None": {"name": "no relation", "descriptions": ["there is no relation between the head and the tail"]},
    "P_made": {"name": "made", "descriptions": ["the head person made the tail shape"], "aliases": ["drew"], "head_types": ["person"], "tail_types": ["shape"]},
    "P_has": {"name": "has", "descriptions": ["the head person has the tail shape"], "aliases": ["owns"]},
    "P_other": {"descriptions": ["not used by the held-out docs"]},
}


def test_fewrel_reading(tmp_path):
    path = tmp_path / "val.json"
    path.write_text(json.dumps({"P26": [INSTANCE]}), encoding="utf8")
    data = read_fewrel(path)
    doc = fewrel_doc(BLANK.vocab, data["P26"][0], "P26")
    assert [(s.start, s.end, s.label_) for s in doc.spans["entities"]] == [(0, 1, "ENTITY"), (2, 5, "ENTITY")]
    assert [(r["head"], r["tail"], r["label"]) for r in doc._.relations] == [([0, 1], [2, 5], "P26")]
    path.write_text(json.dumps([INSTANCE]), encoding="utf8")
    with pytest.raises(ValueError, match=r"\[ROC_E600\].*not a JSON object"):
        read_fewrel(path)
    with pytest.raises(ValueError, match=r"\[ROC_E600\].*bad entity"):
        fewrel_doc(BLANK.vocab, {**INSTANCE, "t": ["the red circle", "Q2", []]}, "P26")


def test_splits_are_seeded_partitions():
    relations = [f"P{i}" for i in range(10)]
    split = choose_split(relations, 3, seed=1, n_heldout=2)
    assert (len(split.unseen), len(split.heldout), len(split.train)) == (3, 2, 5)
    assert sorted(split.train + split.heldout + split.unseen) == sorted(relations)
    assert choose_split(relations, 3, seed=1, n_heldout=2) == split != choose_split(relations, 3, seed=2, n_heldout=2)
    assert split.name == "m3_seed1"
    for m, n_heldout in ((1, 2), (3, 1), (5, 4)):  # too few unseen, held out, or left to train
        with pytest.raises(ValueError, match=r"\[ROC_E601\]"):
            choose_split(relations, m, seed=0, n_heldout=n_heldout)


def test_entries_keep_the_fields_of_their_variant():
    assert entry("P_made", HELDOUT, "wikidata") == {"name": "made", "descriptions": ["the head person made the tail shape"]}
    assert set(entry("P_made", HELDOUT, "types")) == {"name", "descriptions", "head_types", "tail_types"}
    assert entry("P_made", HELDOUT, "full") == HELDOUT["P_made"]
    with pytest.raises(ValueError, match=r"\[ROC_E602\].*'P_missing'"):
        entry("P_missing", HELDOUT, "full")


def heldout_docs(labels):
    """CORPUS-like docs whose PERSON -> SHAPE pair has a held-out label."""
    rows = [("anna drew the red circle", (255, 0, 0)), ("ben owns the blue square", (0, 0, 255))]
    ents = [(0, 1, "PERSON"), (2, 5, "SHAPE")]
    return [make_doc(BLANK, text, ents, [(0, 1, label), (1, 0, "None")], image=solid_image(rgb)) for (text, rgb), label in zip(rows, labels)]


def test_heldout_labels_need_two_relations_of_the_file(tmp_path):
    assert heldout_labels(heldout_docs(["P_made", "P_has"]), HELDOUT, "None", "h.spacy") == ["P_has", "P_made"]
    for labels in (["P_made", "P_made"], ["P_made", "P_unknown"]):
        with pytest.raises(ValueError, match=r"\[ROC_E603\].*h.spacy"):
            heldout_labels(heldout_docs(labels), HELDOUT, "None", "h.spacy")


def test_blend_cli_saves_the_blend_chosen_on_heldout_relations(trained, tmp_path):
    _, examples, path = trained
    # two held-out sets, each with its own descriptions file: pooled for the choice
    write_docbin(heldout_docs(["P_made"]), tmp_path / "made.spacy")
    write_docbin(heldout_docs(["P_has"]), tmp_path / "has.spacy")
    srsly.write_json(tmp_path / "made.json", {k: HELDOUT[k] for k in ("None", "P_made")})
    srsly.write_json(tmp_path / "has.json", {k: HELDOUT[k] for k in ("P_has", "P_other")})
    sets = ["--heldout", str(tmp_path / "made.spacy"), "--heldout", str(tmp_path / "has.spacy")]
    files = ["--relations", str(tmp_path / "made.json"), "--relations", str(tmp_path / "has.json")]
    args = ["blend", str(path), str(tmp_path / "out"), *sets, *files, "--mixes", "0,0.5,1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    mix = float(result.output.split("Blended with mix ")[1].split()[0])
    assert mix in (0.0, 0.5, 1.0) and "(2 held-out relations)" in result.output
    blended = spacy.load(tmp_path / "out").get_pipe("roc_relations")
    expected = spacy.load(path).get_pipe("roc_relations")
    expected.blend(mix)
    assert blended.cfg["blend"] == mix and blended.relations == expected.relations
    docs = fresh_docs(examples)
    assert (blended.predict([d.copy() for d in docs])[1] == expected.predict([d.copy() for d in docs])[1]).all()
    # held-out docs of one relation only: a coded error, nothing written
    args = ["blend", str(path), str(tmp_path / "not_written"), *sets[:2], *files, "--mixes", "0,0.5,1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "ROC_E603" in result.output
    assert not (tmp_path / "not_written").exists()


def test_convert_fewrel_cli_leaves_out_the_relations_of_another_file(tmp_path):
    other = {**INSTANCE, "tokens": ["ben", "owns", "the", "blue", "square"], "t": ["the blue square", "Q3", [[2, 3, 4]]]}
    (tmp_path / "nyt.json").write_text(json.dumps({"P26": [INSTANCE], "P27": [other, INSTANCE]}), encoding="utf8")
    (tmp_path / "wiki.json").write_text(json.dumps({"P26": [INSTANCE]}), encoding="utf8")
    (tmp_path / "names.json").write_text(json.dumps({"P26": ["spouse", "married to"], "P27": ["citizenship", "country of a person"]}), encoding="utf8")
    args = ["convert", "fewrel", str(tmp_path / "nyt.json"), str(tmp_path / "out.spacy"), "--exclude-relations-of", str(tmp_path / "wiki.json"),
            "--names", str(tmp_path / "names.json"), "--relations-output", str(tmp_path / "relations.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    docs = read_docbin(tmp_path / "out.spacy", BLANK.vocab)
    assert [[t.text for t in doc] for doc in docs] == [other["tokens"], INSTANCE["tokens"]]
    assert {r["label"] for doc in docs for r in doc._.relations} == {"P27"}
    assert srsly.read_json(tmp_path / "relations.json") == {"P27": {"name": "citizenship", "descriptions": ["country of a person"]}}
    # a relation pid2name.json lacks: a coded error
    (tmp_path / "names.json").write_text(json.dumps({"P26": ["spouse", "married to"]}), encoding="utf8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "ROC_E602" in result.output
    # a pid2name entry that is not [name, description]: a coded error
    (tmp_path / "names.json").write_text(json.dumps({"P27": ["citizenship"]}), encoding="utf8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "ROC_E600" in result.output and "'P27'" in result.output
    # names without a relations output (or the reverse): a coded error, nothing written
    args[3] = str(tmp_path / "not_written.spacy")
    for dropped in ("--names", "--relations-output"):
        at = args.index(dropped)
        result = CliRunner().invoke(app, args[:at] + args[at + 2 :])
        assert result.exit_code == 1 and "ROC_E604" in result.output
        assert not (tmp_path / "not_written.spacy").exists()
