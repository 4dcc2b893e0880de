"""Bad input and faults: each case ends in a result, a coded error, or a coded warning
plus a defined fallback; input docs are never changed."""
import io
import json
import math
import warnings

import numpy
import pytest
import spacy
from PIL import Image
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from conftest import (
    BLANK,
    assert_same_relations,
    assert_valid_records,
    encode_image,
    list_every_pair,
    make_doc,
    make_nlp,
    perturb,
    snapshot,
    solid_image,
    to_example,
)
from spacy_roc.candidates import make_all_pairs
from spacy_roc.formats.corpus import RelationCorpus
from spacy_roc.model.pair_encoders import InlineMarkers
from spacy_roc.model.roc_model import get_network
from spacy_roc.scorer import score_relations

TRAIN = [
    ("anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")]),
    ("ben owns the blue square", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "owns"), (1, 0, "None")]),
]
TWO_ENTS = [(0, 1, "PERSON"), (2, 5, "SHAPE")]


def train_examples(image=True):
    red = solid_image((255, 0, 0)) if image else None
    return [to_example(BLANK, make_doc(BLANK, t, e, r, image=red)) for t, e, r in TRAIN]


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir):
    """The tiny model initialized on TRAIN, its zero-initialized layers given random
    weights, so that the image and the markers change its output."""
    nlp = make_nlp(tiny_bert_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: train_examples())
    perturb(nlp)
    return nlp


@pytest.fixture
def pipe(nlp):
    """The component, with its settings restored after the test."""
    pipe = nlp.get_pipe("roc_relations")
    saved = (pipe.threshold, pipe.top_k, pipe.none_label, pipe.spans_key, pipe.images.on_missing, pipe.candidates, pipe.type_map)
    relations = dict(pipe.cfg["relations"])
    yield pipe
    pipe.threshold, pipe.top_k, pipe.none_label, pipe.spans_key, pipe.images.on_missing, pipe.candidates, pipe.type_map = saved
    pipe.cfg["relations"] = relations


def doc_with(text="anna drew the red circle", ents=TWO_ENTS, image=None):
    return make_doc(BLANK, text, ents, [], image=image)


def roc_warnings(record, code):
    return [w for w in record if code in str(w.message)]


# -- images ---------------------------------------------------------------------------


def test_missing_image_warns_once_per_batch(nlp, pipe):
    before = pipe.images.missing
    with list_every_pair(pipe), pytest.warns(UserWarning) as record:
        docs = list(nlp.pipe([doc_with() for _ in range(4)], batch_size=2))
    assert len(roc_warnings(record, "ROC_W001")) == 2
    assert pipe.images.missing - before == 4
    assert [len(d._.relations) for d in docs] == [2, 2, 2, 2]  # text-only, not skipped
    with pytest.warns(UserWarning, match="ROC_W001"):  # not silenced for good
        nlp(doc_with())


def test_warnings_point_at_the_calling_line(nlp, pipe):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        nlp(doc_with())
        list(nlp.pipe([doc_with(image=b"broken")]))
        nlp.update([to_example(BLANK, make_doc(BLANK, TRAIN[0][0], TRAIN[0][1], TRAIN[0][2]))])
    codes = [w for w in record if "ROC_W00" in str(w.message)]
    assert {str(w.message)[:10] for w in codes} == {"[ROC_W001]", "[ROC_W002]"}
    assert all(w.filename == __file__ for w in codes), [(w.filename, w.lineno) for w in codes]


