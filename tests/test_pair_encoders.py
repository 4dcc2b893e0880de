"""The pair encoders: levitated markers (one pass per doc) and a shared spaCy
transformer (EntityPooling behind a TransformerListener), against the inline markers."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from thinc.api import fix_random_seed

from conftest import (
    DESCRIPTIONS,
    corpus_examples,
    fresh_docs,
    gold_relations,
    initialize_quietly,
    make_nlp,
    model_config,
    relation_labels,
    solid_image,
    train,
)
from spacy_roc.inputs import RelationSet
from spacy_roc.model.roc_model import get_network

LEVITATED = {"@architectures": "spacy_roc.LevitatedMarkers.v2", "max_length": 512}
LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "upstream": "*",
    "pooling": {"@layers": "reduce_mean.v1"},
}


def trained_nlp(nlp, n_steps=100):
    fix_random_seed(0)
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": DESCRIPTIONS}
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    losses = train(nlp, examples, n_steps=n_steps)
    assert losses["roc_relations"] < 0.05, losses
    return nlp, examples


@pytest.fixture(scope="module")
def levitated(tiny_bert_dir, tmp_path_factory):
    """The tiny model with levitated markers, trained on CORPUS and saved."""
    nlp, examples = trained_nlp(make_nlp(tiny_bert_dir, spans_key="entities", pair_encoder=LEVITATED))
    path = tmp_path_factory.mktemp("levitated") / "pipeline"
    nlp.to_disk(path)
    return nlp, examples, path


def listener_nlp(bert_dir):
    """transformer (the tiny BERT) + roc_relations listening to it."""
    nlp = spacy.blank("en")
    trf = {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(bert_dir),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24},
        "tokenizer_config": {"use_fast": True},
    }
    nlp.add_pipe("transformer", config={"model": trf})
    model = model_config(bert_dir, pair_encoder={"@architectures": "spacy_roc.EntityPooling.v1"}, text_encoder=LISTENER)
    model["relation_encoder"] = model_config(bert_dir)["text_encoder"]
    candidates = {"@misc": "spacy_roc.all_pairs.v1", "restrict_types": False}
    nlp.add_pipe("roc_relations", config={"model": model, "spans_key": "entities", "candidates": candidates})
    return nlp


def test_levitated_and_inline_markers_give_the_same_relations(trained, levitated):
    """Both encoders, each overfit on the same docs, give the gold relations; so do
    the levitated pipeline's saved copy and nlp.pipe."""
    nlp, examples, path = levitated
    docs = [nlp(doc) for doc in fresh_docs(examples)]
    inline = [trained[0](doc) for doc in fresh_docs(examples)]
    assert relation_labels(docs) == relation_labels(inline) == gold_relations(examples)
    loaded = spacy.load(path)
    assert [loaded(doc)._.relations for doc in fresh_docs(examples)] == [doc._.relations for doc in docs]
    piped = list(loaded.pipe(fresh_docs(examples), batch_size=3))
    assert relation_labels(piped) == relation_labels(docs)


def many_entities_doc(nlp, n_entities):
    words = ("anna drew the red circle and ben owns the blue square " * 4).split()
    doc = Doc(nlp.vocab, words=words)
    doc.spans["entities"] = [Span(doc, i, i + 1, label="PERSON" if i % 2 else "SHAPE") for i in range(0, 2 * n_entities, 2)]
    doc._.image = solid_image((0, 200, 0))
    return doc


def test_a_doc_whose_markers_do_not_fit_is_split_and_scored_completely(levitated):
    """With passes of 64 wordpieces, a doc of 46 wordpieces with 8 entities (56 pairs,
    224 markers) needs 14 passes; every pair is scored, exactly as in one pass (the
    text never sees a marker, and no pair sees another pair's markers)."""
    _, _, path = levitated
    one_pass = spacy.load(path)
    split = spacy.load(path, config={"components": {"roc_relations": {"model": {"pair_encoder": {"max_length": 64}}}}})
    docs = [many_entities_doc(one_pass, 8), fresh_docs(corpus_examples())[4]]
    pipes = [nlp.get_pipe("roc_relations") for nlp in (one_pass, split)]
    batches = [pipe._batch([d.copy() for d in docs]) for pipe in pipes]
    units = [pipe.model.attrs["spec"].pair_encoder.plan(pipe.model.get_ref("network").attrs["inputs"], batch, batch.flat_pairs()) for pipe, batch in zip(pipes, batches)]
    assert [len(u) for u in units] == [2, 14 + 1]  # 4 pairs (16 markers) fit beside this text
    first, second = (pipe.predict([d.copy() for d in docs]) for pipe in pipes)
    assert [len(p) for p in first[0]] == [len(p) for p in second[0]] == [56, 6]
    assert numpy.allclose(first[1], second[1], atol=1e-5)


