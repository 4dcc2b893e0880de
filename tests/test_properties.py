"""Property-based tests over random docs, spans, images, records and batches."""
import warnings

import numpy
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from spacy.tokens import Doc, DocBin, Span

from conftest import (
    BLANK,
    WORDS,
    assert_same_relations,
    assert_valid_records,
    corpus_examples,
    encode_image,
    list_every_pair,
    make_nlp,
    perturb,
    snapshot,
)
from spacy_roc.candidates import make_all_pairs, span_distance
from spacy_roc.extensions import make_record
from spacy_roc.model.markers import PairTokenizer

LABELS = ["PERSON", "SHAPE", "ALIEN_BEING", "x"]
CHEAP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WITH_MODEL = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def docs_with_spans(draw, max_words=30, max_spans=6):
    """A doc of random words and a list of random (possibly overlapping) spans."""
    words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=max_words))
    doc = Doc(BLANK.vocab, words=words)
    spans = []
    if words:
        for _ in range(draw(st.integers(0, max_spans))):
            start = draw(st.integers(0, len(words) - 1))
            end = draw(st.integers(start + 1, min(len(words), start + 4)))
            spans.append(Span(doc, start, end, label=draw(st.sampled_from(LABELS))))
    return doc, spans


# -- candidates -----------------------------------------------------------------------


@CHEAP
@given(
    data=docs_with_spans(),
    max_distance=st.one_of(st.none(), st.integers(0, 10)),
    restrict=st.booleans(),
    type_pairs=st.one_of(st.none(), st.sets(st.tuples(st.sampled_from(LABELS), st.sampled_from(LABELS)))),
)
def test_all_pairs(data, max_distance, restrict, type_pairs):
    doc, spans = data
    pairs = make_all_pairs(max_distance, restrict)(doc, spans, type_pairs)
    keys = [((h.start, h.end), (t.start, t.end)) for h, t in pairs]
    assert len(keys) == len(set(keys))
    distinct = {(s.start, s.end) for s in spans}
    for (head, tail), (h, t) in zip(keys, pairs):
        assert head != tail and head in distinct and tail in distinct
        assert max_distance is None or span_distance(h, t) <= max_distance
        if restrict and type_pairs:
            assert (h.label_, t.label_) in type_pairs
    if max_distance is None and not (restrict and type_pairs):
        assert len(keys) == len(distinct) * (len(distinct) - 1)


# -- markers and windowing ------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert_dir))


@st.composite
def marked_pairs(draw):
    """A long or short doc with two distinct, possibly nested or far-apart spans."""
    n_words = draw(st.integers(2, 300))
    rng = numpy.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    doc = Doc(BLANK.vocab, words=[WORDS[i] for i in rng.integers(0, len(WORDS), n_words)])
    spans = []
    for _ in range(2):
        start = draw(st.integers(0, n_words - 1))
        end = draw(st.integers(start + 1, min(n_words, start + 5)))
        if spans and (start, end) == (spans[0].start, spans[0].end):
            start, end = (start, end + 1) if end < n_words else (0, 1) if start > 0 else (1, 2)
        spans.append(Span(doc, start, end, label=draw(st.sampled_from(LABELS))))
    return doc, spans[0], spans[1]


@CHEAP
@given(data=marked_pairs(), max_length=st.integers(16, 64))
def test_markers_survive_windowing(pair_tokenizer, data, max_length):
    doc, head, tail = data
    marker = PairTokenizer(pair_tokenizer, max_length)
    encoded = marker.encode(marker.doc_pieces(doc), head, tail)
    assert len(encoded.input_ids) <= max_length
    tokens = pair_tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert tokens[encoded.head_marker] == "@" and tokens[encoded.tail_marker] == "#"
    for (first, last), marker in ((encoded.head_span, encoded.head_marker), (encoded.tail_span, encoded.tail_marker)):
        assert marker < first <= last < len(tokens) - 1  # the mention's wordpieces, after its markers
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"


# -- records written by set_annotations -----------------------------------------------


@pytest.fixture(scope="module")
def bare_pipe():
    """A component built from its default config (nothing loaded) with a relation set."""
    pipe = spacy.blank("en").add_pipe("roc_relations")
    pipe.cfg["relations"] = {label: [label] for label in ["None", "drew", "owns", "likes", "above"]}
    return pipe


@CHEAP
@given(
    data=st.lists(docs_with_spans(), min_size=1, max_size=4),
    threshold=st.floats(0.0, 1.0),
    top_k=st.integers(0, 8),
    seed=st.integers(0, 2**32 - 1),
    peaked=st.booleans(),
)
def test_set_annotations_writes_valid_records(bare_pipe, data, threshold, top_k, seed, peaked):
    bare_pipe.threshold, bare_pipe.top_k = threshold, top_k
    docs = [doc for doc, _ in data]
    pairs = [make_all_pairs()(doc, spans) for doc, spans in data]
    n_pairs, n_labels = sum(len(p) for p in pairs), len(bare_pipe.labels)
    rng = numpy.random.default_rng(seed)
    probs = rng.dirichlet([0.05 if peaked else 1.0] * n_labels, size=n_pairs).astype("float32")
    before = [snapshot(doc) for doc in docs]
    bare_pipe.set_annotations(docs, (pairs, probs))
    assert [snapshot(doc) for doc in docs] == before
    row = 0
    for doc, doc_pairs in zip(docs, pairs):
        assert_valid_records(doc, threshold=threshold, n_labels=n_labels, top_k=top_k)
        expected = sum(
            1
            for p in probs[row : row + len(doc_pairs)]
            if int(numpy.argmax(p)) != 0 and float(p.max()) >= threshold
        )
        assert len(doc._.relations) == expected
        row += len(doc_pairs)


