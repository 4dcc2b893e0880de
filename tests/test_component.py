"""The roc_relations component: build, initialize, overfit, serialize, edge cases."""
import pytest
import spacy
from spacy.tokens import Span
from thinc.api import Adam

from conftest import DESCRIPTIONS, make_doc, make_nlp, model_config, solid_image, to_example


def train(nlp, examples, n_steps=60, learn_rate=0.001):
    optimizer = Adam(learn_rate)
    losses = {}
    for _ in range(n_steps):
        losses = nlp.update(examples, sgd=optimizer)
    return losses


def predicted_labels(nlp, docs):
    """{(doc index, head, tail): label} for all listed relations."""
    out = {}
    for i, doc in enumerate(docs):
        for r in doc._.relations:
            out[(i, tuple(r["head"]), tuple(r["tail"]))] = r["label"]
    return out


def gold_labels(examples, none_label="None"):
    out = {}
    for i, eg in enumerate(examples):
        for r in eg.reference._.relations:
            if r["label"] != none_label:
                out[(i, tuple(r["head"]), tuple(r["tail"]))] = r["label"]
    return out


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


def fresh_docs(examples):
    return [eg.predicted.copy() for eg in examples]


def test_add_pipe_with_defaults_builds_offline():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("roc_relations")
    assert pipe.labels == ()
    cfg = nlp.config["components"]["roc_relations"]
    assert cfg["model"]["@architectures"] == "spacy_roc.ROCModel.v1"
    assert cfg["model"]["text_encoder"]["name"] == "bert-base-uncased"
    assert cfg["model"]["image_encoder"]["name"] == "vit_base_patch16_224"
    # nothing is loaded at construction
    assert pipe.model.shims[0].network is None


def test_use_before_initialize_raises(tiny_bert_dir, text_examples):
    nlp = make_nlp(tiny_bert_dir)
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp(text_examples[0].predicted.copy())
    with pytest.raises(ValueError, match=r"\[ROC_E001\]"):
        nlp.update(text_examples)


def test_overfit_io_and_pipe(tiny_bert_dir, text_examples, tmp_path):
    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    losses = train(nlp, text_examples)
    assert losses["roc_relations"] < 0.05
    docs = [nlp(doc) for doc in fresh_docs(text_examples)]
    assert predicted_labels(nlp, docs) == gold_labels(text_examples)
    for doc in docs:
        for r in doc._.relations:
            assert 0.0 <= r["score"] <= 1.0
            assert len(r["alternatives"]) == min(3, len(nlp.get_pipe("roc_relations").labels) - 1)
    nlp.to_disk(tmp_path / "pipeline")
    nlp2 = spacy.load(tmp_path / "pipeline")
    docs2 = [nlp2(doc) for doc in fresh_docs(text_examples)]
    assert [d._.relations for d in docs2] == [d._.relations for d in docs]
    docs3 = list(nlp2.pipe(fresh_docs(text_examples), batch_size=3))
    assert_same_relations(docs3, docs)
    assert nlp2.get_pipe("roc_relations").relations == nlp.get_pipe("roc_relations").relations


def test_initialize_with_descriptions(tiny_bert_dir, text_examples, tmp_path):
    import srsly

    path = tmp_path / "descriptions.json"
    srsly.write_json(path, DESCRIPTIONS)
    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)  # labels from data only
    pipe = nlp.get_pipe("roc_relations")
    assert pipe.relations["drew"] == ["drew"]
    pipe.initialize(lambda: text_examples, nlp=nlp, descriptions=str(path))
    assert pipe.relations == DESCRIPTIONS
    assert pipe.labels[0] == "None"


def test_image_decides(tiny_bert_dir):
    """The same sentence with two images has two different gold relations."""
    nlp = make_nlp(tiny_bert_dir)
    blank = spacy.blank("en")
    text = "the red circle is near the blue square"
    ents = [(0, 3, "SHAPE"), (5, 8, "SHAPE")]
    red, blue = solid_image((255, 0, 0)), solid_image((0, 0, 255))
    docs = [
        make_doc(blank, text, ents, [(0, 1, "above"), (1, 0, "None")], image=red),
        make_doc(blank, text, ents, [(0, 1, "left_of"), (1, 0, "None")], image=blue),
    ]
    examples = [to_example(blank, d) for d in docs]
    nlp.initialize(lambda: examples)
    train(nlp, examples, n_steps=80)
    out = [nlp(doc) for doc in fresh_docs(examples)]
    assert predicted_labels(nlp, out) == gold_labels(examples)
    # the text alone cannot tell: without the image both docs get the same output
    no_image = fresh_docs(examples)
    for doc in no_image:
        doc._.image = None
    with pytest.warns(UserWarning, match="ROC_W001"):
        out = [nlp(doc) for doc in no_image]
    assert out[0]._.relations == out[1]._.relations


