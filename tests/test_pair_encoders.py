"""The pair encoders besides the inline markers: levitated markers (one pass per doc,
split over passes when the markers do not fit) and a shared spaCy transformer
(EntityPooling behind a TransformerListener). Training and IO per encoder:
test_overfitting.py."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span

from conftest import (
    DESCRIPTIONS,
    ENTITY_POOLING,
    LEVITATED,
    LISTENER,
    corpus_examples,
    fresh_docs,
    initialize_quietly,
    listener_nlp,
    make_nlp,
    model_config,
    perturb,
    solid_image,
)
from spacy_roc.inputs import RelationSet
from spacy_roc.model.roc_model import get_network


@pytest.fixture(scope="module")
def levitated(tiny_bert_dir, tmp_path_factory):
    """(nlp, path): the tiny model with levitated markers, initialized on CORPUS, its
    zero-initialized layers given random weights (so that the markers change the
    output), and saved."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", pair_encoder=LEVITATED)
    initialize_quietly(nlp, corpus_examples(), DESCRIPTIONS)
    perturb(nlp)
    path = tmp_path_factory.mktemp("levitated") / "pipeline"
    nlp.to_disk(path)
    return nlp, path


def many_entities_doc(nlp, n_entities):
    words = ("anna drew the red circle and ben owns the blue square " * 4).split()
    doc = Doc(nlp.vocab, words=words)
    doc.spans["entities"] = [Span(doc, i, i + 1, label="PERSON" if i % 2 else "SHAPE") for i in range(0, 2 * n_entities, 2)]
    doc._.image = solid_image((0, 200, 0))
    return doc


def planned(pipe, docs):
    """The batch of the docs, its flat pairs, and the pair encoder's units and inputs."""
    pipe.predict([doc.copy() for doc in docs[:1]])  # the featurizer's inputs are made on first use
    batch = pipe._batch([doc.copy() for doc in docs])
    inputs, encoder = pipe.model.get_ref("featurizer").attrs["inputs"], pipe.model.attrs["spec"].pair_encoder
    pairs = batch.flat_pairs()
    return batch, pairs, encoder.plan(inputs, batch, pairs), inputs


def test_a_doc_whose_markers_do_not_fit_is_split_and_scored_completely(levitated):
    """With passes of 64 wordpieces, a doc of 44 wordpieces with 8 entities (56 pairs,
    112 markers) needs 7 passes of 9 pairs (18 markers beside the text and its 2
    special tokens); every pair is scored, exactly as in one pass (the
    text never sees a marker, and no pair sees another pair's markers)."""
    _, path = levitated
    one_pass = spacy.load(path)
    split = spacy.load(path, config={"components": {"roc_relations": {"model": {"pair_encoder": {"max_length": 64}}}}})
    docs = [many_entities_doc(one_pass, 8), fresh_docs(corpus_examples())[4]]
    pipes = [nlp.get_pipe("roc_relations") for nlp in (one_pass, split)]
    units = [planned(pipe, docs)[2] for pipe in pipes]
    assert [len(u) for u in units] == [2, 7 + 1]
    first, second = (pipe.predict([d.copy() for d in docs]) for pipe in pipes)
    assert [len(p) for p in first[0]] == [len(p) for p in second[0]] == [56, 6]
    assert numpy.allclose(first[1], second[1], atol=1e-5)


def test_pairs_never_see_other_pairs_markers(levitated):
    nlp, _ = levitated
    pipe = nlp.get_pipe("roc_relations")
    batch, pairs, units, inputs = planned(pipe, [many_entities_doc(nlp, 4)])  # 12 pairs
    features = pipe.model.attrs["spec"].pair_encoder.featurize(inputs, batch, pairs, units, None)
    mask = features.attention_mask[0]  # (L, L)
    n_text = int((features.marker_type[0] < 0).sum())
    assert len(units) == 1 and features.sequence_docs == [0] and mask.shape[0] == n_text + 2 * len(pairs)
    assert not mask[:n_text, n_text:].any()  # the text sees no marker
    for i in range(len(pairs)):
        first = n_text + 2 * i
        rows = mask[first : first + 2]
        assert rows[:, :n_text].all() and rows[:, first : first + 2].all()
        assert rows.sum() == 2 * (n_text + 2)  # and nothing else
    # each pair's two markers are read, at the positions of its mentions' first wordpieces
    assert features.head_marker.tolist() == [n_text + 2 * i for i in range(len(pairs))]
    assert (features.tail_marker == features.head_marker + 1).all()
    positions = features.position_ids[0]
    assert (positions[features.head_marker] == features.head_span[:, 0]).all()
    assert (positions[features.tail_marker] == features.tail_span[:, 0]).all()
    # each marker token is typed by its own entity: the type name's wordpieces
    batch, pairs, units, inputs = planned(pipe, [fresh_docs(corpus_examples())[4]])  # PERSON, SHAPE, SHAPE
    features = pipe.model.attrs["spec"].pair_encoder.featurize(inputs, batch, pairs, units, None)
    tokenizer = inputs.pair_tokenizer.tokenizer
    names = [tokenizer.decode(ids[mask == 1]) for ids, mask in zip(features.type_ids, features.type_mask)]
    n_text = int((features.marker_type[0] < 0).sum())
    typed = [names[t] for t in features.marker_type[0, n_text:]]
    assert typed == [span.label_.lower() for _, head, tail in pairs for span in (head, tail)]
    assert sorted(set(typed)) == ["person", "shape"]