# -- DocBin round trips ---------------------------------------------------------------


def png(rgb) -> bytes:
    return encode_image(Image.new("RGB", (3, 2), rgb))


IMAGE_VALUES = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=20).map(lambda s: f"images/{s}.jpg"),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)).map(png),
    st.binary(max_size=30),
    st.integers(1, 5).map(lambda n: numpy.full((n, n + 1, 3), n, dtype=numpy.uint8)),
)


@st.composite
def records(draw, doc, spans):
    distinct = list({(s.start, s.end): s for s in spans}.values())
    out = []
    for head in distinct:
        for tail in distinct:
            if head is not tail and draw(st.booleans()):
                score = draw(st.floats(0.0, 1.0))
                alternatives = draw(st.lists(st.tuples(st.sampled_from(LABELS), st.floats(0.0, 1.0)), max_size=3))
                out.append(make_record((head.start, head.end), (tail.start, tail.end), draw(st.text(max_size=10)), score, alternatives))
    return out


@CHEAP
@given(data=st.data())
def test_docbin_round_trip(data):
    docs = []
    for _ in range(data.draw(st.integers(1, 3))):
        doc, spans = data.draw(docs_with_spans(max_words=12))
        doc.spans["entities"] = spans
        doc._.image = data.draw(IMAGE_VALUES)
        doc._.relations = data.draw(records(doc, spans))
        docs.append(doc)
    back = list(DocBin().from_bytes(DocBin(docs=docs, store_user_data=True).to_bytes()).get_docs(BLANK.vocab))
    for doc, loaded in zip(docs, back):
        assert loaded._.relations == doc._.relations
        if isinstance(doc._.image, numpy.ndarray):
            assert numpy.array_equal(loaded._.image, doc._.image)
        else:
            assert loaded._.image == doc._.image and type(loaded._.image) is type(doc._.image)
        assert [(s.start, s.end, s.label_) for s in loaded.spans["entities"]] == [
            (s.start, s.end, s.label_) for s in doc.spans["entities"]
        ]


# -- the component on random batches --------------------------------------------------


@pytest.fixture(scope="module")
def span_nlp(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: corpus_examples()[:2])
    perturb(nlp)  # the markers and the image change the output
    return nlp


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "green.png"
    Image.new("RGB", (12, 9), (0, 200, 0)).save(path)
    return str(path)


MODES = ["RGB", "RGBA", "L", "P", "CMYK", "I;16", "F", "1", "LA"]
SHARED = numpy.full((8, 8, 3), 77, dtype=numpy.uint8)


@st.composite
def doc_images(draw, image_file):
    kind = draw(st.sampled_from(["none", "array", "pil", "bytes", "path", "missing", "broken", "shared"]))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    if kind == "array":
        return numpy.full((size[1], size[0], 3), draw(st.integers(0, 255)), dtype=numpy.uint8)
    if kind == "pil":
        return Image.new(draw(st.sampled_from(MODES)), size)
    if kind == "bytes":
        return png((1, 2, 3))
    if kind == "path":
        return image_file
    if kind == "missing":
        return image_file + ".missing.png"
    if kind == "broken":
        return draw(st.binary(max_size=20))
    if kind == "shared":
        return SHARED
    return None


@WITH_MODEL
@given(data=st.data(), batch_size=st.integers(1, 4))
def test_component_on_random_batches(span_nlp, image_file, data, batch_size):
    """Docs keep text, entities, span groups and image; doc._.relations holds valid
    records; nlp.pipe and nlp() agree."""
    pipe = span_nlp.get_pipe("roc_relations")
    docs = []
    for _ in range(data.draw(st.integers(1, 5))):
        doc, spans = data.draw(docs_with_spans(max_words=20, max_spans=5))
        doc.spans["entities"] = spans
        doc.ents = [s for s in spacy.util.filter_spans(spans) if s.label_]
        doc._.image = data.draw(doc_images(image_file))
        docs.append(doc)
    before = [snapshot(doc) for doc in docs]
    with warnings.catch_warnings(), list_every_pair(pipe):
        warnings.simplefilter("ignore")
        out = list(span_nlp.pipe(docs, batch_size=batch_size))
        single = [span_nlp(doc.copy()) for doc in docs]
    assert all(a is b for a, b in zip(out, docs))
    assert [snapshot(doc) for doc in out] == before
    for doc in out:
        assert_valid_records(doc, none_label="__no_such_label__")
        n_spans = len({(s.start, s.end) for s in doc.spans["entities"]})
        assert len(doc._.relations) == n_spans * (n_spans - 1)
    assert_same_relations(out, single)
