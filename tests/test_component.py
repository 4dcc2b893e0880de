"""The roc_relations component: build, initialize, the trained pipeline, listed
pairs, the relation set, IO, training internals, and the model's
sub-layers. (Overfitting and save/load per pair encoder: test_overfitting.py.)"""
import warnings

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import SGD, Adam, fix_random_seed

from conftest import (
    BLANK,
    DESCRIPTIONS,
    NO_HF_DROPOUT,
    assert_same_relations,
    corpus_examples,
    fresh_docs,
    gold_relations,
    initialize_quietly,
    make_doc,
    make_nlp,
    model_config,
    perturb,
    relation_labels,
    to_example,
    train,
)
from spacy_roc.candidates import AllPairs, make_all_pairs
from spacy_roc.descriptions import Relation
from spacy_roc.inputs import RelationSet
from spacy_roc.model import roc_model
from spacy_roc.model.roc_model import clear_labels, get_network, is_initialized, label_vectors

GROUNDING = {"@architectures": "spacy_roc.EntityGrounding.v1"}
# DESCRIPTIONS with "drew" in the object form: a name, aliases and entity types
RELATIONS = {
    **DESCRIPTIONS,
    "drew": {"name": "drew", "descriptions": DESCRIPTIONS["drew"], "aliases": ["painted"], "head_types": ["person"], "tail_types": ["shape"]},
}


@pytest.fixture
def trained_copy(trained):
    """A copy of the trained pipeline, loaded from disk, for tests that change it."""
    return spacy.load(trained[2])