def test_unreadable_images_fall_back_to_text_only(nlp, pipe, tmp_path):
    truncated = encode_image(Image.fromarray(numpy.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype="uint8")), "JPEG")
    bad = [
        str(tmp_path / "missing.png"),
        tmp_path / "missing.jpg",
        b"",
        b"not an image",
        truncated[: len(truncated) // 2],
        Image.open(io.BytesIO(truncated[: len(truncated) // 2])),
        numpy.zeros((4, 4, 3), dtype="float32"),
        numpy.zeros((4, 4, 2), dtype="uint8"),
    ]
    before = pipe.images.failed
    with list_every_pair(pipe), pytest.warns(UserWarning) as record:
        docs = list(nlp.pipe([doc_with(image=value) for value in bad], batch_size=len(bad)))
        text_only = list(nlp.pipe([doc_with() for _ in bad], batch_size=len(bad)))
    assert len(roc_warnings(record, "ROC_W002")) == 1
    assert pipe.images.failed - before == len(bad)
    assert all(d._.relations for d in docs)
    assert_same_relations(docs, text_only)


def test_on_missing_image_error(nlp, pipe):
    pipe.images.on_missing = "error"
    with pytest.raises(ValueError, match=r"\[ROC_E003\]"):
        nlp(doc_with())
    with pytest.raises(ValueError, match=r"\[ROC_E004\].*cannot decode"):
        nlp(doc_with(image=b"broken"))
    with pytest.raises(TypeError, match=r"\[ROC_E002\]"):
        nlp(doc_with(image=12))


ODD_IMAGES = {
    "rgba": Image.new("RGBA", (20, 10), (1, 2, 3, 0)),
    "gray": Image.new("L", (20, 10)),
    "palette": Image.new("P", (20, 10)),
    "cmyk": Image.new("CMYK", (20, 10)),
    "16bit": Image.new("I;16", (20, 10), 4000),
    "float": Image.new("F", (20, 10), 0.5),
    "bilevel": Image.new("1", (20, 10)),
    "1x1": Image.new("RGB", (1, 1)),
    "large_jpeg": encode_image(Image.new("RGB", (6000, 4000), (30, 60, 90)), "JPEG"),
    "gray_array": numpy.zeros((10, 20), dtype="uint8"),
    "rgba_array": numpy.zeros((10, 20, 4), dtype="uint8"),
    "cmyk_jpeg_bytes": encode_image(Image.new("CMYK", (20, 10)), "JPEG"),
}


def test_odd_images_are_used(nlp, pipe):
    docs = [doc_with(image=value) for value in ODD_IMAGES.values()]
    snapshots = [snapshot(d) for d in docs]
    with warnings.catch_warnings(record=True) as record, list_every_pair(pipe):
        warnings.simplefilter("always")
        out = list(nlp.pipe(docs, batch_size=4))
    assert not [w for w in record if "ROC_" in str(w.message)]
    assert [snapshot(d) for d in out] == snapshots
    for doc in out:
        assert doc._.relations
        assert_valid_records(doc, none_label="__no_such_label__")


def test_mixed_batch_image_docs_unaffected_by_others(nlp, pipe):
    red, blue = solid_image((255, 0, 0)), solid_image((0, 0, 255))
    with list_every_pair(pipe), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = [nlp(doc_with(image=red)), nlp(doc_with(image=blue)), nlp(doc_with())]
        mixed = list(nlp.pipe([doc_with(image=red), doc_with(), doc_with(image=b"x"), doc_with(image=blue)], batch_size=4))
    assert_same_relations([mixed[0], mixed[3], mixed[1], mixed[2]], alone + [alone[2]])
    scores = [[r["score"] for r in doc._.relations] for doc in alone]
    assert scores[0] != pytest.approx(scores[1], abs=1e-4) and scores[0] != pytest.approx(scores[2], abs=1e-4)


def test_text_only_model_reads_no_image(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, image_encoder=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: train_examples())
    pipe = nlp.get_pipe("roc_relations")
    with warnings.catch_warnings(record=True) as record, list_every_pair(pipe):
        warnings.simplefilter("always")
        docs = list(nlp.pipe([doc_with(), doc_with(image=b"broken"), doc_with(image=solid_image((1, 2, 3)))]))
    assert not [w for w in record if "ROC_W00" in str(w.message)]
    assert (pipe.images.missing, pipe.images.failed) == (0, 0)
    assert len(docs[0]._.relations) == 2
    assert_same_relations(docs[1:], [docs[0], docs[0]])


# -- text and spans -------------------------------------------------------------------


def test_empty_docs_and_few_entities(nlp, pipe):
    docs = [BLANK(""), BLANK("the red circle"), doc_with("anna drew", [(0, 1, "PERSON")]), BLANK(" ")]
    with list_every_pair(pipe):
        out = list(nlp.pipe(docs))
    assert [d._.relations for d in out] == [[], [], [], []]
    assert nlp.update([Example(BLANK(""), BLANK(""))]) == {"roc_relations": 0.0}


def test_many_entities_are_scored_in_bounded_chunks(nlp, pipe, monkeypatch):
    words = ("anna ben carl dora " * 8).split()
    doc = Doc(BLANK.vocab, words=words)
    doc.ents = [Span(doc, i, i + 1, "PERSON") for i in range(len(words))]  # 32 entities: 992 pairs
    doc._.image = solid_image((0, 255, 0))
    sizes = []
    featurize = InlineMarkers.featurize

    def spy(self, inputs, batch, pairs, units, states):
        sizes.append(len(units))
        return featurize(self, inputs, batch, pairs, units, states)

    monkeypatch.setattr(InlineMarkers, "featurize", spy)
    monkeypatch.setitem(pipe.model.get_ref("featurizer").attrs, "max_pairs", 100)
    with list_every_pair(pipe):
        out = nlp(doc.copy())
    assert sum(sizes) == 32 * 31 and max(sizes) <= 100 and len(sizes) == 10
    assert len(out._.relations) == 32 * 31
    assert_valid_records(out, none_label="__no_such_label__")


def test_overlapping_spans(nlp, pipe):
    pipe.spans_key = "entities"
    doc = BLANK("anna drew the red circle and ben")
    doc.spans["entities"] = [
        Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "SHAPE"), Span(doc, 3, 5, "SHAPE"),
        Span(doc, 3, 4, "COLOUR"), Span(doc, 2, 5, "OBJECT"), Span(doc, 0, 7, "CLAUSE"),
    ]
    before = snapshot(doc)
    with list_every_pair(pipe):
        out = nlp(doc)
    assert snapshot(out) == before
    assert_valid_records(out, none_label="__no_such_label__")
    keys = [(tuple(r["head"]), tuple(r["tail"])) for r in out._.relations]
    assert len(keys) == len(set(keys)) == 5 * 4  # (2, 5) listed twice: deduplicated
    pipe.spans_key = "no_such_group"  # a doc without the group: its doc.ents
    doc = BLANK("anna drew the red circle")
    doc.ents = [Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "SHAPE")]
    with list_every_pair(pipe):
        assert [(r["head"], r["tail"]) for r in nlp(doc)._.relations] == [([0, 1], [2, 5]), ([2, 5], [0, 1])]


def test_unlabelled_entity_spans_warn(nlp, pipe):
    """Labels set on spans read back from a group are lost (spaCy changes a copy):
    the pipe warns and marks those entities with an empty type."""
    pipe.spans_key = "entities"
    doc = BLANK("anna drew the red circle")
    doc.spans["entities"] = [doc[0:1], doc[2:5]]
    for span, label in zip(doc.spans["entities"], ["PERSON", "SHAPE"]):
        span.label_ = label  # a copy: the group keeps the empty labels
    doc._.image = solid_image((1, 2, 3))
    before = snapshot(doc)
    with list_every_pair(pipe):
        with pytest.warns(UserWarning, match=r"ROC_W010.*2 entity span\(s\).*'anna'"):
            out = nlp(doc)
    assert snapshot(out) == before
    assert len(out._.relations) == 2
    assert_valid_records(out, none_label="__no_such_label__")


def test_labels_never_seen_in_training(nlp, pipe):
    """Labels the model never saw are shown as a label it saw (type_map, else the
    nearest type name), with ROC_W013; the markers then see that label."""
    ents = [(0, 1, "ALIEN_BEING"), (2, 5, "GADGET")]
    pipe.candidates = make_all_pairs(restrict_types=True)
    assert pipe.cfg["type_pairs"] == [["PERSON", "SHAPE"]] and pipe.cfg["entity_types"] == ["PERSON", "SHAPE"]
    pipe.type_map = {"ALIEN_BEING": "PERSON", "GADGET": "SHAPE"}
    image = solid_image((1, 1, 1))
    with list_every_pair(pipe):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            unseen = nlp(doc_with(ents=ents, image=image))
        assert not roc_warnings(record, "ROC_W013")  # mapped: nothing to say
        seen = nlp(doc_with(ents=[(0, 1, "PERSON"), (2, 5, "SHAPE")], image=image))
    assert [(r["head"], r["tail"]) for r in unseen._.relations] == [([0, 1], [2, 5])]  # PERSON -> SHAPE only
    assert_same_relations([unseen], [seen])
    pipe.type_map = {"GADGET": "SHAPE"}  # ALIEN_BEING not mapped: the nearest seen type name
    with list_every_pair(pipe):
        with pytest.warns(UserWarning, match=r"ROC_W013.*\['ALIEN_BEING'\].*'ALIEN_BEING': '(PERSON|SHAPE)'"):
            nlp(doc_with(ents=ents, image=image))


def test_pairs_no_trained_relation_takes_warn(nlp, pipe):
    pipe.candidates = make_all_pairs(restrict_types=True)
    with pytest.warns(UserWarning, match=r"ROC_W014.*1 doc"):
        assert nlp(doc_with(ents=[(0, 1, "SHAPE"), (2, 5, "SHAPE")], image=solid_image((1, 1, 1))))._.relations == []


def test_docs_far_longer_than_max_length(nlp, pipe):
    words = ["anna"] + ["the"] * 600 + ["red", "circle"]
    doc = Doc(BLANK.vocab, words=words)
    doc.ents = [Span(doc, 0, 1, "PERSON"), Span(doc, 601, 603, "SHAPE")]
    with list_every_pair(pipe):
        out = nlp(doc)
    assert len(out._.relations) == 2
    assert_valid_records(out, none_label="__no_such_label__")


# -- labels and descriptions ----------------------------------------------------------


def test_gold_label_without_description(tiny_bert_dir, nlp, pipe):
    fresh = make_nlp(tiny_bert_dir)
    with pytest.warns(UserWarning, match="ROC_W003.*'owns'"):
        fresh.initialize(lambda: train_examples())
    assert fresh.get_pipe("roc_relations").relations["owns"] == ["owns"]
    unknown = to_example(BLANK, make_doc(BLANK, TRAIN[0][0], TRAIN[0][1], [(0, 1, "likes")], image=solid_image((0, 0, 0))))
    with pytest.raises(ValueError, match=r"\[ROC_E008\] Gold relation label 'likes'"):
        nlp.update([unknown])


def test_descriptions_and_add_relation(nlp, pipe):
    with pytest.warns(UserWarning, match="ROC_W005"):
        pipe.add_relation("likes", ["", "the head likes the tail", "the head likes the tail "])
    assert pipe.relations["likes"] == ["the head likes the tail"]
    for bad in ([], [""], ["  "], [None]):
        with pytest.raises(ValueError, match=r"\[ROC_E010\]"):
            pipe.add_relation("hates", bad)
    with pytest.raises(ValueError, match=r"\[ROC_E009\]"):
        pipe.add_relation("likes", ["other"])
    pipe.add_relation("likes", ["the head is fond of the tail"], overwrite=True)
    assert pipe.relations["likes"] == ["the head is fond of the tail"]
    with pytest.raises(ValueError, match=r"\[ROC_E019\]"):
        pipe.remove_relation("None")
    with list_every_pair(pipe):
        assert_valid_records(nlp(doc_with(image=solid_image((5, 5, 5)))), none_label="__no_such_label__")


def test_empty_relation_set_is_a_coded_error(nlp, pipe):
    pipe.cfg["relations"] = {}
    with pytest.raises(ValueError, match=r"\[ROC_E018\]"):
        nlp(doc_with(image=solid_image((5, 5, 5))))


@pytest.mark.parametrize("value", [-0.1, 1.0001, float("nan"), float("inf"), "0.5", True, None])
def test_threshold_outside_unit_interval(pipe, value):
    with pytest.raises(ValueError, match=r"\[ROC_E006\]"):
        pipe.threshold = value
    if isinstance(value, float) and math.isfinite(value):  # the others fail spaCy's config checks
        with pytest.raises(ValueError, match=r"\[ROC_E006\]"):
            spacy.blank("en").add_pipe("roc_relations", config={"threshold": value})


@pytest.mark.parametrize("value", [-1, 1.5, True, "3", None])
def test_bad_top_k(pipe, value):
    with pytest.raises(ValueError, match=r"\[ROC_E007\]"):
        pipe.top_k = value


def test_threshold_and_top_k_extremes(nlp, pipe):
    n_labels = len(pipe.labels)
    for top_k in (0, 1, n_labels - 1, n_labels + 50):
        pipe.top_k = top_k
        with list_every_pair(pipe):
            out = nlp(doc_with(image=solid_image((9, 9, 9))))
        assert out._.relations
        assert_valid_records(out, none_label="__no_such_label__", n_labels=n_labels, top_k=top_k)
    # a threshold lists exactly the pairs whose probability reaches it
    doc = doc_with(image=solid_image((9, 9, 9)))
    with list_every_pair(pipe):
        pairs, probs = pipe.predict([doc.copy()])
        best = probs.max(axis=1)
        assert best.min() < best.max()
        for threshold, n_listed in (((best.min() + best.max()) / 2, 1), (1.0, 0)):
            pipe.threshold = float(threshold)
            listed = [(tuple(r["head"]), tuple(r["tail"])) for r in nlp(doc.copy())._.relations]
            expected = [((h.start, h.end), (t.start, t.end)) for (h, t), p in zip(pairs[0], best) if p >= threshold]
            assert listed == expected and len(listed) == n_listed


# -- training -------------------------------------------------------------------------


def test_corpus_without_relations(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    examples = [to_example(BLANK, make_doc(BLANK, t, e, [], image=solid_image((1, 2, 3)))) for t, e, _ in TRAIN]
    with pytest.warns(UserWarning, match="ROC_W008"):
        nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("roc_relations")
    assert pipe.labels == ("None",)
    assert nlp.update(examples) == {"roc_relations": 0.0}  # one label: nothing to learn
    pairs, probs = pipe.predict([eg.predicted.copy() for eg in examples])
    assert [len(p) for p in pairs] == [2, 2] and probs.shape == (4, 1) and (probs == 1.0).all()
    assert all(d._.relations == [] for d in nlp.pipe([eg.predicted.copy() for eg in examples]))


def test_dev_label_absent_from_train(nlp, pipe):
    """Evaluating on a gold label the component does not know does not raise (only
    training on it does, ROC_E008): the scores are the scorer's over the pipeline's
    own predictions, and the label is reported."""
    dev = to_example(BLANK, make_doc(BLANK, TRAIN[0][0], TRAIN[0][1], [(0, 1, "likes")], image=solid_image((0, 0, 0)), all_pairs=True))
    scores = nlp.evaluate([dev])
    expected = score_relations([Example(nlp(dev.predicted.copy()), dev.reference)], none_label=pipe.none_label)
    assert {key: scores[key] for key in expected} == expected
    assert "likes" in scores["rel_f_per_type"] and "likes" not in pipe.labels


def test_nan_weights_stop_training_and_prediction(nlp, pipe):
    import torch

    network = get_network(pipe.model)
    parameter = next(p for n, p in network.named_parameters() if "embeddings" in n)
    saved = parameter.detach().clone()
    doc = doc_with(image=solid_image((0, 0, 0)))
    before = pipe.predict([doc.copy()])[1]
    try:
        with torch.no_grad():
            parameter.fill_(float("nan"))
        with pytest.raises(ValueError, match=r"\[ROC_E012\] The loss is not finite"):
            nlp.update(train_examples())
        with pytest.raises(ValueError, match=r"\[ROC_E028\]"):
            nlp(doc_with(image=solid_image((0, 0, 0))))
    finally:
        with torch.no_grad():
            parameter.copy_(saved)
    numpy.testing.assert_array_equal(pipe.predict([doc.copy()])[1], before)  # nothing was changed
    assert nlp.update(train_examples())["roc_relations"] > 0.0


# -- data files -----------------------------------------------------------------------


def test_spacy_file_whose_docs_lack_images(nlp, pipe, tmp_path):
    docs = [make_doc(BLANK, t, e, r) for t, e, r in TRAIN]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "train.spacy")
    examples = list(RelationCorpus(tmp_path / "train.spacy", images_dir=tmp_path)(nlp))
    assert all(eg.predicted._.image is None for eg in examples)
    with pytest.warns(UserWarning, match="ROC_W001"):
        losses = nlp.update(examples)
    assert losses["roc_relations"] > 0.0  # the listed gold pairs were scored, text-only


# -- multiprocessing, serialization ---------------------------------------------------


def test_pipe_with_two_processes_matches_call(nlp, pipe, tmp_path):
    import pickle

    pickle.loads(pickle.dumps(pipe.candidates))  # spawned workers need it
    pickle.loads(pickle.dumps(pipe.model))
    path = tmp_path / "blue.png"
    Image.fromarray(solid_image((0, 0, 255))).save(path)
    images = [solid_image((255, 0, 0)), encode_image(Image.new("RGB", (8, 8), (0, 255, 0))), str(path), None, b"broken"]
    texts = [TRAIN[i % 2][0] for i in range(len(images))]
    with list_every_pair(pipe), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = [nlp(doc_with(t, image=img)) for t, img in zip(texts, images)]
        multi = list(nlp.pipe([doc_with(t, image=img) for t, img in zip(texts, images)], n_process=2, batch_size=2))
    assert all(d._.relations for d in single)
    assert_same_relations(multi, single)
    assert isinstance(multi[0]._.image, numpy.ndarray) and multi[2]._.image == str(path)


def test_docbin_round_trip_keeps_images_and_relations(nlp, pipe, tmp_path):
    (tmp_path / "a.png").write_bytes(encode_image(Image.new("RGB", (4, 4))))
    images = [str(tmp_path / "a.png"), tmp_path / "a.png", encode_image(Image.new("RGB", (4, 4))), solid_image((1, 2, 3)), None]
    with list_every_pair(pipe), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = list(nlp.pipe([doc_with(image=img) for img in images]))
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    back = list(DocBin().from_bytes(data).get_docs(BLANK.vocab))
    for doc, loaded in zip(docs, back):
        assert loaded._.relations == doc._.relations and doc._.relations
        if isinstance(doc._.image, numpy.ndarray):
            assert numpy.array_equal(loaded._.image, doc._.image)
        else:
            assert loaded._.image == doc._.image
        loaded2 = Doc(BLANK.vocab).from_bytes(doc.to_bytes())
        assert loaded2._.relations == doc._.relations
    assert back[1]._.image == str(tmp_path / "a.png")  # a Path is stored as str
    assert docs[0]._.relations == [record for record in json.loads(json.dumps(docs[0]._.relations))]


def test_demo_image_size_is_a_coded_error(tmp_path):
    from spacy_roc.commands.demo import generate_demo

    with pytest.raises(ValueError, match=r"\[ROC_E027\]"):
        generate_demo(tmp_path, n_train=1, n_dev=1, n_test=1, image_size=8)