def test_add_and_remove_relation_without_training(tiny_bert_dir, text_examples):
    nlp = make_nlp(tiny_bert_dir)
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": DESCRIPTIONS}
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    train(nlp, text_examples)
    before = predicted_labels(nlp, [nlp(d) for d in fresh_docs(text_examples)])
    assert before == gold_labels(text_examples)
    # A synonym of "drew" (same descriptions) gets exactly the same prototype, so it
    # takes half of drew's probability: predictions change with no training step.
    pipe.add_relation("sketched", DESCRIPTIONS["drew"])
    docs = [nlp(d) for d in fresh_docs(text_examples)]
    for doc in docs:
        for r in doc._.relations:
            if r["label"] in ("drew", "sketched"):
                alt = dict(r["alternatives"])
                other = "sketched" if r["label"] == "drew" else "drew"
                assert alt[other] == pytest.approx(r["score"], rel=1e-4)
    # Removing "owns" and adding it back restores the predictions exactly.
    owns = pipe.relations["owns"]
    pipe.remove_relation("sketched")
    pipe.remove_relation("owns")
    without = predicted_labels(nlp, [nlp(d) for d in fresh_docs(text_examples)])
    assert "owns" not in without.values()
    pipe.add_relation("owns", owns)
    after = predicted_labels(nlp, [nlp(d) for d in fresh_docs(text_examples)])
    assert after == before
    with pytest.raises(ValueError, match=r"\[ROC_E009\]"):
        pipe.add_relation("owns", ["anything"])


def test_batches_without_pairs_images_or_entities(tiny_bert_dir, text_examples):
    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    blank = spacy.blank("en")
    empty = blank("")
    one = make_doc(blank, "anna drew", [(0, 1, "PERSON")], [])
    none_ents = blank("the red circle")
    docs = list(nlp.pipe([empty, one, none_ents]))
    assert all(d._.relations == [] for d in docs)
    losses = nlp.update([to_example(blank, one)])
    assert losses["roc_relations"] == 0.0
    # a batch mixing docs with and without image
    with_image = make_doc(blank, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [], image=solid_image((0, 255, 0)))
    without = make_doc(blank, "ben owns the blue square", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [])
    docs = list(nlp.pipe([with_image, without]))
    assert all(isinstance(d._.relations, list) for d in docs)
    assert docs[0]._.image is not None and docs[1]._.image is None


def test_overlapping_mentions_in_span_group(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    blank = spacy.blank("en")
    doc = blank("anna drew the red circle")
    doc.spans["entities"] = [Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "SHAPE"), Span(doc, 3, 5, "SHAPE")]
    doc._.relations = [
        {"head": [0, 1], "tail": [2, 5], "label": "drew"},
        {"head": [0, 1], "tail": [3, 5], "label": "drew"},
    ]
    predicted = blank("anna drew the red circle")
    predicted.spans["entities"] = [Span(predicted, s.start, s.end, s.label_) for s in doc.spans["entities"]]
    examples = [spacy.training.Example(predicted, doc)]
    nlp.initialize(lambda: examples)
    train(nlp, examples, n_steps=30)
    out = nlp(predicted.copy())
    pairs = {(tuple(r["head"]), tuple(r["tail"])): r["label"] for r in out._.relations}
    assert pairs.get(((0, 1), (2, 5))) == "drew"
    assert pairs.get(((0, 1), (3, 5))) == "drew"
    assert out.spans["entities"][2].start == 3  # the input is untouched


def test_fusion_starts_as_identity(tiny_bert_dir, text_examples):
    """The fusion layers' residual branches end in zeroed projections, so before
    training the fused states are the encoder's states."""
    import torch

    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    fusion = nlp.get_pipe("roc_relations").model.shims[0].network.fusion
    assert fusion is not None and len(fusion.layers) > 0
    width = fusion.layers[0].linear1.in_features
    states = torch.randn(2, 5, width)
    fusion.eval()
    with torch.no_grad():
        assert torch.equal(fusion(states), states)