@pytest.fixture(scope="module")
def untrained(tiny_bert_dir):
    """(nlp, examples): the tiny model initialized on CORPUS with DESCRIPTIONS, its
    zero-initialized layers given random weights (see conftest.perturb)."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    perturb(nlp)
    return nlp, examples


def probabilities(nlp, docs):
    return nlp.get_pipe("roc_relations").predict([doc.copy() for doc in docs])[1]


def network_weights(nlp):
    return {name: p.detach().clone() for name, p in get_network(nlp.get_pipe("roc_relations").model).named_parameters()}


# -- build and initialize -------------------------------------------------------------


def test_add_pipe_with_defaults_builds_offline():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("roc_relations")
    assert pipe.labels == ()
    cfg = nlp.config["components"]["roc_relations"]
    assert cfg["model"]["@architectures"] == "spacy_roc.ROCModel.v2"
    assert cfg["model"]["text_encoder"]["name"] == "bert-base-uncased"
    assert cfg["model"]["image_encoder"]["name"] == "vit_base_patch16_224"
    # nothing is loaded at construction
    assert get_network(pipe.model) is None and not is_initialized(pipe.model)


def test_restrict_types_is_the_default_of_the_factory_and_the_function():
    """spacy_roc.all_pairs.v1 and the component's default candidates agree: only the
    entity-type pairs seen with a relation in training are proposed."""
    pipe = spacy.blank("en").add_pipe("roc_relations")
    assert pipe.candidates == make_all_pairs() == AllPairs(max_distance=None, restrict_types=True)
    doc = make_doc(BLANK, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [])
    entities = list(doc.ents)
    pairs = pipe.candidates(doc, entities, {("PERSON", "SHAPE")})
    assert [(h.label_, t.label_) for h, t in pairs] == [("PERSON", "SHAPE")]
    assert len(pipe.candidates(doc, entities, None)) == 2  # nothing learnt: every pair


def test_use_before_initialize_raises(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    examples = corpus_examples()
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp(fresh_docs(examples)[0])
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp.update(examples)


def test_serialization_before_initialize(tiny_bert_dir):
    data = make_nlp(tiny_bert_dir).to_bytes()
    nlp = make_nlp(tiny_bert_dir)
    nlp.from_bytes(data)
    assert get_network(nlp.get_pipe("roc_relations").model) is None
    assert not is_initialized(nlp.get_pipe("roc_relations").model)


def test_bad_settings_raise(tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"\[ROC_E006\]"):
        nlp.add_pipe("roc_relations", config={"threshold": 1.5})
    with pytest.raises(ValueError, match=r"\[ROC_E007\]"):
        nlp.add_pipe("roc_relations", config={"top_k": -1})
    with pytest.raises(ValueError, match=r"\[ROC_E005\]"):
        nlp.add_pipe("roc_relations", config={"on_missing_image": "blank"})
    with pytest.raises(ValueError, match=r"\[ROC_E017\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, head="mlp")})
    with pytest.raises(ValueError, match=r"\[ROC_E035\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, image_encoder=None, grounding=GROUNDING)})
    for type_weight in (-0.1, 0.5):
        with pytest.raises(ValueError, match=r"\[ROC_E041\]"):
            nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, type_weight=type_weight)})
    nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, type_weight=0.0)})


def test_encoders_that_cannot_be_loaded_are_coded_errors(tiny_bert_dir, tmp_path):
    no_model = {**model_config(tiny_bert_dir)["text_encoder"], "name": str(tmp_path)}  # a folder without a model
    nlp = make_nlp(tiny_bert_dir, text_encoder=no_model)
    with pytest.raises(ValueError, match=r"\[ROC_E021\]"):
        initialize_quietly(nlp, corpus_examples())
    no_timm = {**model_config(tiny_bert_dir)["image_encoder"], "name": "no_such_timm_model"}
    nlp = make_nlp(tiny_bert_dir, image_encoder=no_timm)
    with pytest.raises(ValueError, match=r"\[ROC_E022\].*no_such_timm_model"):
        initialize_quietly(nlp, corpus_examples())


def test_fusion_layers_zero_reads_no_image(tiny_bert_dir):
    with pytest.warns(UserWarning, match="ROC_W006"):
        nlp = make_nlp(tiny_bert_dir, fusion_layers=0)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    assert get_network(pipe.model).pairs.image is None and len(get_network(pipe.model).pairs.fusion) == 0
    docs = fresh_docs(examples)[:3]
    docs[0]._.image, docs[1]._.image = None, b"not an image"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        list(nlp.pipe(docs))
        nlp.update([Example(d, eg.reference) for d, eg in zip(fresh_docs(examples)[:3], examples)])
    assert not [w for w in record if "ROC_W00" in str(w.message)]
    assert (pipe.images.missing, pipe.images.failed) == (0, 0)


# -- the trained pipeline -------------------------------------------------------------


def test_the_image_decides(trained):
    """The last two docs have the same text and different gold relations: with their
    images they get them; without, they are the same input and get the same
    probabilities, even in batches padded differently."""
    nlp, examples, _ = trained
    pipe = nlp.get_pipe("roc_relations")
    docs = fresh_docs(examples)
    twins = docs[-2:]
    assert [r["label"] for d in nlp.pipe([doc.copy() for doc in twins]) for r in d._.relations] == ["above", "left_of"]
    pairs, with_image = pipe.predict([doc.copy() for doc in twins])
    assert [len(p) for p in pairs] == [2, 2] and not numpy.allclose(with_image[:2], with_image[2:], atol=1e-3)
    longer = make_doc(BLANK, "the red circle is near the blue square and the green triangle is near it", [(0, 3, "SHAPE"), (9, 12, "SHAPE")], [])
    for doc in twins + [longer]:
        doc._.image = None
    with pytest.warns(UserWarning, match="ROC_W001"):
        alone = pipe.predict([twins[0]])[1]
        padded = pipe.predict([longer, twins[1]])[1][2:]
    numpy.testing.assert_allclose(alone, padded, atol=1e-5)


def test_add_and_remove_relation_without_training(trained_copy):
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    examples = corpus_examples()
    before = relation_labels([nlp(d) for d in fresh_docs(examples)])
    # Removing "owns" and adding it back restores the predictions exactly.
    pipe.remove_relation("owns")
    assert "owns" not in relation_labels([nlp(d) for d in fresh_docs(examples)]).values()
    pipe.add_relation("owns", DESCRIPTIONS["owns"])
    assert relation_labels([nlp(d) for d in fresh_docs(examples)]) == before
    with pytest.raises(ValueError, match=r"\[ROC_E009\]"):
        pipe.add_relation("owns", ["anything"])
    assert pipe.add_label("owns") == 0
    assert pipe.add_label("/per/org/member_of") == 1
    assert pipe.relations["/per/org/member_of"] == ["per org member of"]


def test_listed_pairs_override_the_candidates(trained_copy):
    """A doc that lists doc._.relation_pairs is scored on exactly those pairs, in
    their order, even a pair the candidates would not propose; without them the
    candidates propose the pairs. The list is an input only: scoring twice scores the
    same pairs."""
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    pipe.candidates = make_all_pairs()  # restrict_types: SHAPE -> PERSON was never a relation
    doc = fresh_docs(corpus_examples())[4]  # PERSON (0, 1), SHAPE (2, 5), SHAPE (3, 5)

    def scored(doc):
        return [((h.start, h.end), (t.start, t.end)) for h, t in pipe.predict([doc])[0][0]]

    proposed = scored(doc)
    assert len(proposed) == 4 and ((2, 5), (0, 1)) not in proposed
    listed = [((2, 5), (0, 1)), ((0, 1), (3, 5))]
    doc._.relation_pairs = [[list(h), list(t)] for h, t in listed]
    assert scored(doc) == listed
    first = nlp(doc)._.relations
    assert {(tuple(r["head"]), tuple(r["tail"])) for r in first} <= set(listed)
    assert nlp(doc)._.relations == first and scored(doc) == listed
    doc._.relation_pairs = None
    assert scored(doc) == proposed


# -- the relation set ---------------------------------------------------------------


def test_descriptions_object_form_round_trips(tiny_bert_dir, tmp_path):
    """Relations given as objects (name, descriptions, aliases, entity types) are kept
    by the component, saved with the pipeline and loaded back, and score the same."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples, RELATIONS)
    pipe = nlp.get_pipe("roc_relations")
    drew = Relation("drew", tuple(DESCRIPTIONS["drew"]), ("painted",), ("person",), ("shape",))
    assert pipe.relation_set["drew"] == drew and pipe.relations == DESCRIPTIONS
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("roc_relations").relation_set == pipe.relation_set
    numpy.testing.assert_allclose(probabilities(loaded, fresh_docs(examples)), probabilities(nlp, fresh_docs(examples)), atol=1e-6)


