"""Relations by description alone, measured as ZS-BERT and RE-Matching do, on FewRel.

For each seeded split, m relations are unseen (the test); of the others, some are held
out of training (the dev set of unseen relations) and ROC trains on the rest. The
trained model's blend with the pretrained encoder (`pipe.blend`) is chosen on the
held-out relations, never on the unseen ones. Then its relation set is replaced by the
m unseen relations, added with `add_relation` from their entries in a descriptions file,
and every sentence of the unseen relations is classified among those m, the gold pair
given. The untrained model (the blend with mix 0, i.e. the pretrained encoder)
scores the same sentences the same way.

Scores: accuracy, and macro precision (over the predicted classes), macro recall (over
the gold classes) and their harmonic mean. The label texts come in variants, so that
the effect of each can be read off one run: the name and description only (what
Wikidata gives, as in ZS-BERT), plus aliases, plus entity types, and all of them.
The mixed setting offers the trained and the unseen relations together.
"""
import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..descriptions import NONE_DESCRIPTION, NONE_NAME, relation_from_json
from ..errors import Errors
from ..formats.codec import record_pairs
from ..formats.docbin import read_docbin, write_docbin
from ..formats.fewrel import fewrel_doc

VARIANTS = {
    "wikidata": ("name", "descriptions"),
    "aliases": ("name", "descriptions", "aliases"),
    "types": ("name", "descriptions", "head_types", "tail_types"),
    "full": ("name", "descriptions", "aliases", "head_types", "tail_types"),
}
MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
NONE_LABEL = "None"


@dataclass(frozen=True)
class Split:
    """One zero-shot split: the relations trained on, those held out of training
    (to choose the blend), and the m unseen ones (the test)."""

    m: int
    seed: int
    train: Tuple[str, ...]
    heldout: Tuple[str, ...]
    unseen: Tuple[str, ...]

    @property
    def name(self) -> str:
        return f"m{self.m}_seed{self.seed}"


def choose_split(relations: Iterable[str], m: int, seed: int, n_heldout: int) -> Split:
    """m unseen relations and n_heldout held-out ones, drawn with the seed; the others
    are trained on (ROC_E601 if fewer than two are left for training)."""
    ordered = sorted(relations)
    if not 2 <= m or m + n_heldout > len(ordered) - 2 or n_heldout < 2:
        raise ValueError(Errors.ROC_E601.format(m=m, n_heldout=n_heldout, n=len(ordered)))
    rng = random.Random(seed)
    unseen = tuple(sorted(rng.sample(ordered, m)))
    seen = [r for r in ordered if r not in unseen]
    heldout = tuple(sorted(rng.sample(seen, n_heldout)))
    return Split(m, seed, tuple(r for r in seen if r not in heldout), heldout, unseen)


def entry(label: str, relations: Dict[str, Dict[str, Any]], variant: str) -> Dict[str, Any]:
    """A relation's descriptions-file entry, with the fields of a variant only."""
    if label not in relations:
        raise ValueError(Errors.ROC_E602.format(label=label))
    return {field: value for field, value in relations[label].items() if field in VARIANTS[variant]}


def write_split(data: Dict[str, List[Any]], relations: Dict[str, Dict[str, Any]], split: Split, folder: Path, n_dev: int, n_heldout_docs: int) -> None:
    """In folder: train.spacy and dev.spacy (the trained relations; n_dev of each
    for dev), heldout.spacy (n_heldout_docs of each held-out relation), test.spacy
    (all of the unseen ones) and relations.json (the trained relations' entries)."""
    vocab, rng = Vocab(), random.Random(split.seed)
    train, dev = [], []
    for label in split.train:
        docs = [fewrel_doc(vocab, instance, label) for instance in data[label]]
        rng.shuffle(docs)
        dev.extend(docs[:n_dev])
        train.extend(docs[n_dev:])
    rng.shuffle(train)
    heldout = [fewrel_doc(vocab, instance, label) for label in split.heldout for instance in data[label][:n_heldout_docs]]
    test = [fewrel_doc(vocab, instance, label) for label in split.unseen for instance in data[label]]
    folder.mkdir(parents=True, exist_ok=True)
    for name, docs in (("train", train), ("dev", dev), ("heldout", heldout), ("test", test)):
        write_docbin(docs, folder / f"{name}.spacy")
    none = {NONE_LABEL: {"name": NONE_NAME, "descriptions": [NONE_DESCRIPTION]}}
    srsly.write_json(folder / "relations.json", {**none, **{label: entry(label, relations, "full") for label in split.train}})