def test_every_parameter_gets_a_gradient(tiny_bert_dir, text_examples):
    """After one optimizer step (which moves the zeroed fusion outputs), every
    parameter, the image tower included, gets a finite, non-zero gradient."""
    import torch

    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    pipe.update(text_examples, sgd=nlp.create_optimizer())
    network = pipe.model.shims[0].network
    network.zero_grad()
    pipe.update(text_examples, sgd=None)
    missing = [n for n, p in network.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for p in network.parameters() if p.grad is not None)


def test_classifier_head_ablation(tiny_bert_dir, text_examples):
    nlp = make_nlp(tiny_bert_dir, head="classifier")
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    network = pipe.model.shims[0].network
    assert network.relation_encoder is None and network.classifier.out_features == len(pipe.labels)
    train(nlp, text_examples)
    docs = [nlp(d) for d in fresh_docs(text_examples)]
    assert predicted_labels(nlp, docs) == gold_labels(text_examples)
    with pytest.raises(ValueError, match=r"\[ROC_E011\]"):
        pipe.add_relation("likes", ["the head likes the tail"])


def test_serialization_before_initialize(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    data = nlp.to_bytes()
    nlp2 = make_nlp(tiny_bert_dir)
    nlp2.from_bytes(data)
    assert nlp2.get_pipe("roc_relations").model.shims[0].network is None


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


def test_prototype_cache_refreshed_after_update(tiny_bert_dir, text_examples):
    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    network = pipe.model.shims[0].network
    docs = fresh_docs(text_examples)
    first = pipe.predict(docs)[1]
    assert len(network._prototype_cache) == 1
    train(nlp, text_examples, n_steps=1)
    assert len(network._prototype_cache) == 0
    second = pipe.predict(docs)[1]
    assert not (abs(first - second) < 1e-7).all()
    # a cached prediction equals a fresh one
    network.clear_cache()
    assert (abs(pipe.predict(docs)[1] - second) < 1e-6).all()


def test_averaged_parameters_are_used_and_saved(tiny_bert_dir, text_examples, tmp_path):
    # `spacy train` evaluates and saves inside nlp.use_params(optimizer.averages)
    nlp = make_nlp(tiny_bert_dir)
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    shim = pipe.model.shims[0]
    optimizer = Adam(0.01, use_averages=True)
    for _ in range(3):
        nlp.update(text_examples, sgd=optimizer)
    docs = fresh_docs(text_examples)
    current = pipe.predict(docs)[1]
    weights = {n: p.detach().clone() for n, p in shim.network.named_parameters()}
    name = "pair_head.mlp.0.weight"
    with nlp.use_params(optimizer.averages):
        swapped = dict(shim.network.named_parameters())[name].detach().numpy()
        assert swapped == pytest.approx(optimizer.averages[(shim.id, name)])
        averaged = pipe.predict(docs)[1]
        nlp.to_disk(tmp_path / "p")
    assert not (abs(averaged - current) < 1e-6).all()
    # the trained weights, and predictions made with them, come back after the context
    assert all((p == weights[n]).all() for n, p in shim.network.named_parameters())
    assert (abs(pipe.predict(docs)[1] - current) < 1e-6).all()
    saved = spacy.load(tmp_path / "p").get_pipe("roc_relations")
    assert (abs(saved.predict(fresh_docs(text_examples))[1] - averaged) < 1e-5).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"pair_pooling": "marker_mention"},
        {"fusion_attention": "cross"},
        {"image_positions": True},
        {"embedding_skip": True},
        {"entity_grounding": True},
        {"head_markers": [".", "*"], "tail_markers": ["-", "^"]},
    ],
)
def test_model_options_train_and_round_trip(tiny_bert_dir, text_examples, tmp_path, overrides):
    nlp = make_nlp(tiny_bert_dir, **overrides)
    nlp.initialize(lambda: text_examples)
    pipe = nlp.get_pipe("roc_relations")
    pipe.update(text_examples, sgd=None)
    network = pipe.model.shims[0].network
    missing = [n for n, p in network.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    docs = [nlp(d) for d in fresh_docs(text_examples)]
    nlp.to_disk(tmp_path / "p")
    nlp2 = spacy.load(tmp_path / "p")
    saved_cfg = nlp2.get_pipe("roc_relations").model.shims[0].cfg
    assert {key: saved_cfg[key] for key in overrides} == overrides
    assert_same_relations([nlp2(d) for d in fresh_docs(text_examples)], docs)


def test_image_positions_tell_identical_patches_apart(tiny_bert_dir, text_examples):
    """With image_positions, identical patches at different places get clearly
    different tokens; a from-scratch ViT alone barely separates them."""
    import torch

    nlp = make_nlp(tiny_bert_dir, image_positions=True)
    nlp.initialize(lambda: text_examples)
    tokenizer = nlp.get_pipe("roc_relations").model.shims[0].network.image_tokenizer
    pixels = torch.ones(1, 3, 32, 32)  # one flat-colour image: every patch is the same
    n_prefix = tokenizer.backbone.num_prefix_tokens  # the class token is not a patch
    with torch.no_grad():
        tokens = tokenizer(pixels)[0]  # (T, Dt)
        positions, tokenizer.positions = tokenizer.positions, None
        plain = tokenizer(pixels)[0]
    assert positions.shape == tokens.shape
    tokens, plain = tokens[n_prefix:], plain[n_prefix:]
    # spread of the tokens across positions, against their size
    spread = tokens.std(0).mean() / tokens.abs().mean()
    plain_spread = plain.std(0).mean() / plain.abs().mean()
    assert spread > 0.5 and spread > 5 * plain_spread


def test_image_positions_need_a_fixed_token_count():
    import timm
    import torch

    from spacy_roc.layers.network import ImageTokenizer, count_image_tokens

    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32)
    n_tokens = count_image_tokens(backbone, (3, 32, 32))
    assert n_tokens == backbone.patch_embed.num_patches + backbone.num_prefix_tokens
    assert ImageTokenizer(backbone, 8, n_tokens)(torch.zeros(2, 3, 32, 32)).shape == (2, n_tokens, 8)
    with pytest.raises(ValueError, match=r"\[ROC_E032\]"):
        ImageTokenizer(backbone, 8, n_tokens + 1)(torch.zeros(1, 3, 32, 32))