def test_label_vectors_are_cached_and_frozen(untrained):
    """The label vectors of a relation set are computed once per network; the label
    encoder is frozen, so an update leaves them as they are."""
    nlp, examples = untrained
    pipe = nlp.get_pipe("roc_relations")
    relations = RelationSet.from_dict(pipe.relation_set)
    first = label_vectors(pipe.model, relations)
    cache = pipe.model.attrs["labels"]
    assert cache.key[0] == relations.relations and cache.key[1] is get_network(pipe.model)
    cached = cache.value
    assert label_vectors(pipe.model, relations) is not None and cache.value is cached
    pipe.update(examples, sgd=Adam(0.01))
    clear_labels(pipe.model)
    assert cache.value is None
    after = label_vectors(pipe.model, relations)
    assert cache.value is not cached
    for name in ("relation", "head_type", "tail_type"):
        assert torch.equal(first[name], after[name])
    bigger = RelationSet.from_dict({**pipe.relation_set, "likes": Relation("likes", ("the head likes the tail",))})
    assert label_vectors(pipe.model, bigger)["relation"].shape[0] == len(relations) + 1
    assert cache.key[0] == bigger.relations


# -- training internals ---------------------------------------------------------------


def test_averaged_parameters_are_used_and_saved(trained_copy, tmp_path):
    # `spacy train` evaluates and saves inside nlp.use_params(optimizer.averages)
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    network, shim = get_network(pipe.model), pipe.model.get_ref("network").shims[0]
    examples = corpus_examples()
    optimizer = Adam(0.01, use_averages=True)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    current = pipe.predict(fresh_docs(examples))[1]
    weights = {n: p.detach().clone() for n, p in network.named_parameters()}
    name = "pairs.residual.output.weight"
    with nlp.use_params(optimizer.averages):
        swapped = dict(network.named_parameters())[name].detach().numpy()
        assert swapped == pytest.approx(optimizer.averages[(shim.id, name)])
        averaged = pipe.predict(fresh_docs(examples))[1]
        nlp.to_disk(tmp_path / "p")
    assert not numpy.allclose(averaged, current, atol=1e-6)
    # the trained weights, and predictions made with them, come back after the context
    assert all((p == weights[n]).all() for n, p in network.named_parameters())
    assert numpy.allclose(pipe.predict(fresh_docs(examples))[1], current, atol=1e-6)
    saved = spacy.load(tmp_path / "p").get_pipe("roc_relations")
    assert numpy.allclose(saved.predict(fresh_docs(examples))[1], averaged, atol=1e-5)


