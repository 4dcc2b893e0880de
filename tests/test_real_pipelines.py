"""roc_relations in a real spaCy pipeline: after an entity_ruler (doc.ents only),
with entity labels the model never saw, relations of new entity types added after
training, and the zero-shot pipeline built with no training (the offline
all-MiniLM-L6-v2)."""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Span
from thinc.api import fix_random_seed

from conftest import DESCRIPTIONS, corpus_examples, fresh_docs, initialize_quietly, make_nlp, perturb, train
from spacy_roc.model.encoders import gt_minilm_path

ROOT = Path(__file__).parents[1]


def ruler_pipeline(source, patterns, type_map=None):
    """entity_ruler -> roc_relations sourced from a trained pipeline."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.add_pipe("roc_relations", source=source)
    if type_map is not None:
        nlp.get_pipe("roc_relations").type_map = type_map
    return nlp


PATTERNS = [{"label": "PERSON", "pattern": "anna"}, {"label": "SHAPE", "pattern": "the red circle"}]


def test_after_an_entity_ruler_relations_come_from_doc_ents(trained):
    """The trained pipeline reads the span group "entities"; docs from an
    entity_ruler have only doc.ents, which it reads then."""
    source, examples, _ = trained
    nlp = ruler_pipeline(source, PATTERNS)
    doc = nlp("anna drew the red circle")
    assert "entities" not in doc.spans and len(doc.ents) == 2
    assert [(r["head"], r["tail"], r["label"]) for r in doc._.relations] == [([0, 1], [2, 5], "drew")]


def test_labels_never_seen_in_training_after_an_entity_ruler(trained):
    """ARTIST and ARTWORK were never seen: mapped by type_map, the pipeline predicts
    what it predicts for PERSON and SHAPE."""
    source, _, _ = trained
    unseen = [{"label": "ARTIST", "pattern": "anna"}, {"label": "ARTWORK", "pattern": "the red circle"}]
    nlp = ruler_pipeline(source, unseen, type_map={"ARTIST": "PERSON", "ARTWORK": "SHAPE"})
    seen = ruler_pipeline(source, PATTERNS)
    text = "anna drew the red circle"
    assert [(r["head"], r["tail"], r["label"]) for r in nlp(text)._.relations] == [([0, 1], [2, 5], "drew")]
    assert nlp(text)._.relations[0]["score"] == pytest.approx(seen(text)._.relations[0]["score"], abs=1e-6)


def test_a_model_of_one_entity_type_shows_every_label_as_it(tiny_bert_dir):
    """A model trained with one entity type (as MNRE's ENTITY) shows labels it never
    saw as that type: the logits are those of the docs labelled so."""
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir)
    rows = [(text, [(s, e, "ENTITY") for s, e, _ in ents], rels, rgb) for text, ents, rels, rgb in
            [("anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew")], (255, 0, 0))]]
    examples = corpus_examples(rows)
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    perturb(nlp)
    pipe = nlp.get_pipe("roc_relations")
    assert pipe.cfg["entity_types"] == ["ENTITY"]
    as_entity, as_spacy = fresh_docs(examples), fresh_docs(examples)
    for doc in as_spacy:
        doc.ents = [Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "ORG")]
    with pytest.warns(UserWarning, match=r"ROC_W013.*'ORG': 'ENTITY', 'PERSON': 'ENTITY'"):
        spacy_logits = pipe.model.predict(pipe._batch(as_spacy))
    numpy.testing.assert_array_equal(spacy_logits, pipe.model.predict(pipe._batch(as_entity)))


@pytest.fixture(scope="module")
def minilm_trained():
    """A pipeline on the offline all-MiniLM-L6-v2, trained a few steps on CORPUS
    (PERSON -> SHAPE relations only)."""
    fix_random_seed(0)
    encoder = {"@architectures": "spacy_roc.HFTextEncoder.v1", "name": gt_minilm_path(), "max_length": 64, "pretrained": True}
    nlp = make_nlp(Path("."), spans_key="entities", text_encoder=encoder, image_encoder=None, fusion_layers=0)
    nlp.get_pipe("roc_relations").candidates = spacy.registry.misc.get("spacy_roc.all_pairs.v1")(restrict_types=True)
    examples = corpus_examples()
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    train(nlp, examples, n_steps=8, learn_rate=3e-4)
    return nlp


def test_a_relation_of_new_entity_types_added_after_training_fires(minilm_trained):
    """PERSON -> PERSON pairs were never seen with a trained relation: the type rule
    keeps them from the trained relations, but they are scored against a relation
    added after training, by description alone, which the doc expresses."""
    nlp = minilm_trained
    pipe = nlp.get_pipe("roc_relations")
    assert ["PERSON", "PERSON"] not in pipe.cfg["type_pairs"]
    doc = nlp.make_doc("anna married ben in paris last spring")
    doc.spans["entities"] = [Span(doc, 0, 1, "PERSON"), Span(doc, 2, 3, "PERSON")]
    with pytest.warns(UserWarning, match="ROC_W014"):  # no trained relation takes PERSON -> PERSON
        assert nlp(doc.copy())._.relations == []
    pipe.add_relation("married_to", ["the head person is married to the tail person"], name="married to",
                      aliases=["spouse of", "wife of", "husband of"], head_types=["a person"], tail_types=["a person"])
    records = nlp(doc.copy())._.relations
    assert {(tuple(r["head"]), r["label"]) for r in records} >= {((0, 1), "married_to")}
    assert all(r["label"] == "married_to" for r in records)  # trained relations stay off these pairs


def test_zero_shot_pipeline_builds_offline_and_finds_relations(tmp_path):
    output = tmp_path / "zeroshot"
    cmd = [sys.executable, "-m", "spacy_roc", "zeroshot", "build", str(ROOT / "configs" / "zeroshot_minilm.cfg"), str(output),
           "--paths.descriptions", str(ROOT / "assets" / "descriptions" / "general.json")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    nlp = spacy.load(output)
    pipe = nlp.get_pipe("roc_relations")
    assert pipe.cfg["trained"] == {} and pipe.new_relations == pipe.labels  # untrained: the pretrained encoder
    nlp.add_pipe("entity_ruler", before="roc_relations").add_patterns(
        [{"label": "PERSON", "pattern": "Ada Lovelace"}, {"label": "PERSON", "pattern": "William King"}, {"label": "GPE", "pattern": "London"}]
    )
    doc = nlp("Ada Lovelace married William King.")
    labels = {(doc[slice(*r["head"])].text, doc[slice(*r["tail"])].text): r["label"] for r in doc._.relations}
    assert labels[("Ada Lovelace", "William King")] == "spouse"
    assert nlp("Ada Lovelace was born in London.")._.relations[0]["label"] == "born_in"