def test_long_docs_keep_every_pair(levitated):
    """A doc longer than the text encoder's max_length: each pair gets a window that
    holds both its mentions, and every pair is scored."""
    nlp, _ = levitated
    pipe = nlp.get_pipe("roc_relations")
    words = ["anna"] + ["the"] * 120 + ["red", "circle"] + ["the"] * 30 + ["ben"]
    doc = Doc(nlp.vocab, words=words)
    doc.spans["entities"] = [Span(doc, 0, 1, "PERSON"), Span(doc, 121, 123, "SHAPE"), Span(doc, 153, 154, "PERSON")]
    doc._.image = solid_image((1, 2, 3))
    pipe.none_label = "__list_every_pair__"
    try:
        out = nlp(doc)
    finally:
        pipe.none_label = "None"
    assert len(out._.relations) == 6


def test_listener_shares_the_transformer_and_its_gradients_reach_it(tiny_bert_dir):
    import torch

    nlp = listener_nlp(tiny_bert_dir)
    examples = corpus_examples()
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    pipe, trf = nlp.get_pipe("roc_relations"), nlp.get_pipe("transformer")
    assert pipe.model.get_ref("listener") in list(pipe.model.walk())
    assert trf.listening_components == ["roc_relations"]
    network = get_network(pipe.model)
    assert network.pairs.type_embeddings is network.labels.text_model.get_input_embeddings()
    trf_model = trf.model
    before = {name: p.detach().clone() for name, p in trf_model.layers[0].shims[0]._model.named_parameters()}
    optimizer = nlp.create_optimizer()
    losses = nlp.update(examples, sgd=optimizer)
    assert losses["transformer"] > 0  # the gradient from roc_relations
    # spaCy steps the transformer before roc_relations backpropagates into it, so the
    # gradient of one update is applied at the next
    nlp.update(examples, sgd=optimizer)
    after = dict(trf_model.layers[0].shims[0]._model.named_parameters())
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_listener_initialized_before_its_transformer_raises(tiny_bert_dir):
    nlp = listener_nlp(tiny_bert_dir)
    examples = corpus_examples()
    with pytest.raises(ValueError, match=r"\[ROC_E038\]"):
        nlp.get_pipe("roc_relations").initialize(lambda: examples, nlp=nlp, descriptions=DESCRIPTIONS)


def test_pair_encoder_and_text_encoder_must_match(tiny_bert_dir):
    nlp = spacy.blank("en")
    bad = [
        model_config(tiny_bert_dir, pair_encoder=ENTITY_POOLING),
        model_config(tiny_bert_dir, text_encoder=LISTENER),
        model_config(tiny_bert_dir, text_encoder=LISTENER, pair_encoder=ENTITY_POOLING),
    ]
    for model in bad:
        with pytest.raises(ValueError, match=r"\[ROC_E037\]"):
            nlp.add_pipe("roc_relations", config={"model": model})
    with pytest.raises(ValueError, match=r"\[ROC_E036\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, pair_encoder={**LEVITATED, "max_length": 4})})


def test_relation_set_is_hashable():
    a, b = ({"None": ["x"], "r": ["y", "z"]} for _ in range(2))
    from spacy_roc.descriptions import load_relations

    assert hash(RelationSet.from_dict(load_relations(a))) == hash(RelationSet.from_dict(load_relations(b)))
    assert RelationSet.from_dict(load_relations(a)) != RelationSet.from_dict(load_relations({"None": ["x"], "r": ["y"]}))