def test_batches_without_pairs_images_or_entities(trained):
    nlp, examples, _ = trained
    docs = list(nlp.pipe([BLANK(""), make_doc(BLANK, "anna drew", [(0, 1, "PERSON")], []), BLANK("the red circle")]))
    assert [d._.relations for d in docs] == [[], [], []]
    lonely = to_example(BLANK, make_doc(BLANK, "anna drew", [(0, 1, "PERSON")], []))
    assert nlp.update([lonely]) == {"roc_relations": 0.0}
    # a doc's output does not depend on the other docs of its batch
    with_image, without = fresh_docs(examples)[0], fresh_docs(examples)[1]
    without._.image = None
    with pytest.warns(UserWarning, match="ROC_W001"):
        mixed = list(nlp.pipe([with_image.copy(), without.copy()], batch_size=2))
        alone = [nlp(with_image.copy()), nlp(without.copy())]
    assert_same_relations(mixed, alone)
    assert mixed[0]._.relations and mixed[0]._.image is not None and mixed[1]._.image is None


def test_get_loss_is_cross_entropy(trained):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe("roc_relations")
    pairs = [pipe.candidates(eg.predicted, list(eg.predicted.spans["entities"])) for eg in examples]
    n_pairs = sum(len(p) for p in pairs)
    logits = numpy.random.default_rng(0).normal(size=(n_pairs, len(pipe.labels))).astype("float32") * 3
    loss, d_logits = pipe.get_loss(examples, (pairs, logits))
    gold = [pipe.labels.index(r["label"]) for eg in examples for r in eg.reference._.relations]
    assert len(gold) == n_pairs
    torch_logits = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(torch_logits, torch.tensor(gold))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert isinstance(d_logits, pipe.model.ops.xp.ndarray) and d_logits.dtype == numpy.float32
    assert numpy.allclose(d_logits, torch_logits.grad.numpy(), atol=1e-6)


def test_a_batch_split_by_max_pairs_per_batch_updates_as_one(tiny_bert_dir):
    """A training batch runs in parts of at most max_pairs_per_batch pairs (whole
    docs) whose gradients add up, all parts matching each relation by the same drawn
    label text: one step gives the weights and the loss of the batch run whole."""
    examples = corpus_examples()  # 18 pairs; one doc has 6
    text_encoder = {**model_config(tiny_bert_dir)["text_encoder"], "config_overrides": NO_HF_DROPOUT}
    results = []
    for max_pairs in (4, 256):
        fix_random_seed(0)
        nlp = make_nlp(tiny_bert_dir, spans_key="entities", max_pairs_per_batch=max_pairs, sample_descriptions=True, text_encoder=text_encoder)
        initialize_quietly(nlp, examples, DESCRIPTIONS)
        perturb(nlp)
        pipe = nlp.get_pipe("roc_relations")
        parts = [part.n_pairs for part, _ in pipe._parts(pipe._batch([eg.predicted for eg in examples]))]
        before = network_weights(nlp)
        loss = pipe.update(examples, sgd=SGD(0.5, grad_clip=0.0))["roc_relations"]
        results.append((parts, before, network_weights(nlp), loss))
    (parts, before, split, split_loss), (whole_parts, whole_before, whole, whole_loss) = results
    assert parts == [4, 4, 6, 4] and whole_parts == [18]
    assert all(torch.equal(before[name], whole_before[name]) for name in before)
    assert any(not torch.equal(before[name], whole[name]) for name in whole)
    assert split_loss == pytest.approx(whole_loss, rel=1e-5)
    for name in whole:
        assert torch.allclose(split[name], whole[name], atol=1e-5), name


