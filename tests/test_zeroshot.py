"""Relations by description on other data: FewRel reading, label-text variants,
`zeroshot transfer` (routed = the untrained encoder) and `zeroshot type-weight`."""
import json

import pytest
import spacy
import srsly
from typer.testing import CliRunner

import numpy

from conftest import BLANK, make_doc, make_nlp, solid_image
from spacy_roc.commands.cli import app
from spacy_roc.commands.gzsl import offer
from spacy_roc.commands.zeroshot import TRANSFER_ROWS, entry, transfer_scores, type_weight_scores, untrained_copy
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


def test_entries_keep_the_fields_of_their_variant():
    assert entry("P_made", HELDOUT, "wikidata") == {"name": "made", "descriptions": ["the head person made the tail shape"]}
    assert entry("P_made", HELDOUT, "full") == HELDOUT["P_made"]
    with pytest.raises(ValueError, match=r"\[ROC_E602\].*'P_missing'"):
        entry("P_missing", HELDOUT, "full")


def heldout_docs(labels):
    """CORPUS-like docs whose PERSON -> SHAPE pair has a held-out label."""
    rows = [("anna drew the red circle", (255, 0, 0)), ("ben owns the blue square", (0, 0, 255))]
    ents = [(0, 1, "PERSON"), (2, 5, "SHAPE")]
    return [make_doc(BLANK, text, ents, [(0, 1, label), (1, 0, "None")], image=solid_image(rgb)) for (text, rgb), label in zip(rows, labels)]


def test_transfer_routed_is_the_untrained_encoder(trained):
    """The relations of other data are new to the model: routed, it classifies their
    pairs as its untrained encoder does; without routing, differently."""
    nlp, _, path = trained
    nlp = spacy.load(path)
    data = {"P_made": [INSTANCE, {**INSTANCE, "tokens": ["ben", "drew", "the", "blue", "square"]}], "P_has": [INSTANCE]}
    relations = {k: HELDOUT[k] for k in ("P_made", "P_has")}
    scores = transfer_scores(nlp, untrained_copy(nlp), data, relations, ways=[2], per_relation=2)
    routed, unrouted, untrained = (scores[row][2] for row in TRANSFER_ROWS)
    assert routed == untrained
    assert set(routed) == {"wikidata", "full"} and all(0.0 <= v <= 100.0 for v in routed.values())
    pipe = nlp.get_pipe("roc_relations")
    docs = [fewrel_doc(nlp.vocab, instance, label) for label in ("P_made", "P_has") for instance in data[label]]
    trained_query = offer(nlp, docs, relations, ["P_made", "P_has"], route=False).logits
    pretrained = offer(nlp, docs, relations, ["P_made", "P_has"], route=True).logits
    assert numpy.abs(trained_query - pretrained)[:, -2:].max() > 1e-3
    assert "P_made" not in pipe.labels  # the pipeline is put back


def test_type_weight_is_chosen_on_heldout_relations(tiny_bert_dir, tmp_path):
    config = tmp_path / "tiny.cfg"
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    nlp.config.to_disk(config)
    write_docbin(heldout_docs(["P_made", "P_has"]), tmp_path / "h.spacy")
    srsly.write_json(tmp_path / "h.json", HELDOUT)
    args = ["zeroshot", "type-weight", str(config), "--heldout", str(tmp_path / "h.spacy"), "--relations", str(tmp_path / "h.json"), "--weights", "0,0.3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    chosen = float(result.output.split("type_weight ")[-1].split()[0])
    best, scores = type_weight_scores(config, read_docbin(tmp_path / "h.spacy", BLANK.vocab), HELDOUT, [0.0, 0.3], {})
    assert chosen == best and set(scores) == {0.0, 0.3}
    # held-out docs of one relation: a coded error
    write_docbin(heldout_docs(["P_made", "P_made"]), tmp_path / "one.spacy")
    result = CliRunner().invoke(app, [*args[:3], "--heldout", str(tmp_path / "one.spacy"), *args[5:]])
    assert result.exit_code == 1 and "ROC_E603" in result.output


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
