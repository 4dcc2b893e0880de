"""The roc_relations component: build, initialize, the trained pipeline, IO, the
relation set, training internals, and the model's sub-layers."""
import warnings

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

from conftest import (
    BLANK,
    DESCRIPTIONS,
    corpus_examples,
    fresh_docs,
    gold_relations,
    initialize_quietly,
    make_doc,
    make_nlp,
    model_config,
    relation_labels,
    to_example,
    train,
)
from spacy_roc.model.roc_model import get_network, is_initialized

GROUNDING = {"@architectures": "spacy_roc.EntityGrounding.v1"}


def assert_same_relations(docs_a, docs_b):
    """Same records; scores equal up to float noise from different batch padding."""
    assert len(docs_a) == len(docs_b)
    for a, b in zip(docs_a, docs_b):
        assert [(r["head"], r["tail"], r["label"]) for r in a._.relations] == [
            (r["head"], r["tail"], r["label"]) for r in b._.relations
        ]
        for ra, rb in zip(a._.relations, b._.relations):
            assert ra["score"] == pytest.approx(rb["score"], abs=1e-5)
            assert [x[0] for x in ra["alternatives"]] == [x[0] for x in rb["alternatives"]]


@pytest.fixture
def trained_copy(trained):
    """A copy of the trained pipeline, loaded from disk, for tests that change it."""
    return spacy.load(trained[2])


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


