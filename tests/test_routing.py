"""Know and transfer in one model: the component records the relations it trained
with; relations added later (or whose texts changed) are scored by the pretrained
encoder, the trained ones by the trained model, calibrated together by gamma."""
import numpy
import pytest
import spacy
from thinc.api import fix_random_seed

from conftest import DESCRIPTIONS, LEVITATED, corpus_examples, fresh_docs, initialize_quietly, make_nlp, train

NEW = {
    "gives": {"descriptions": ["the head person gives the tail shape away"], "head_types": ["person"], "tail_types": ["shape"]},
    "near": {"descriptions": ["the head shape is near the tail shape"]},
}


def trained_and_untrained(bert_dir, **overrides):
    """The same tiny pipeline twice, from the same seed: one trained on CORPUS, one
    only initialized (the pretrained encoder)."""
    pipelines = []
    for n_steps in (30, 0):
        fix_random_seed(0)
        nlp = make_nlp(bert_dir, spans_key="entities", **overrides)
        examples = corpus_examples()
        initialize_quietly(nlp, examples, DESCRIPTIONS)
        if n_steps:
            train(nlp, examples, n_steps=n_steps)
        pipelines.append(nlp)
    return pipelines[0], pipelines[1], examples


def add_new(pipe):
    for label, entry in NEW.items():
        pipe.add_relation(label, entry["descriptions"], head_types=entry.get("head_types", ()), tail_types=entry.get("tail_types", ()))


def probs(pipe, examples):
    return pipe.model.ops.to_numpy(pipe.predict(fresh_docs(examples))[1])


def logits(pipe, examples):
    return pipe.model.ops.to_numpy(pipe.model.predict(pipe._batch(fresh_docs(examples))))


def test_the_component_records_the_relations_it_trained_with(tiny_bert_dir, tmp_path):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    pipe = nlp.get_pipe("roc_relations")
    assert pipe.cfg["trained"] == {} and pipe.new_relations == pipe.labels  # untrained: everything is new
    train(nlp, examples, n_steps=1)
    assert sorted(pipe.cfg["trained"]) == sorted(pipe.labels) and pipe.new_relations == ()
    add_new(pipe)
    assert pipe.new_relations == tuple(NEW)
    pipe.add_relation("drew", DESCRIPTIONS["drew"], overwrite=True)  # the same texts: still trained
    pipe.add_relation("owns", ["the head person has the tail shape"], overwrite=True)  # changed: new
    assert pipe.new_relations == ("owns", *NEW)
    nlp.to_disk(tmp_path / "p")
    assert spacy.load(tmp_path / "p").get_pipe("roc_relations").new_relations == ("owns", *NEW)


def test_only_trained_relations_score_as_before(tiny_bert_dir):
    """With only trained relations offered, no pretrained pass: the logits are the
    trained network's, whatever gamma; with new ones added, the trained relations'
    logits do not change either."""
    nlp, _, examples = trained_and_untrained(tiny_bert_dir)
    pipe = nlp.get_pipe("roc_relations")
    before, before_probs = logits(pipe, examples), probs(pipe, examples)
    pipe.gamma = 3.0
    numpy.testing.assert_array_equal(probs(pipe, examples), before_probs)
    add_new(pipe)
    after = logits(pipe, examples)
    numpy.testing.assert_array_equal(after[:, : before.shape[1]], before)


@pytest.mark.parametrize("pair_encoder", [None, LEVITATED])
def test_only_new_relations_score_as_the_untrained_model(tiny_bert_dir, pair_encoder):
    overrides = {"pair_encoder": pair_encoder} if pair_encoder else {}
    nlp, untrained, examples = trained_and_untrained(tiny_bert_dir, **overrides)
    pipe, fresh = nlp.get_pipe("roc_relations"), untrained.get_pipe("roc_relations")
    for component in (pipe, fresh):
        component.cfg["relations"] = {}
        component.add_relation("None", ["nothing links the head and the tail"])  # other texts: new
        add_new(component)
    assert pipe.new_relations == pipe.labels
    assert numpy.abs(logits(pipe, examples)).max() > 1.0
    numpy.testing.assert_allclose(logits(pipe, examples), logits(fresh, examples), atol=1e-5)
    numpy.testing.assert_allclose(probs(pipe, examples), probs(fresh, examples), atol=1e-6)


def test_new_relations_differ_from_the_trained_query(tiny_bert_dir):
    """Routing changes something: a new relation scored by the trained query (the
    relation marked trained) gets other logits than by the pretrained pass."""
    nlp, _, examples = trained_and_untrained(tiny_bert_dir)
    pipe = nlp.get_pipe("roc_relations")
    add_new(pipe)
    routed = logits(pipe, examples)
    pipe._record_trained()  # as if the new relations had been trained with
    unrouted = logits(pipe, examples)
    new_columns = slice(len(pipe.labels) - len(NEW), None)
    assert numpy.abs(routed[:, new_columns] - unrouted[:, new_columns]).max() > 1e-2


def test_gamma_moves_probability_from_trained_to_new_relations(tiny_bert_dir, tmp_path):
    nlp, _, examples = trained_and_untrained(tiny_bert_dir)
    pipe = nlp.get_pipe("roc_relations")
    add_new(pipe)
    n_new = len(NEW)
    new_mass = [probs(pipe, examples)[:, -n_new:].sum(axis=1) for gamma in (-2.0, 0.0, 2.0) if not setattr(pipe, "gamma", gamma)]
    assert (new_mass[0] < new_mass[1]).all() and (new_mass[1] < new_mass[2]).all()
    assert pipe.cfg["gamma"] == 2.0
    nlp.to_disk(tmp_path / "p")
    assert spacy.load(tmp_path / "p").get_pipe("roc_relations").gamma == 2.0
    for bad in (float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="ROC_E043"):
            pipe.gamma = bad