def relation_probs(nlp: Language, docs: Sequence[Doc], entries: Dict[str, Dict[str, Any]], keep: Iterable[str], batch_size: int = 64) -> numpy.ndarray:
    """The probability of each relation of `entries` (added by description, in place
    of the pipeline's own) for each gold pair of the docs whose label is in `keep`
    (see gold_labels). The pipeline's relations are put back afterwards.
    RETURNS (numpy.ndarray): (pairs, len(entries)), in entry order."""
    keep = set(keep)
    pipe = nlp.get_pipe("roc_relations")
    saved = dict(pipe.cfg["relations"])
    try:
        pipe.cfg["relations"] = {pipe.none_label: saved[pipe.none_label]}
        for label, value in entries.items():
            relation = relation_from_json(label, value, pipe.none_label)
            pipe.add_relation(label, relation.descriptions, name=relation.name, aliases=relation.aliases, head_types=relation.head_types, tail_types=relation.tail_types)
        rows = []
        for start in range(0, len(docs), batch_size):
            batch = [_with_gold_pairs(doc, keep) for doc in docs[start : start + batch_size]]
            rows.append(pipe.model.ops.to_numpy(pipe.predict(batch)[1])[:, 1:])
        return numpy.concatenate(rows)
    finally:
        pipe.cfg["relations"] = saved


def _with_gold_pairs(doc: Doc, keep: Set[str]) -> Doc:
    """A copy of a gold doc that lists its gold pairs with a label in `keep`, and
    holds no relations."""
    copy = doc.copy()
    copy._.relation_pairs = record_pairs(r for r in doc._.relations if r["label"] in keep)
    copy._.relations = []
    return copy


def gold_labels(docs: Sequence[Doc], keep: Iterable[str]) -> List[str]:
    """The gold labels in `keep` of the docs' pairs, in order."""
    keep = set(keep)
    return [r["label"] for doc in docs for r in doc._.relations if r["label"] in keep]


def macro_scores(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    """Accuracy, macro P over the predicted classes, macro R over the gold classes,
    and F1 their harmonic mean (ZS-BERT's and RE-Matching's definition), in %."""
    correct = [g == p for g, p in zip(gold, predicted)]
    precision = statistics.mean(_share(correct, predicted, c) for c in set(predicted))
    recall = statistics.mean(_share(correct, gold, c) for c in set(gold))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"acc": 100 * sum(correct) / len(gold), "macro_p": 100 * precision, "macro_r": 100 * recall, "macro_f": 100 * f1}


def _share(correct: Sequence[bool], labels: Sequence[str], label: str) -> float:
    hits = [ok for ok, other in zip(correct, labels) if other == label]
    return sum(hits) / len(hits)