def test_use_before_initialize_raises(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    examples = corpus_examples()
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp(fresh_docs(examples)[0])
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp.update(examples)


def test_trained_pipeline_predicts_the_gold_relations(trained):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe("roc_relations")
    docs = [nlp(doc) for doc in fresh_docs(examples)]
    assert relation_labels(docs) == gold_relations(examples)
    assert pipe.relations == DESCRIPTIONS and pipe.labels[0] == "None"
    for doc in docs:
        for r in doc._.relations:
            assert 0.5 < r["score"] <= 1.0
            assert len(r["alternatives"]) == min(pipe.top_k, len(pipe.labels) - 1)
    # the overlapping mentions (2, 5) and (3, 5) each got their relation
    assert {(r["head"][0], r["tail"][0]) for r in docs[4]._.relations} == {(0, 2), (0, 3)}


def test_the_image_decides(trained):
    """The last two docs have the same text and different gold relations: without
    their images they get the same output."""
    nlp, examples, _ = trained
    docs = fresh_docs(examples)[-2:]
    with_image = [nlp(doc.copy()) for doc in docs]
    assert [r["label"] for d in with_image for r in d._.relations] == ["above", "left_of"]
    for doc in docs:
        doc._.image = None
    with pytest.warns(UserWarning, match="ROC_W001"):
        text_only = [nlp(doc) for doc in docs]
    assert text_only[0]._.relations == text_only[1]._.relations


def test_saved_pipeline_and_pipe_predict_the_same(trained):
    nlp, examples, path = trained
    docs = [nlp(doc) for doc in fresh_docs(examples)]
    loaded = spacy.load(path)
    assert [loaded(doc)._.relations for doc in fresh_docs(examples)] == [doc._.relations for doc in docs]
    assert_same_relations(list(loaded.pipe(fresh_docs(examples), batch_size=3)), docs)
    assert loaded.get_pipe("roc_relations").relations == nlp.get_pipe("roc_relations").relations


def test_add_and_remove_relation_without_training(trained_copy):
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    examples = corpus_examples()
    before = relation_labels([nlp(d) for d in fresh_docs(examples)])
    # A synonym of "drew" (same descriptions) gets exactly the same prototype, so it
    # takes half of drew's probability: predictions change with no training step.
    pipe.add_relation("sketched", DESCRIPTIONS["drew"])
    docs = [nlp(d) for d in fresh_docs(examples)]
    drew = [r for doc in docs for r in doc._.relations if r["label"] in ("drew", "sketched")]
    assert len(drew) == 4
    for r in drew:
        other = "sketched" if r["label"] == "drew" else "drew"
        assert dict(r["alternatives"])[other] == pytest.approx(r["score"], rel=1e-4)
    # Removing "owns" and adding it back restores the predictions exactly.
    pipe.remove_relation("sketched")
    pipe.remove_relation("owns")
    assert "owns" not in relation_labels([nlp(d) for d in fresh_docs(examples)]).values()
    pipe.add_relation("owns", DESCRIPTIONS["owns"])
    assert relation_labels([nlp(d) for d in fresh_docs(examples)]) == before
    with pytest.raises(ValueError, match=r"\[ROC_E009\]"):
        pipe.add_relation("owns", ["anything"])
    assert pipe.add_label("owns") == 0
    assert pipe.add_label("/per/org/member_of") == 1
    assert pipe.relations["/per/org/member_of"] == ["per org member of"]


def test_annotated_pairs_are_an_input_only(trained_copy):
    """Scoring the listed pairs twice scores the same pairs: the predictions (which
    leave out "None" pairs) never become the next run's input."""
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    pipe.candidates = spacy.registry.misc.get("spacy_roc.annotated_pairs.v1")()
    doc = fresh_docs(corpus_examples())[4]  # 3 entities, 6 ordered pairs, 2 relations
    doc._.relation_pairs = [(r["head"], r["tail"]) for r in corpus_examples()[4].reference._.relations]
    first = nlp(doc)._.relations
    scored_first = len(pipe.predict([doc])[0][0])
    second = nlp(doc)._.relations
    assert len(pipe.predict([doc])[0][0]) == scored_first == 6
    assert second == first and len(first) == 2
    doc._.relation_pairs = None
    with pytest.warns(UserWarning, match="ROC_W011"):
        assert nlp(doc)._.relations == []


def test_prototype_cache_is_cleared_when_the_weights_change(trained_copy):
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    cache = pipe.model.attrs["prototypes"]
    examples = corpus_examples()
    first = pipe.predict(fresh_docs(examples))[1]
    assert cache.value is not None and cache.key is not None
    train(nlp, examples, n_steps=1)
    assert cache.value is None
    second = pipe.predict(fresh_docs(examples))[1]
    assert not numpy.allclose(first, second, atol=1e-7)
    cache.clear()  # a cached prediction equals a fresh one
    assert numpy.allclose(pipe.predict(fresh_docs(examples))[1], second, atol=1e-6)


def test_averaged_parameters_are_used_and_saved(trained_copy, tmp_path):
    # `spacy train` evaluates and saves inside nlp.use_params(optimizer.averages)
    nlp = trained_copy
    pipe = nlp.get_pipe("roc_relations")
    network, shim = get_network(pipe.model), pipe.model.layers[0].shims[0]
    examples = corpus_examples()
    optimizer = Adam(0.01, use_averages=True)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    current = pipe.predict(fresh_docs(examples))[1]
    weights = {n: p.detach().clone() for n, p in network.named_parameters()}
    name = "pairs.pair_head.hidden.weight"
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
    import torch

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


def test_drop_is_honoured(tiny_bert_dir):
    """`drop` is the dropout rate of the fusion layers and the pair MLP: with 0 a
    training pass is deterministic, with 0.5 it is not (the text encoder's own
    dropout is off here)."""
    text_encoder = dict(model_config(tiny_bert_dir)["text_encoder"])
    text_encoder["config_overrides"] = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    nlp = make_nlp(tiny_bert_dir, text_encoder=text_encoder)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    train(nlp, examples, n_steps=2)  # move the zero-initialised branch outputs
    pipe = nlp.get_pipe("roc_relations")
    batch = pipe._batch([eg.predicted for eg in examples])

    def logits(drop):
        pipe.update(examples, drop=drop, sgd=None)  # sets the rate, as spacy train does
        return pipe.model.begin_update(batch)[0]

    assert numpy.array_equal(logits(0.0), logits(0.0))
    assert not numpy.allclose(logits(0.5), logits(0.0), atol=1e-4)
    assert pipe.model.layers[0].attrs["dropout_rate"] == 0.0


def test_fusion_layer_starts_as_the_identity():
    import torch

    from spacy_roc.layers.fusion import FusionLayer

    layer = FusionLayer(16, 2)
    states = torch.randn(2, 5, 16)
    keep = torch.ones(2, 5, dtype=torch.bool)
    assert torch.equal(layer(states, keep, 0.3), states)


@pytest.mark.parametrize("grounding", [None, GROUNDING])
def test_every_parameter_gets_a_gradient(tiny_bert_dir, grounding):
    """After one optimizer step (which moves the zeroed fusion outputs), every
    parameter, the image tower and grounding included, gets a finite, non-zero
    gradient."""
    import torch

    nlp = make_nlp(tiny_bert_dir, grounding=grounding)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    pipe.update(examples, sgd=nlp.create_optimizer())
    network = get_network(pipe.model)
    network.zero_grad()
    pipe.update(examples, sgd=None)
    missing = [n for n, p in network.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for p in network.parameters())
    assert (network.pairs.grounding is not None) == (grounding is not None)


def test_grounding_round_trips(tiny_bert_dir, tmp_path):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", grounding=GROUNDING)
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    train(nlp, examples, n_steps=2)
    pipe = nlp.get_pipe("roc_relations")
    pipe.none_label = "__list_every_pair__"
    docs = [nlp(d) for d in fresh_docs(examples)]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    loaded.get_pipe("roc_relations").none_label = "__list_every_pair__"
    assert get_network(loaded.get_pipe("roc_relations").model).pairs.grounding is not None
    assert_same_relations([loaded(d) for d in fresh_docs(examples)], docs)
    assert sum(len(d._.relations) for d in docs) == 2 * 6 + 6


def test_classifier_head_ablation(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, head="classifier", spans_key="entities")
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    network = get_network(pipe.model)
    assert network.relations is None and network.classifier.out_features == len(pipe.labels)
    train(nlp, examples, n_steps=60)
    assert relation_labels([nlp(d) for d in fresh_docs(examples)]) == gold_relations(examples)
    for change in (lambda: pipe.add_relation("likes", ["the head likes the tail"]), lambda: pipe.add_label("likes"), lambda: pipe.remove_relation("drew")):
        with pytest.raises(ValueError, match=r"\[ROC_E011\]"):
            change()
    assert "likes" not in pipe.labels and "drew" in pipe.labels


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


# -- sub-layers -----------------------------------------------------------------------


def _grounding_with_identity_attention(width):
    """An EntityGrounding whose query and key are the identity and whose projection
    reads the six location numbers back out (head row/col, tail row/col, difference)."""
    import torch

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
    import torch

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
    import torch

    from spacy_roc.layers.grounding import mention_vectors

    states = torch.randn(2, 6, 4)
    spans = torch.tensor([[1, 3], [0, 0], [2, 5]])
    rows = torch.tensor([0, 1, 1])
    normed = torch.nn.functional.layer_norm(states, (4,))
    expected = torch.stack([normed[0, 1:4].mean(0), normed[1, 0], normed[1, 2:6].mean(0)])
    assert torch.allclose(mention_vectors(states, rows, spans), expected, atol=1e-6)


def test_entity_grounding_gives_finite_gradients_without_images():
    import torch

    grounding = _grounding_with_identity_attention(8)
    head, tail, image = torch.randn(3, 8), torch.randn(3, 8), torch.randn(3, 4, 8)
    keep = torch.zeros(3, 4, dtype=torch.bool)
    grounding(head, tail, image, keep, (0, 2, 2)).sum().backward()
    for param in grounding.parameters():
        assert torch.isfinite(param.grad).all()


def test_entity_grounding_reads_the_mention_words_wherever_they_are(tiny_bert_dir):
    """The grounding query comes from the mention's word embeddings: the same words at
    another place, in another context, are grounded the same way; other words are not."""
    import torch

    from spacy_roc.layers.grounding import mention_vectors

    nlp = make_nlp(tiny_bert_dir, grounding=GROUNDING)
    initialize_quietly(nlp, corpus_examples())
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
    import torch

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


@pytest.mark.parametrize("sample", [True, False])
def test_sample_descriptions_encodes_one_description_per_relation_in_training(tiny_bert_dir, sample):
    """sample_descriptions: a training step encodes one description per relation
    or all of them; inference always
    uses all of them."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", sample_descriptions=sample)
    examples = corpus_examples()
    nlp.initialize(lambda: examples)
    nlp.get_pipe("roc_relations").initialize(lambda: examples, nlp=nlp, descriptions=DESCRIPTIONS)
    pipe = nlp.get_pipe("roc_relations")
    seen = []
    hook = get_network(pipe.model).relations.register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[0])
    )
    n_descriptions = sum(len(texts) for texts in pipe.relations.values())
    assert n_descriptions > len(pipe.labels)
    train(nlp, examples, n_steps=2)
    assert seen == [len(pipe.labels) if sample else n_descriptions] * 2
    seen.clear()
    list(nlp.pipe(fresh_docs(examples)))
    assert seen == [n_descriptions]
    hook.remove()
