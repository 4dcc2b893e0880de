"""Relations by description on other data: `zeroshot transfer` and `zeroshot
type-weight`.

- transfer: a trained pipeline's relations are replaced by another dataset's (FewRel),
  added by description, and the data's sentences are classified among them (the gold
  pair given). Those relations are new to the model, so it scores them with its
  pretrained pass; beside it, the same model without routing (the new relations
  through its trained query) and the untrained encoder.
- type-weight: the entity-type weight of the score (`type_weight` of
  spacy_roc.ROCModel.v2) chosen on relations held out of training only: the
  untrained pipeline of a config classifies held-out pairs among the held-out
  relations for each weight.

Scores: accuracy, and macro precision (over the predicted classes), macro recall
(over the gold classes) and their harmonic mean (ZS-BERT's and RE-Matching's
definition). Label-text variants: "wikidata" (name and description) and "full"
(also aliases and entity types).
"""
import statistics
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from ..errors import Errors
from ..formats.fewrel import fewrel_doc
from .gzsl import offer

VARIANTS = {
    "wikidata": ("name", "descriptions"),
    "full": ("name", "descriptions", "aliases", "head_types", "tail_types"),
}


def entry(label: str, relations: Dict[str, Dict[str, Any]], variant: str) -> Dict[str, Any]:
    """A relation's descriptions-file entry, with the fields of a variant only."""
    if label not in relations:
        raise ValueError(Errors.ROC_E602.format(label=label))
    value = relations[label]
    value = value if isinstance(value, dict) else {"descriptions": value}
    return {field: v for field, v in value.items() if field in VARIANTS[variant]}


def gold_labels(docs: Sequence[Doc], keep: Any) -> List[str]:
    """The gold labels in `keep` of the docs' pairs, in order."""
    keep = set(keep)
    return [r["label"] for doc in docs for r in doc._.relations if r["label"] in keep]


def macro_scores(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    """Accuracy, macro P over the predicted classes, macro R over the gold classes,
    and F1 their harmonic mean, in %."""
    correct = [g == p for g, p in zip(gold, predicted)]
    precision = statistics.mean(_share(correct, predicted, c) for c in set(predicted))
    recall = statistics.mean(_share(correct, gold, c) for c in set(gold))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"acc": 100 * sum(correct) / len(gold), "macro_p": 100 * precision, "macro_r": 100 * recall, "macro_f": 100 * f1}


def _share(correct: Sequence[bool], labels: Sequence[str], label: str) -> float:
    hits = [ok for ok, other in zip(correct, labels) if other == label]
    return sum(hits) / len(hits)


def classify_among(nlp: Language, docs: Sequence[Doc], labels: Sequence[str], relations: Dict[str, Any], variant: str = "full", route: bool = True) -> Dict[str, float]:
    """The macro scores of classifying the gold pairs of docs whose label is in
    `labels` among those relations only (added by description in place of the
    pipeline's own, the no-relation label kept out of the argmax). route: see
    gzsl.offer."""
    pipe = nlp.get_pipe("roc_relations")
    saved = dict(pipe.cfg["relations"])
    try:
        pipe.cfg["relations"] = {pipe.none_label: saved[pipe.none_label]}
        entries = {label: entry(label, relations, variant) for label in labels}
        offered = offer(nlp, docs, entries, list(labels), route=route)
    finally:
        pipe.cfg["relations"] = saved
    columns = [offered.labels.index(label) for label in labels]
    predicted = [labels[i] for i in offered.logits[:, columns].argmax(axis=1)]
    return macro_scores([offered.labels[i] for i in offered.gold], predicted)


TRANSFER_ROWS = ("routed (new relations: pretrained pass)", "no routing (new relations: trained query)", "untrained encoder")


def transfer_scores(nlp: Language, untrained: Language, data: Dict[str, List[Any]], relations: Dict[str, Dict[str, Any]], ways: Sequence[int], per_relation: int) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Accuracy of classifying the first `per_relation` sentences of the first k
    relations of the data (sorted ids, for each k in ways) among those k, given by
    description, for each row of TRANSFER_ROWS and label-text variant.
    RETURNS: {row: {k: {variant: accuracy}}}."""
    scores: Dict[str, Dict[int, Dict[str, float]]] = {row: {} for row in TRANSFER_ROWS}
    for k in ways:
        labels = sorted(data)[:k]
        docs = [fewrel_doc(nlp.vocab, instance, label) for label in labels for instance in data[label][:per_relation]]
        for row, pipeline, route in zip(TRANSFER_ROWS, (nlp, nlp, untrained), (True, False, True)):
            scores[row][k] = {variant: classify_among(pipeline, docs, labels, relations, variant, route)["acc"] for variant in VARIANTS}
    return scores


def untrained_copy(nlp: Language) -> Language:
    """The pipeline's untrained encoder: a copy whose component knows no trained
    relation, so that every relation goes through its pretrained pass (the frozen
    copy of the text encoder as it was before training)."""
    import spacy

    copy = spacy.util.load_model_from_config(nlp.config, auto_fill=False).from_bytes(nlp.to_bytes())
    copy.get_pipe("roc_relations").cfg["trained"] = {}
    return copy


def type_weight_scores(config_path: Path, docs: Sequence[Doc], relations: Dict[str, Any], weights: Sequence[float], overrides: Dict[str, Any]) -> Tuple[float, Dict[float, Dict[str, float]]]:
    """For each type weight, the untrained pipeline of the config classifies the gold
    pairs of the held-out docs among the held-out relations (those of `relations`
    that label their pairs, at least two; ROC_E603 otherwise). RETURNS: the weight
    with the best macro-F1 (the smaller on a tie) and the scores of each."""
    import spacy
    from thinc.api import Config

    labels = sorted(set(gold_labels(docs, set(relations))) - {"None"})
    if len(labels) < 2:
        raise ValueError(Errors.ROC_E603.format(path="the held-out docs", found=labels))
    scores = {}
    for weight in weights:
        config = Config().from_disk(config_path, overrides={**overrides, "components.roc_relations.model.type_weight": weight})
        nlp = spacy.util.load_model_from_config(config, auto_fill=True)
        pipe = nlp.get_pipe("roc_relations")
        pipe.model.initialize()
        pipe.cfg.update({"relations": {pipe.none_label: {"name": "no relation", "descriptions": ["There is no relation between the head entity and the tail entity."]}}, "trained": {}})
        scores[weight] = classify_among(nlp, docs, labels, relations)
    best = max(scores, key=lambda w: (round(scores[w]["macro_f"], 6), -w))
    return best, scores
