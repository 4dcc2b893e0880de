"""Typed entity markers and windowing."""
import pytest
from spacy.tokens import Span

from conftest import BLANK
from spacy_roc.model.markers import PairTokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert_dir))


def decode(tok, ids):
    return tok.convert_ids_to_tokens(ids)


def test_typed_markers(tokenizer):
    doc = BLANK("anna drew the red circle")
    pt = PairTokenizer(tokenizer, 48)
    head, tail = Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "SHAPE")
    enc = pt.encode(pt.doc_pieces(doc), head, tail)
    tokens = decode(tokenizer, enc.input_ids)
    assert tokens == ["[CLS]", "@", "*", "person", "*", "anna", "@", "drew", "#", "^", "shape", "^", "the", "red", "circle", "#", "[SEP]"]
    assert tokens[enc.head_marker] == "@" and enc.head_marker == 1
    assert tokens[enc.tail_marker] == "#" and enc.tail_marker == 8
    # the mentions' first and last wordpieces
    assert enc.head_span == (5, 5) and enc.tail_span == (12, 14)
    # reversed direction swaps the marker kinds
    enc2 = pt.encode(pt.doc_pieces(doc), tail, head)
    assert decode(tokenizer, enc2.input_ids)[enc2.head_marker : enc2.head_marker + 3] == ["@", "*", "shape"]
    assert decode(tokenizer, enc2.input_ids)[enc2.head_span[0] : enc2.head_span[1] + 1] == ["the", "red", "circle"]


def test_tokenizer_without_the_markers_raises(tmp_path):
    from transformers import BertTokenizerFast

    # a vocabulary without "#" and "^": the tail markers would become [UNK]
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "@", "*", "anna"]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    with pytest.raises(ValueError, match=r"\[ROC_E034\]"):
        PairTokenizer(tokenizer, 48)


def test_nested_spans_keep_both_markers(tokenizer):
    doc = BLANK("the red circle")
    pt = PairTokenizer(tokenizer, 48)
    enc = pt.encode(pt.doc_pieces(doc), Span(doc, 0, 3, "SHAPE"), Span(doc, 1, 3, "SHAPE"))
    tokens = decode(tokenizer, enc.input_ids)
    assert tokens.count("@") == 2 and tokens.count("#") == 2
    assert tokens[enc.head_marker] == "@" and tokens[enc.tail_marker] == "#"
    # each mention starts at its first word, after its own markers, and ends right before
    # its own closing marker
    assert tokens[enc.head_span[0]] == "the" and tokens[enc.tail_span[0]] == "red"
    closing = [i for i, token in enumerate(tokens) if token in ("@", "#")][-2:]
    assert (enc.head_span[1], enc.tail_span[1]) == (closing[0] - 1, closing[1] - 1)


@pytest.mark.parametrize("gap", [5, 40, 300])
def test_long_texts_keep_both_markers(tokenizer, gap):
    words = ["anna"] + ["the"] * gap + ["red", "circle"] + ["and"] * 50
    doc = BLANK(" ".join(words))
    pt = PairTokenizer(tokenizer, 32)
    head, tail = Span(doc, 0, 1, "PERSON"), Span(doc, gap + 1, gap + 3, "SHAPE")
    enc = pt.encode(pt.doc_pieces(doc), head, tail)
    tokens = decode(tokenizer, enc.input_ids)
    assert len(enc.input_ids) <= 32
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[enc.head_marker : enc.head_marker + 5] == ["@", "*", "person", "*", "anna"]
    assert tokens[enc.tail_marker : enc.tail_marker + 4] == ["#", "^", "shape", "^"]
    assert tokens[enc.head_span[0] : enc.head_span[1] + 1] == ["anna"]


def test_nested_spans_in_a_long_text_keep_each_wordpiece_once(tokenizer):
    # the head inside the tail, both far into a text longer than the window: one window
    # from the tail's marker, so the head's marker and mention are not kept twice
    words = ["the"] * 60 + ["anna", "drew", "red", "circle", "and", "ben"]
    doc = BLANK(" ".join(words))
    pt = PairTokenizer(tokenizer, 16)
    head, tail = Span(doc, 62, 63, "SHAPE"), Span(doc, 60, 65, "PERSON")
    enc = pt.encode(pt.doc_pieces(doc), head, tail)
    tokens = decode(tokenizer, enc.input_ids)
    assert tokens == ["[CLS]", "#", "^", "person", "^", "anna", "drew", "@", "*", "shape", "*", "red", "@", "circle", "and", "[SEP]"]
    assert (enc.head_marker, enc.head_span, enc.tail_marker, enc.tail_span) == (7, (11, 11), 1, (5, 13))  # the closing marker falls outside: clamped to the last kept wordpiece


def test_max_length_too_small(tokenizer):
    with pytest.raises(ValueError, match=r"\[ROC_E020\]"):
        PairTokenizer(tokenizer, 8)


def test_same_span_raises(tokenizer):
    doc = BLANK("anna drew")
    pt = PairTokenizer(tokenizer, 32)
    with pytest.raises(ValueError, match=r"\[ROC_E016\]"):
        pt.encode(pt.doc_pieces(doc), Span(doc, 0, 1), Span(doc, 0, 1))