@pytest.mark.parametrize("sample", [True, False])
def test_sample_descriptions_matches_each_relation_by_one_text_in_training(tiny_bert_dir, monkeypatch, sample):
    """sample_descriptions: a training step matches each relation by one of its texts
    (name, descriptions, aliases), drawn at random; without it, and always at
    inference, by the normalised mean of their vectors."""
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", sample_descriptions=sample)
    examples = corpus_examples()
    initialize_quietly(nlp, examples, RELATIONS)
    pipe = nlp.get_pipe("roc_relations")
    calls = []

    def spy(model, relations, sample=False, draw=None):
        calls.append(sample)
        return label_vectors(model, relations, sample, draw)

    monkeypatch.setattr(roc_model, "label_vectors", spy)
    pipe.update(examples)
    list(nlp.pipe(fresh_docs(examples)))
    assert calls == [sample, False]

    def text_vector(text):
        return label_vectors(pipe.model, RelationSet(("x",), (Relation(text, ()),)))["relation"][0]

    relations = RelationSet.from_dict(pipe.relation_set)
    mean = label_vectors(pipe.model, relations)["relation"]
    draws = [label_vectors(pipe.model, relations, sample=True, draw=seed)["relation"] for seed in range(20)]
    same_seed = label_vectors(pipe.model, relations, sample=True, draw=3)["relation"]
    assert torch.equal(same_seed, draws[3])
    for row, relation in enumerate(relations.relations):
        texts = torch.stack([text_vector(text) for text in relation.texts])
        assert torch.allclose(mean[row], torch.nn.functional.normalize(texts.sum(0), dim=0), atol=1e-5)
        distances = [torch.cdist(draw[row][None], texts)[0] for draw in draws]
        assert all(d.min() < 1e-5 for d in distances)  # each draw is one of its texts
        assert len({int(d.argmin()) for d in distances}) >= min(len(relation.texts), 2)


def test_drop_is_honoured(tiny_bert_dir):
    """`drop` is the dropout rate of the fusion layers and the residual head: with 0
    a training pass is deterministic, with 0.5 it is not (the text encoder's own
    dropout and the drawing of label texts are off here)."""
    text_encoder = {**model_config(tiny_bert_dir)["text_encoder"], "config_overrides": NO_HF_DROPOUT}
    nlp = make_nlp(tiny_bert_dir, text_encoder=text_encoder, sample_descriptions=False)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    perturb(nlp)  # the residual head and the fusion branches reach the output
    pipe = nlp.get_pipe("roc_relations")
    batch = pipe._batch([eg.predicted for eg in examples])

    def logits(drop):
        pipe.update(examples, drop=drop, sgd=None)  # sets the rate, as spacy train does
        return pipe.model.begin_update(batch)[0]

    assert numpy.array_equal(logits(0.0), logits(0.0))
    assert not numpy.allclose(logits(0.5), logits(0.0), atol=1e-4)
    assert pipe.model.get_ref("network").attrs["dropout_rate"] == 0.0


def test_fusion_layer_starts_as_the_identity():
    from spacy_roc.layers.fusion import FusionLayer

    layer = FusionLayer(16, 2)
    states = torch.randn(2, 5, 16)
    keep = torch.ones(2, 5, dtype=torch.bool)
    assert torch.equal(layer(states, keep, 0.3), states)


@pytest.mark.parametrize("grounding", [None, GROUNDING])
def test_every_parameter_gets_a_gradient(tiny_bert_dir, grounding):
    """After one optimizer step (which moves the zeroed outputs), every trainable
    parameter, the image tower and grounding included, gets a finite, non-zero
    gradient; the label encoder is frozen and gets none. The object slots get
    gradients only from docs with image objects (tests/test_objects.py), and this
    corpus has none."""
    nlp = make_nlp(tiny_bert_dir, grounding=grounding)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    pipe.update(examples, sgd=nlp.create_optimizer())
    network = get_network(pipe.model)
    network.zero_grad()
    pipe.update(examples, sgd=None)
    missing = [n for n, p in network.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert missing == [n for n, p in network.named_parameters() if n.startswith("pairs.objects.")]
    assert missing
    assert all(torch.isfinite(p.grad).all() for n, p in network.named_parameters() if p.requires_grad and n not in missing)
    frozen = list(network.labels.parameters())
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen)
    assert (network.pairs.grounding is not None) == (grounding is not None)