def variant_scores(nlp: Language, docs: Sequence[Doc], labels: Sequence[str], relations: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """The scores of classifying docs among `labels`, for every label-text variant
    (one pass: each variant's relations are offered side by side, and each variant
    reads only its own columns)."""
    entries = {f"{variant}:{label}": entry(label, relations, variant) for variant in VARIANTS for label in labels}
    probs = relation_probs(nlp, docs, entries, labels)
    gold = gold_labels(docs, labels)
    scores = {}
    for v, variant in enumerate(VARIANTS):
        columns = probs[:, v * len(labels) : (v + 1) * len(labels)]
        scores[variant] = macro_scores(gold, [labels[i] for i in columns.argmax(axis=1)])
    return scores


def choose_mix(nlp: Language, docs: Sequence[Doc], labels: Sequence[str], relations: Dict[str, Dict[str, Any]], mixes: Sequence[float] = MIXES) -> Tuple[float, Dict[float, float]]:
    """The blend that classifies the held-out relations' docs best (macro-F1 among
    `labels`, all label texts), the largest on a tie. RETURNS: the mix and the
    macro-F1 of each."""
    pipe = nlp.get_pipe("roc_relations")
    scores = {}
    for mix in mixes:
        with pipe_blended(pipe, mix):
            scores[mix] = variant_scores(nlp, docs, labels, relations)["full"]["macro_f"]
    best = max(scores, key=lambda mix: (round(scores[mix], 6), mix))
    return best, scores


def heldout_labels(docs: Sequence[Doc], relations: Dict[str, Any], none_label: str, path: Any) -> List[str]:
    """The relations of `relations` (not the no-relation label) that label pairs of
    the held-out docs; at least two (ROC_E603 otherwise)."""
    labels = sorted(set(gold_labels(docs, set(relations) - {none_label})))
    if len(labels) < 2:
        raise ValueError(Errors.ROC_E603.format(path=path, found=labels))
    return labels


def pipe_blended(pipe: Any, mix: float) -> Any:
    from ..model.roc_model import blended

    return blended(pipe.model, mix)


def mixed_scores(nlp: Language, seen_docs: Sequence[Doc], unseen_docs: Sequence[Doc], split: Split, relations: Dict[str, Dict[str, Any]]) -> Dict[str, float]:
    """The mixed setting: the trained relations and the unseen ones offered together
    (all label texts), over the seen relations' dev docs and the unseen test docs:
    macro scores over all, and the accuracy on each part."""
    labels = list(split.train + split.unseen)
    docs = list(seen_docs) + list(unseen_docs)
    probs = relation_probs(nlp, docs, {label: entry(label, relations, "full") for label in labels}, labels)
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    gold = gold_labels(docs, labels)
    scores = macro_scores(gold, predicted)
    n_seen = len(gold_labels(seen_docs, labels))
    scores["acc_seen"] = 100 * statistics.mean(g == p for g, p in zip(gold[:n_seen], predicted[:n_seen]))
    scores["acc_unseen"] = 100 * statistics.mean(g == p for g, p in zip(gold[n_seen:], predicted[n_seen:]))
    return scores


def run_split(
    config_path: Path,
    data: Dict[str, List[Any]],
    relations: Dict[str, Dict[str, Any]],
    split: Split,
    folder: Path,
    *,
    n_dev: int,
    n_heldout_docs: int,
    overrides: Dict[str, Any],
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Write a split, train ROC on its trained relations (`spacy train` with the
    config), choose the blend on the held-out relations, and score the unseen
    relations: untrained (mix 0), trained and blended, trained without blend, and
    the mixed setting. A split whose metrics.json exists is read back, not redone.

    RETURNS (Dict[str, Any]): The split and its scores.
    """
    import spacy
    from spacy.cli.train import train

    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        return srsly.read_json(metrics_path)
    write_split(data, relations, split, folder, n_dev, n_heldout_docs)
    paths = {f"paths.{name}": str(folder / f"{name}.spacy") for name in ("train", "dev")}
    paths["paths.descriptions"] = str(folder / "relations.json")
    train(config_path, folder / "training", use_gpu=gpu_id, overrides={**overrides, **paths})
    nlp = spacy.load(folder / "training" / "model-best")
    heldout = read_docbin(folder / "heldout.spacy", nlp.vocab)
    test = read_docbin(folder / "test.spacy", nlp.vocab)
    mix, heldout_scores = choose_mix(nlp, heldout, list(split.heldout), relations)
    rows: Dict[str, Any] = {}
    pipe = nlp.get_pipe("roc_relations")
    for name, value in (("untrained", 0.0), ("trained", 1.0), ("blended", mix)):
        with pipe_blended(pipe, value):
            rows[name] = variant_scores(nlp, test, list(split.unseen), relations)
            if name != "trained":
                rows[name]["mixed"] = mixed_scores(nlp, read_docbin(folder / "dev.spacy", nlp.vocab), test, split, relations)
    result = {
        "m": split.m, "seed": split.seed, "train": list(split.train), "heldout": list(split.heldout),
        "unseen": list(split.unseen), "mix": mix, "heldout_macro_f": heldout_scores, "scores": rows,
    }
    srsly.write_json(metrics_path, result)
    return result


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


ROWS = (
    ("untrained", "wikidata", "untrained encoder, name + description (Wikidata)"),
    ("blended", "wikidata", "ROC, name + description (Wikidata)"),
    ("untrained", "aliases", "untrained encoder, + aliases"),
    ("blended", "aliases", "ROC, + aliases"),
    ("untrained", "types", "untrained encoder, + entity types"),
    ("blended", "types", "ROC, + entity types"),
    ("untrained", "full", "untrained encoder, + aliases + entity types"),
    ("trained", "full", "ROC without blend (mix 1), + aliases + entity types"),
    ("blended", "full", "ROC, + aliases + entity types"),
    ("untrained", "mixed", "mixed setting, untrained encoder (all texts)"),
    ("blended", "mixed", "mixed setting, ROC (all texts)"),
)
ANCHORS = {
    "ZS-BERT (Chen & Li 2021), 75 / 70 seen relations of the full FewRel": {5: 77.9, 10: 57.3},
    "RE-Matching (Zhao et al. 2023), 75 / 70 seen relations": {5: 92.6, 10: 82.9},
}


def comparison_table(results: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table: per m and row, Acc / macro P / R / F1 as mean ± sample std
    over the splits, the number of splits where ROC is at least the untrained encoder,
    then the published macro-F1 anchors."""
    lines = ["| m | row | splits | Acc | macro P | macro R | macro F1 |", "|---:|---|---:|---:|---:|---:|---:|"]
    for m in sorted({r["m"] for r in results}):
        group = [r for r in results if r["m"] == m]
        for model, variant, title in ROWS:
            cells = ["%.1f ± %.1f" % mean_std([r["scores"][model][variant][key] for r in group]) for key in ("acc", "macro_p", "macro_r", "macro_f")]
            lines.append(f"| {m} | {title} | {len(group)} | " + " | ".join(cells) + " |")
        mixes = ", ".join(f"{r['mix']:g}" for r in group)
        wins = sum(r["scores"]["blended"]["full"]["macro_f"] >= r["scores"]["untrained"]["full"]["macro_f"] for r in group)
        lines.append(f"| {m} | blend chosen on held-out relations: {mixes}; ROC ≥ untrained on {wins} of {len(group)} splits | | | | | |")
        for title, scores in ANCHORS.items():
            lines.append(f"| {m} | {title} | – | – | – | – | {scores.get(m, '–')} |")
    return "\n".join(lines) + "\n"


def transfer_scores(nlp: Language, data: Dict[str, List[Any]], relations: Dict[str, Dict[str, Any]], ways: Sequence[int], per_relation: int) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Relations by description on another dataset: a trained pipeline's relations are
    replaced by the first k relations of the data (sorted ids, for each k in ways),
    added from their entries, and the first `per_relation` sentences of each are
    classified among them; the untrained model (the pipeline blended with mix 0)
    likewise. RETURNS: per model ("pipeline", "untrained") and k, the scores of the
    "wikidata" and "full" variants."""
    vocab = nlp.vocab
    pipe = nlp.get_pipe("roc_relations")
    scores: Dict[str, Dict[int, Dict[str, float]]] = {"pipeline": {}, "untrained": {}}
    for k in ways:
        labels = sorted(data)[:k]
        docs = [fewrel_doc(vocab, instance, label) for label in labels for instance in data[label][:per_relation]]
        for name, mix in (("pipeline", 1.0), ("untrained", 0.0)):
            with pipe_blended(pipe, mix):
                by_variant = variant_scores(nlp, docs, labels, relations)
            scores[name][k] = {variant: by_variant[variant]["acc"] for variant in ("wikidata", "full")}
    return scores