def test_embedding_skip_adds_the_embedding_output(tiny_bert_dir, text_examples):
    """With embedding_skip, the text states entering fusion are the encoder's last
    hidden states plus its embedding-layer output; without it, the last states only."""
    import torch

    nlp = make_nlp(tiny_bert_dir, embedding_skip=True)
    nlp.initialize(lambda: text_examples)
    network = nlp.get_pipe("roc_relations").model.shims[0].network
    network.eval()
    input_ids = torch.tensor([[1, 5, 6, 5, 2]])
    mask = torch.ones_like(input_ids)
    with torch.no_grad():
        last = network.text_model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        embedded = network.text_model.embeddings(input_ids=input_ids)
        skipped = network._encode_text(input_ids, mask)
        network.embedding_skip = False
        plain = network._encode_text(input_ids, mask)
    assert torch.allclose(plain, last)
    assert torch.allclose(skipped, last + embedded, atol=1e-5)
    assert not torch.allclose(skipped, last, atol=1e-2)


def _grounding_with_identity_attention(width):
    """An EntityGrounding whose query and key are the identity and whose projection
    reads the six location numbers back out (head row/col, tail row/col, difference)."""
    import torch

    from spacy_roc.layers.network import EntityGrounding

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

    from spacy_roc.layers.network import token_locations

    width = 8
    grounding = _grounding_with_identity_attention(width)
    locations, is_patch = token_locations((1, 2, 2), torch.device("cpu"))  # class token + 2x2 grid
    assert locations.tolist() == [[0, 0], [-1, -1], [-1, 1], [1, -1], [1, 1]]
    assert is_patch.tolist() == [False, True, True, True, True]
    colours = torch.eye(width) * 20.0  # token i "has colour" i
    image = colours[[0, 1, 2, 3, 4]].unsqueeze(0).repeat(2, 1, 1)  # (P=2, T=5, Dt)
    # text: [CLS, head mention = colour 2, SEP, tail mention = colour 3]
    text = colours[[5, 2, 5, 3]].unsqueeze(0).repeat(2, 1, 1)  # (P, L=4, Dt)
    head_block = torch.tensor([[1, 1], [1, 1]])
    tail_block = torch.tensor([[3, 3], [3, 3]])
    keep = is_patch.unsqueeze(0).repeat(2, 1)
    keep[1] = False  # the second pair has no image
    with torch.no_grad():
        feature = grounding(text, head_block, tail_block, image, keep, locations)
    head, tail = [-1.0, 1.0], [1.0, -1.0]  # patches 2 (top right) and 3 (bottom left)
    assert feature[0, :6].tolist() == pytest.approx(head + tail + [-2.0, 2.0], abs=1e-4)
    assert feature[1].abs().max().item() == 0.0
    # a mention matching only the (excluded) class token is placed at the grid mean
    text[0, 1] = colours[0]
    with torch.no_grad():
        assert grounding(text, head_block, tail_block, image, keep, locations)[0, :2].tolist() == pytest.approx(
            [0.0, 0.0], abs=1e-4
        )