def test_weights_are_saved_beside_the_model(tiny_bert_dir, tmp_path):
    """to_disk writes the network's weights to network_weights.pt (the model file keeps
    only configs and tokenizers); from_disk reads them back, and a folder without
    them is a coded error."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    perturb(nlp)
    nlp.get_pipe("roc_relations").none_label = "__list_every_pair__"
    docs = [nlp(d) for d in fresh_docs(examples)]
    nlp.to_disk(tmp_path / "p")
    folder = tmp_path / "p" / "roc_relations"
    weights = (folder / "network_weights.pt").stat().st_size
    n_weights = sum(p.numel() for p in get_network(nlp.get_pipe("roc_relations").model).state_dict().values())
    assert weights > 4 * n_weights > (folder / "model").stat().st_size
    loaded = spacy.load(tmp_path / "p")
    loaded.get_pipe("roc_relations").none_label = "__list_every_pair__"
    assert_same_relations([loaded(d) for d in fresh_docs(examples)], docs)
    (folder / "network_weights.pt").unlink()
    with pytest.raises(ValueError, match=r"\[ROC_E051\]"):
        spacy.load(tmp_path / "p")


def test_grounding_round_trips(tiny_bert_dir, tmp_path):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", grounding=GROUNDING)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    perturb(nlp)
    pipe = nlp.get_pipe("roc_relations")
    pipe.none_label = "__list_every_pair__"
    docs = [nlp(d) for d in fresh_docs(examples)]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    loaded.get_pipe("roc_relations").none_label = "__list_every_pair__"
    assert get_network(loaded.get_pipe("roc_relations").model).pairs.grounding is not None
    assert_same_relations([loaded(d) for d in fresh_docs(examples)], docs)
    assert sum(len(d._.relations) for d in docs) == 2 * 6 + 6


def test_classifier_head_has_a_fixed_label_set(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, head="classifier", spans_key="entities")
    initialize_quietly(nlp, corpus_examples())
    pipe = nlp.get_pipe("roc_relations")
    network = get_network(pipe.model)
    assert network.classifier.out_features == len(pipe.labels)
    assert label_vectors(pipe.model, RelationSet.from_dict(pipe.relation_set)) is None
    changes = [
        lambda: pipe.add_relation("likes", ["the head likes the tail"]),
        lambda: pipe.add_label("likes"),
        lambda: pipe.remove_relation("drew"),
    ]
    for change in changes:
        with pytest.raises(ValueError, match=r"\[ROC_E011\]"):
            change()
    assert "likes" not in pipe.labels and "drew" in pipe.labels


@pytest.mark.slow
def test_classifier_head_learns_the_corpus(tiny_bert_dir):
    """The ablation head, on the same inputs, overfits CORPUS too."""
    nlp = make_nlp(tiny_bert_dir, head="classifier", spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    train(nlp, examples, n_steps=60)
    assert relation_labels([nlp(d) for d in fresh_docs(examples)]) == gold_relations(examples)


# -- sub-layers -----------------------------------------------------------------------


def _grounding_with_identity_attention(width):
    """An EntityGrounding whose query and key are the identity and whose projection
    reads the six location numbers back out (head row/col, tail row/col, difference)."""
    from spacy_roc.layers.grounding import EntityGrounding

    grounding = EntityGrounding(width, width, width)
    with torch.no_grad():
        for layer in (grounding.query, grounding.key):
            layer.weight.copy_(torch.eye(width))
            layer.bias.zero_()
        grounding.proj.weight.zero_()
        grounding.proj.weight[:6, :6] = torch.eye(6)
        grounding.proj.bias.zero_()
    return grounding


def test_entity_grounding_reads_where_each_mention_is():
    """Each mention's location is the grid location of the patch it matches; the
    class token, masked patches and pairs without image do not count."""
    from spacy_roc.layers.image import token_locations

    width = 8
    grounding = _grounding_with_identity_attention(width)
    locations, is_patch = token_locations((1, 2, 2), torch.device("cpu"))  # class token + 2x2 grid
    assert locations.tolist() == [[0, 0], [-1, -1], [-1, 1], [1, -1], [1, 1]]
    assert is_patch.tolist() == [False, True, True, True, True]
    colours = torch.eye(width) * 20.0  # token i "has colour" i
    image = colours[[0, 1, 2, 3, 4]].unsqueeze(0).repeat(2, 1, 1)  # (P=2, T=5, Dt)
    head, tail = colours[[2, 2]], colours[[3, 3]]  # mentions of colours 2 and 3 (P, Dw)
    keep = torch.ones(2, 5, dtype=torch.bool)
    keep[1] = False  # the second pair has no image
    with torch.no_grad():
        feature = grounding(head, tail, image, keep, (1, 2, 2))
        no_images = grounding(head, tail, None, None, None)
    # patches 2 (top right) and 3 (bottom left)
    assert feature[0, :6].tolist() == pytest.approx([-1.0, 1.0, 1.0, -1.0, -2.0, 2.0], abs=1e-3)
    assert feature[1].abs().max().item() == 0.0
    assert no_images.abs().max().item() == 0.0 and no_images.shape == feature.shape
    # a mention matching only the (excluded) class token is placed at the grid mean
    with torch.no_grad():
        assert grounding(colours[[0, 0]], tail, image, keep, (1, 2, 2))[0, :2].tolist() == pytest.approx([0.0, 0.0], abs=1e-3)


def test_mention_vectors_are_means_of_layer_normed_states():
    from spacy_roc.layers.grounding import mention_vectors

    states = torch.randn(2, 6, 4)
    spans = torch.tensor([[1, 3], [0, 0], [2, 5]])
    rows = torch.tensor([0, 1, 1])
    normed = torch.nn.functional.layer_norm(states, (4,))
    expected = torch.stack([normed[0, 1:4].mean(0), normed[1, 0], normed[1, 2:6].mean(0)])
    assert torch.allclose(mention_vectors(states, rows, spans), expected, atol=1e-6)


def test_entity_grounding_gives_finite_gradients_without_images():
    grounding = _grounding_with_identity_attention(8)
    head, tail, image = torch.randn(3, 8), torch.randn(3, 8), torch.randn(3, 4, 8)
    keep = torch.zeros(3, 4, dtype=torch.bool)
    grounding(head, tail, image, keep, (0, 2, 2)).sum().backward()
    for param in grounding.parameters():
        assert torch.isfinite(param.grad).all()


def test_entity_grounding_reads_the_mention_words_wherever_they_are(tiny_bert_dir):
    """The grounding query comes from the mention's word embeddings: the same words at
    another place, in another context, are grounded the same way; other words are not."""
    from spacy_roc.layers.grounding import mention_vectors

    nlp = make_nlp(tiny_bert_dir, grounding=GROUNDING)
    initialize_quietly(nlp, corpus_examples())
    perturb(nlp)  # grounding's projection starts at zero
    pairs = get_network(nlp.get_pipe("roc_relations").model).pairs
    embed = pairs.text_model.get_input_embeddings()
    image = torch.randn(1, 5, pairs.grounding.key.in_features)  # class token + 2x2
    keep = torch.ones(1, 5, dtype=torch.bool)
    mention, tail = [7, 8], [9]

    def ground(ids, head_span):
        words = embed(torch.tensor([ids]))
        row = torch.tensor([0])
        with torch.no_grad():
            head_vec = mention_vectors(words, row, torch.tensor([head_span]))
            tail_vec = mention_vectors(words, row, torch.tensor([[6, 6]]))
            return pairs.grounding(head_vec, tail_vec, image, keep, (1, 2, 2))

    early = ground([1, *mention, 20, 21, 22, *tail, 2], [1, 2])
    late = ground([1, 23, 24, 25, *mention, *tail, 2], [4, 5])
    other = ground([1, 23, 24, 25, 10, 11, *tail, 2], [4, 5])
    assert torch.allclose(early, late, atol=1e-5)
    assert not torch.allclose(early, other, atol=1e-3)


def test_image_token_grid():
    import timm
    from spacy_roc.layers.image import ImageTokenizer, token_grid

    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32)
    tokens, (n_prefix, rows, cols) = ImageTokenizer(backbone, 8)(torch.zeros(1, 3, 32, 32))
    assert (n_prefix, rows * cols) == (backbone.num_prefix_tokens, backbone.patch_embed.num_patches)
    assert tokens.shape == (1, n_prefix + rows * cols, 8)
    assert token_grid(backbone, torch.zeros(1, 8, 3, 5)) == (0, 3, 5)  # a CNN feature map
    assert token_grid(torch.nn.Identity(), torch.zeros(1, 7, 8)) is None  # 7 tokens: no grid


def test_entity_grounding_needs_a_patch_grid(tiny_bert_dir):
    """A backbone whose tokens form no grid raises ROC_E033 with grounding on, and is
    fine with grounding off."""
    for grounding in (GROUNDING, None):
        nlp = make_nlp(tiny_bert_dir, grounding=grounding)
        examples = corpus_examples()
        initialize_quietly(nlp, examples)
        perturb(nlp)  # trained: the relations take the trained pass, which grounds
        pipe = nlp.get_pipe("roc_relations")
        pipe.none_label = "__list_every_pair__"
        backbone = get_network(pipe.model).pairs.image.backbone
        plain = backbone.forward_features
        backbone.forward_features = lambda pixels: plain(pixels)[:, :-1]  # drop a patch
        if grounding:
            with pytest.raises(ValueError, match=r"\[ROC_E033\]"):
                nlp(fresh_docs(examples)[0])
        else:
            assert len(nlp(fresh_docs(examples)[0])._.relations) == 2


