"""The relation scorer against hand-computed figures."""
import pytest
from spacy.training import Example
from spacy.util import registry

from conftest import BLANK
from spacy_roc.extensions import make_record
from spacy_roc.scorer import score_relations


def example(gold, pred):
    ref = BLANK("a b c d e f")
    doc = BLANK("a b c d e f")
    ref._.relations = [make_record(h, t, label) for h, t, label in gold]
    doc._.relations = [make_record(h, t, label, 0.9) for h, t, label in pred]
    return Example(doc, ref)


def test_scorer_hand_computed():
    A, B, C, D = (0, 1), (1, 2), (2, 3), (3, 4)
    gold = [
        (A, B, "r1"),  # predicted r1: tp
        (B, C, "r2"),  # predicted r1: fp(r1) + fn(r2)
        (C, D, "None"),  # predicted r2: fp(r2)
        (A, C, "None"),  # not listed: correct None
        (A, D, "r1"),  # not listed (or never proposed): fn(r1)
    ]
    pred = [(A, B, "r1"), (B, C, "r1"), (C, D, "r2")]
    scores = score_relations([example(gold, pred)], none_label="None")
    # pairs: 5 gold pairs; correct: (A,B) and (A,C) -> 2/5
    assert scores["rel_acc"] == pytest.approx(2 / 5)
    # tp=1, fp=2, fn=2
    assert scores["rel_micro_p"] == pytest.approx(1 / 3)
    assert scores["rel_micro_r"] == pytest.approx(1 / 3)
    assert scores["rel_micro_f"] == pytest.approx(1 / 3)
    per = scores["rel_f_per_type"]
    # r1: tp 1, fp 1, fn 1 -> p = r = f = 0.5
    assert per["r1"]["p"] == pytest.approx(0.5) and per["r1"]["r"] == pytest.approx(0.5)
    # r2: tp 0, fp 1, fn 1
    assert per["r2"]["p"] == 0 and per["r2"]["r"] == 0 and per["r2"]["f"] == 0
    assert "None" not in per


def test_predicted_pair_without_gold_counts_as_false_positive():
    scores = score_relations([example([], [((0, 1), (1, 2), "r1")])], none_label="None")
    assert scores["rel_acc"] == 0.0
    assert scores["rel_micro_p"] == 0.0


def test_registered_scorer_uses_component_none_label():
    scorer = registry.scorers.get("spacy_roc.relation_scorer.v1")()
    eg = example([((0, 1), (1, 2), "NA")], [])
    scores = scorer([eg], none_label="NA")
    assert scores["rel_acc"] == 1.0
    assert scores["rel_micro_f"] == 0.0
