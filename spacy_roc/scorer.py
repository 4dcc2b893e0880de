"""Relation scorer: accuracy over candidate pairs, micro P/R/F over related pairs.

Under the benchmark protocol (MNRE), every candidate pair carries a gold record, the
no-relation label included. A pair's predicted label is the label of its predicted
record, or the no-relation label when the component listed no record for it (it
predicted the no-relation label or scored under the threshold). Gold pairs that the
candidate function never proposed therefore count as false negatives.
"""
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.scorer import PRFScore
from spacy.training import Example
from spacy.util import registry

from .alignment import align_example

LabelPair = Tuple[str, str]
# The summary scores, as (title, key) in report order.
SUMMARY_KEYS: Tuple[Tuple[str, str], ...] = (
    ("Acc", "rel_acc"),
    ("P", "rel_micro_p"),
    ("R", "rel_micro_r"),
    ("F1", "rel_micro_f"),
)


def aligned_labels(example: Example, none_label: str = "None") -> List[LabelPair]:
    """(gold label, predicted label) of every pair of an example that has a gold or a
    predicted record (see spacy_roc.alignment.align_example).

    example (Example): An example whose predicted doc was annotated.
    none_label (str): The no-relation label.
    RETURNS (List[Tuple[str, str]]): (gold label, predicted label) per pair.
    """
    return [(gold, pred) for _, gold, pred in align_example(example, none_label)]


def score_label_pairs(pairs: Iterable[LabelPair], none_label: str = "None") -> Dict[str, Any]:
    """Score (gold, predicted) label pairs with the MNRE protocol.

    pairs (Iterable[Tuple[str, str]]): Gold and predicted label per candidate pair.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Any]): rel_acc, rel_micro_p/r/f and rel_f_per_type.
    """
    micro = PRFScore()
    per_type: Dict[str, PRFScore] = {}
    n_pairs = n_correct = 0
    for gold, pred in pairs:
        n_pairs += 1
        n_correct += gold == pred
        if gold == none_label and pred == none_label:
            continue
        if pred != none_label:
            per_type.setdefault(pred, PRFScore())
            if pred == gold:
                micro.tp += 1
                per_type[pred].tp += 1
            else:
                micro.fp += 1
                per_type[pred].fp += 1
        if gold != none_label and pred != gold:
            micro.fn += 1
            per_type.setdefault(gold, PRFScore()).fn += 1
    return {
        "rel_acc": n_correct / n_pairs if n_pairs else None,
        "rel_micro_p": micro.precision,
        "rel_micro_r": micro.recall,
        "rel_micro_f": micro.fscore,
        "rel_f_per_type": {k: v.to_dict() for k, v in sorted(per_type.items())},
    }


def score_relations(
    examples: Iterable[Example], *, none_label: str = "None", **kwargs: Any
) -> Dict[str, Any]:
    """Score the relations of annotated examples (the benchmark protocol).

    examples (Iterable[Example]): Examples whose predicted docs carry doc._.relations.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Any]): rel_acc, rel_micro_p, rel_micro_r, rel_micro_f and
        rel_f_per_type ({label: {"p": float, "r": float, "f": float}}).
    """
    pairs: List[LabelPair] = []
    for example in examples:
        pairs.extend(aligned_labels(example, none_label))
    return score_label_pairs(pairs, none_label)


def _score(examples: Iterable[Example], *, fixed_none_label: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    label = fixed_none_label if fixed_none_label is not None else kwargs.get("none_label", "None")
    return score_relations(examples, none_label=label)


@registry.scorers("spacy_roc.relation_scorer.v1")
def make_relation_scorer(none_label: Optional[str] = None) -> Callable[..., Dict[str, Any]]:
    """Registered scorer. If none_label is None, the component's own none_label is
    used (the component passes it as a keyword argument). The scorer is a
    module-level partial, so pipelines stay picklable (nlp.pipe(n_process=...)).
    """
    return partial(_score, fixed_none_label=none_label)