def test_pairs_never_see_other_pairs_markers(levitated):
    nlp, _, _ = levitated
    pipe = nlp.get_pipe("roc_relations")
    doc = many_entities_doc(nlp, 4)  # 12 pairs
    batch = pipe._batch([doc])
    prep, encoder = pipe.model.get_ref("network").attrs["inputs"], pipe.model.attrs["spec"].pair_encoder
    pairs = batch.flat_pairs()
    units = encoder.plan(prep, batch, pairs)
    tensors, docs = encoder.tensors(prep, batch, pairs, units, None)
    mask = tensors["attention_mask"][0].numpy()  # (L, L)
    n_text = int((tensors["marker_type"][0] < 0).sum())
    assert len(units) == 1 and docs == [0] and mask.shape[0] == n_text + 4 * len(pairs)
    assert not mask[:n_text, n_text:].any()  # the text sees no marker
    for i in range(len(pairs)):
        first = n_text + 4 * i
        rows = mask[first : first + 4]
        assert rows[:, :n_text].all() and rows[:, first : first + 4].all()
        assert rows.sum() == 4 * (n_text + 4)  # and nothing else
    # each pair's start markers are read, at the positions of its mentions' first wordpieces
    assert tensors["head_marker"].tolist() == [n_text + 4 * i for i in range(len(pairs))]
    positions = tensors["position_ids"][0]
    assert (positions[tensors["head_marker"]] == tensors["head_span"][:, 0]).all()
    assert (positions[tensors["tail_marker"]] == tensors["tail_span"][:, 0]).all()
    assert (positions[tensors["head_marker"] + 1] == tensors["head_span"][:, 1]).all()


def test_long_docs_keep_every_pair(levitated):
    """A doc longer than the text encoder's max_length: each pair gets a window that
    holds both its mentions, and every pair is scored."""
    nlp, _, _ = levitated
    pipe = nlp.get_pipe("roc_relations")
    pipe.none_label = "__list_every_pair__"
    words = ["anna"] + ["the"] * 120 + ["red", "circle"] + ["the"] * 30 + ["ben"]
    doc = Doc(nlp.vocab, words=words)
    doc.spans["entities"] = [Span(doc, 0, 1, "PERSON"), Span(doc, 121, 123, "SHAPE"), Span(doc, 153, 154, "PERSON")]
    doc._.image = solid_image((1, 2, 3))
    try:
        out = nlp(doc)
    finally:
        pipe.none_label = "None"
    assert len(out._.relations) == 6


def test_levitated_add_relation(levitated, tmp_path):
    nlp = spacy.load(levitated[2])
    pipe = nlp.get_pipe("roc_relations")
    pipe.add_relation("sketched", DESCRIPTIONS["drew"])
    docs = [nlp(d) for d in fresh_docs(corpus_examples())]
    drew = [r for d in docs for r in d._.relations if r["label"] in ("drew", "sketched")]
    assert len(drew) == 4
    assert all(dict(r["alternatives"])["sketched" if r["label"] == "drew" else "drew"] == pytest.approx(r["score"], rel=1e-4) for r in drew)


def test_listener_pipeline_trains_round_trips_and_predicts_the_same(tiny_bert_dir, tmp_path):
    nlp, examples = trained_nlp(listener_nlp(tiny_bert_dir), n_steps=80)
    pipe = nlp.get_pipe("roc_relations")
    trf = nlp.get_pipe("transformer")
    assert pipe.model.get_ref("listener") in [node for node in pipe.model.walk()]
    assert trf.listening_components == ["roc_relations"]
    network = get_network(pipe.model)
    assert network.pairs.type_embeddings is network.relations.text_model.get_input_embeddings()
    docs = [nlp(d) for d in fresh_docs(examples)]
    assert relation_labels(docs) == gold_relations(examples)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [loaded(d)._.relations for d in fresh_docs(examples)] == [d._.relations for d in docs]
    # a relation by description alone
    loaded.get_pipe("roc_relations").add_relation("sketched", DESCRIPTIONS["drew"])
    labels = {r["label"] for d in loaded.pipe(fresh_docs(examples)) for r in d._.relations}
    assert "sketched" in labels or "drew" in labels


def test_listener_gradients_reach_the_transformer(tiny_bert_dir):
    import torch

    nlp = listener_nlp(tiny_bert_dir)
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": DESCRIPTIONS}
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    trf_model = nlp.get_pipe("transformer").model
    before = {name: p.detach().clone() for name, p in trf_model.layers[0].shims[0]._model.named_parameters()}
    optimizer = nlp.create_optimizer()
    losses = nlp.update(examples, sgd=optimizer)
    assert losses["transformer"] > 0  # the gradient from roc_relations
    # spaCy steps the transformer before roc_relations backpropagates into it, so the
    # gradient of one update is applied at the next
    nlp.update(examples, sgd=optimizer)
    after = dict(trf_model.layers[0].shims[0]._model.named_parameters())
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_pair_encoder_and_text_encoder_must_match(tiny_bert_dir):
    nlp = spacy.blank("en")
    bad = [
        model_config(tiny_bert_dir, pair_encoder={"@architectures": "spacy_roc.EntityPooling.v1"}),
        model_config(tiny_bert_dir, text_encoder=LISTENER),
        model_config(tiny_bert_dir, text_encoder=LISTENER, pair_encoder={"@architectures": "spacy_roc.EntityPooling.v1"}),
    ]
    for model in bad:
        with pytest.raises(ValueError, match=r"\[ROC_E037\]"):
            nlp.add_pipe("roc_relations", config={"model": model})
    with pytest.raises(ValueError, match=r"\[ROC_E036\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, pair_encoder={**LEVITATED, "max_length": 4})})


def test_relation_set_is_hashable():
    assert hash(RelationSet.from_dict({"None": ["x"]})) == hash(RelationSet.from_dict({"None": ["x"]}))