def test_entity_grounding_gives_finite_gradients_without_images():
    import torch

    from spacy_roc.layers.network import token_locations

    grounding = _grounding_with_identity_attention(8)
    locations, _ = token_locations((0, 2, 2), torch.device("cpu"))
    text = torch.randn(3, 5, 8)
    image = torch.randn(3, 4, 8)
    keep = torch.zeros(3, 4, dtype=torch.bool)
    blocks = torch.tensor([[0, 1]] * 3)
    grounding(text, blocks, blocks, image, keep, locations).sum().backward()
    for param in grounding.parameters():
        assert torch.isfinite(param.grad).all()


def test_entity_grounding_reads_the_mention_words_wherever_they_are(tiny_bert_dir, text_examples):
    """The grounding query comes from the mention's word embeddings: the same words
    at another place in the text, in another context, are grounded the same way; other
    words are not."""
    import torch

    nlp = make_nlp(tiny_bert_dir, entity_grounding=True)
    nlp.initialize(lambda: text_examples)
    network = nlp.get_pipe("roc_relations").model.shims[0].network
    image = torch.randn(1, 5, network.grounding.key.in_features)  # class token + 2x2
    network.image_tokenizer.grid = (1, 2, 2)
    keep = torch.ones(1, 5, dtype=torch.bool)
    mention, tail = [7, 8], [9]
    early = torch.tensor([[1, *mention, 20, 21, 22, *tail, 2]])
    late = torch.tensor([[1, 23, 24, 25, *mention, *tail, 2]])
    other = torch.tensor([[1, 23, 24, 25, 10, 11, *tail, 2]])
    with torch.no_grad():
        a = network._ground(early, torch.tensor([[1, 2]]), torch.tensor([[6, 6]]), image, keep)
        b = network._ground(late, torch.tensor([[4, 5]]), torch.tensor([[6, 6]]), image, keep)
        c = network._ground(other, torch.tensor([[4, 5]]), torch.tensor([[6, 6]]), image, keep)
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, c, atol=1e-3)


def test_image_token_grid():
    import timm
    import torch

    from spacy_roc.layers.network import ImageTokenizer, _token_grid

    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32)
    tokenizer = ImageTokenizer(backbone, 8)
    tokens = tokenizer(torch.zeros(1, 3, 32, 32))
    n_prefix, rows, cols = tokenizer.grid
    assert (n_prefix, rows * cols) == (backbone.num_prefix_tokens, backbone.patch_embed.num_patches)
    assert tokens.shape[1] == n_prefix + rows * cols
    assert _token_grid(backbone, torch.zeros(1, 8, 3, 5)) == (0, 3, 5)  # a CNN feature map
    odd = torch.zeros(1, 7, 8)  # 7 tokens: no grid
    assert _token_grid(torch.nn.Identity(), odd) is None


def test_entity_grounding_needs_a_patch_grid(tiny_bert_dir, text_examples):
    """A backbone whose tokens form no grid raises ROC_E033 with grounding on, and is
    fine with grounding off."""
    import torch

    for grounding in (True, False):
        nlp = make_nlp(tiny_bert_dir, entity_grounding=grounding)
        nlp.initialize(lambda: text_examples)
        network = nlp.get_pipe("roc_relations").model.shims[0].network
        backbone = network.image_tokenizer.backbone
        plain = backbone.forward_features
        backbone.forward_features = lambda pixels: plain(pixels)[:, :-1]  # drop a patch
        docs = fresh_docs(text_examples)
        if grounding:
            with pytest.raises(ValueError, match=r"\[ROC_E033\]"):
                nlp(docs[0])
        else:
            assert isinstance(nlp(docs[0])._.relations, list)


def test_unknown_model_options_raise(tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"\[ROC_E029\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, pair_pooling="max")})
    with pytest.raises(ValueError, match=r"\[ROC_E030\]"):
        nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, fusion_attention="sparse")})
    bad_markers = [
        {"head_markers": ["@"]},  # not two
        {"head_markers": "@*"},  # a string, not two strings
        {"tail_markers": ["#", " "]},  # blank
        {"head_markers": ["#", "*"]},  # same outer marker as the tail
    ]
    for markers in bad_markers:
        with pytest.raises(ValueError, match=r"\[ROC_E034\]"):
            nlp.add_pipe("roc_relations", config={"model": model_config(tiny_bert_dir, **markers)})
