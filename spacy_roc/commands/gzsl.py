"""Generalized zero-shot relations (GZSL): the relations a model was trained on and
relations new to it, offered together, as HMGRL (WebConf 2026) and Chao et al. (2016)
measure it.

A split has three sets of relations: **seen** (trained on), **validation-unseen**
(with the seen dev docs, they choose the calibration gamma) and **test-unseen**; and
seen docs held out of training and of model selection (**seen test**). A split
folder holds:

    train.spacy        seen relations' training docs (other relations' pairs removed)
    dev.spacy          seen dev docs: model selection, and the seen side of gamma
    seen_test.spacy    seen docs used neither for training nor for model selection
    val_unseen.spacy   validation-unseen relations' pairs: the unseen side of gamma
    test_unseen.spacy  test-unseen relations' pairs
    relations.json     the trained relations' entries (the no-relation label and seen)
    all_relations.json the entries of every relation of the split
    split.json         the relations of each set, the metric and the seed

Scores (see `side_scores`): on the seen test docs and on the test-unseen docs, with
the seen and the test-unseen relations offered together, micro P/R/F1 over pairs
whose gold or predicted label is not the no-relation label, and accuracy; H, their
harmonic mean (of F1, and of accuracy); AUSUC, the area under the curve of (unseen
accuracy, seen accuracy) as gamma sweeps from -inf to +inf (Chao et al.). Three rows:
the trained model without routing (the unseen relations through its trained query),
the untrained encoder, and the trained model routed (the unseen relations through its
pretrained pass) and calibrated (gamma chosen on validation).
"""
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc

from ..errors import Errors
from ..formats.codec import record_pairs
from ..formats.docbin import read_docbin, write_docbin
from ..formats.fewrel import fewrel_doc

NONE_LABEL = "None"
METRICS = ("f1", "acc")
PARTS = ("train", "dev", "seen_test", "val_unseen", "test_unseen")


@dataclass(frozen=True)
class GZSLSplit:
    """The relations of a split: seen (trained), validation-unseen and test-unseen;
    the metric H is taken of ("f1": micro-F1 without the no-relation label; "acc":
    accuracy), and the seed that drew it."""

    seen: Tuple[str, ...]
    val_unseen: Tuple[str, ...]
    test_unseen: Tuple[str, ...]
    metric: str
    seed: int
    none_label: str = NONE_LABEL

    def to_json(self) -> Dict[str, Any]:
        return {
            "seen": list(self.seen), "val_unseen": list(self.val_unseen), "test_unseen": list(self.test_unseen),
            "metric": self.metric, "seed": self.seed, "none_label": self.none_label,
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "GZSLSplit":
        return cls(tuple(data["seen"]), tuple(data["val_unseen"]), tuple(data["test_unseen"]), data["metric"], data["seed"], data["none_label"])


# -- splits -----------------------------------------------------------------------------


def thirds(labels: Iterable[str], seed: int) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """The relations (other than the no-relation label) shuffled by the seed and cut
    into thirds: seen, validation-unseen, test-unseen (the last takes the remainder);
    HMGRL's split. ROC_E601 for fewer than three relations."""
    ordered = sorted(set(labels))
    if len(ordered) < 3:
        raise ValueError(Errors.ROC_E601.format(m=len(ordered), n_heldout=0, n=len(ordered)))
    random.Random(seed).shuffle(ordered)
    size = len(ordered) // 3
    return tuple(sorted(ordered[:size])), tuple(sorted(ordered[size : 2 * size])), tuple(sorted(ordered[2 * size :]))


def with_records(doc: Doc, keep: Iterable[str]) -> Optional[Doc]:
    """A copy of a doc with only its relation records whose label is in `keep`; None
    if it has none."""
    keep = set(keep)
    records = [r for r in doc._.relations if r["label"] in keep]
    if not records:
        return None
    copy = doc.copy()
    copy._.relations = records
    copy._.relation_pairs = None
    return copy


def split_corpus(
    train: Sequence[Doc], dev: Sequence[Doc], relations: Dict[str, Any], seed: int, seen_test_share: float = 0.15,
    none_label: str = NONE_LABEL,
) -> Tuple[GZSLSplit, Dict[str, List[Doc]]]:
    """HMGRL's thirds of a corpus with gold pairs (e.g. MNRE): the relations of the
    training docs in thirds (see `thirds`); the training docs keep their seen and
    no-relation pairs, but a `seen_test_share` of them (drawn by the seed) are the
    seen test docs; the dev docs keep their seen and no-relation pairs (model
    selection); every pair of an unseen relation, in either file, goes to its
    unseen set. The metric is micro-F1.

    RETURNS (Tuple[GZSLSplit, Dict[str, List[Doc]]]): The split and the docs of each
        part (see the module docstring).
    """
    labels = {r["label"] for doc in train for r in doc._.relations} - {none_label}
    missing = sorted(label for label in labels if label not in relations)
    if missing:
        raise ValueError(Errors.ROC_E602.format(label=missing[0]))
    seen, val_unseen, test_unseen = thirds(labels, seed)
    split = GZSLSplit(seen, val_unseen, test_unseen, "f1", seed, none_label)
    rng = random.Random(seed)
    held = set(rng.sample(range(len(train)), round(seen_test_share * len(train))))
    known = set(seen) | {none_label}
    parts: Dict[str, List[Doc]] = {part: [] for part in PARTS}
    for i, doc in enumerate(train):
        _add(parts["seen_test" if i in held else "train"], with_records(doc, known))
    for doc in dev:
        _add(parts["dev"], with_records(doc, known))
    for doc in list(train) + list(dev):
        _add(parts["val_unseen"], with_records(doc, val_unseen))
        _add(parts["test_unseen"], with_records(doc, test_unseen))
    return split, parts


def _add(docs: List[Doc], doc: Optional[Doc]) -> None:
    if doc is not None:
        docs.append(doc)


def split_fewrel(
    data: Dict[str, List[Any]], m: int, n_heldout: int, seed: int, n_dev: int = 100, n_seen_test: int = 100,
    n_val_docs: int = 200,
) -> Tuple[GZSLSplit, Dict[str, List[Doc]]]:
    """The FewRel protocol (ZS-BERT's m unseen relations) as a GZSL split: m
    test-unseen relations and `n_heldout` validation-unseen ones drawn by the seed;
    the others are seen, each with n_dev dev sentences (model selection), n_seen_test
    seen test sentences, and the rest to train. The validation-unseen relations give
    n_val_docs sentences each. The metric is accuracy.

    RETURNS (Tuple[GZSLSplit, Dict[str, List[Doc]]]): The split and its docs.
    """
    from spacy.vocab import Vocab

    ordered = sorted(data)
    if not 2 <= m or m + n_heldout > len(ordered) - 2 or n_heldout < 2:
        raise ValueError(Errors.ROC_E601.format(m=m, n_heldout=n_heldout, n=len(ordered)))
    rng = random.Random(seed)
    test_unseen = tuple(sorted(rng.sample(ordered, m)))
    rest = [label for label in ordered if label not in test_unseen]
    val_unseen = tuple(sorted(rng.sample(rest, n_heldout)))
    seen = tuple(label for label in rest if label not in val_unseen)
    split = GZSLSplit(seen, val_unseen, test_unseen, "acc", seed)
    vocab = Vocab()
    parts: Dict[str, List[Doc]] = {part: [] for part in PARTS}
    for label in seen:
        docs = [fewrel_doc(vocab, instance, label) for instance in data[label]]
        rng.shuffle(docs)
        parts["dev"].extend(docs[:n_dev])
        parts["seen_test"].extend(docs[n_dev : n_dev + n_seen_test])
        parts["train"].extend(docs[n_dev + n_seen_test :])
    rng.shuffle(parts["train"])
    parts["val_unseen"] = [fewrel_doc(vocab, instance, label) for label in val_unseen for instance in data[label][:n_val_docs]]
    parts["test_unseen"] = [fewrel_doc(vocab, instance, label) for label in test_unseen for instance in data[label]]
    return split, parts


def write_split(folder: Path, split: GZSLSplit, parts: Dict[str, List[Doc]], relations: Dict[str, Any]) -> Dict[str, int]:
    """Write a split folder (see the module docstring). RETURNS: docs per part."""
    from ..descriptions import NONE_DESCRIPTION, NONE_NAME

    folder.mkdir(parents=True, exist_ok=True)
    for part, docs in parts.items():
        write_docbin(docs, folder / f"{part}.spacy")
    none = {split.none_label: relations.get(split.none_label, {"name": NONE_NAME, "descriptions": [NONE_DESCRIPTION]})}
    every = split.seen + split.val_unseen + split.test_unseen
    missing = [label for label in every if label not in relations]
    if missing:
        raise ValueError(Errors.ROC_E602.format(label=missing[0]))
    srsly.write_json(folder / "relations.json", {**none, **{label: relations[label] for label in split.seen}})
    srsly.write_json(folder / "all_relations.json", {**none, **{label: relations[label] for label in every}})
    srsly.write_json(folder / "split.json", split.to_json())
    return {part: len(docs) for part, docs in parts.items()}


# -- offering relations and scoring -----------------------------------------------------


@dataclass
class Offered:
    """The logits of every gold pair of some docs against an offered relation set.

    logits (numpy.ndarray): (pairs, relations), uncalibrated.
    gold (numpy.ndarray): (pairs,) the index of each pair's gold label.
    labels (List[str]): The offered labels.
    seen (numpy.ndarray): (relations,) bool: the seen relations (gamma is taken off them).
    """

    logits: numpy.ndarray
    gold: numpy.ndarray
    labels: List[str]
    seen: numpy.ndarray

    def predicted(self, gamma: float) -> numpy.ndarray:
        """The index of each pair's predicted label, with gamma taken off the seen
        relations' logits."""
        return (self.logits - gamma * self.seen).argmax(axis=1)

    def flip_points(self) -> numpy.ndarray:
        """Per pair, the gamma where its prediction moves from a seen relation to an
        unseen one: (best seen logit) - (best unseen logit)."""
        best_seen = numpy.where(self.seen, self.logits, -numpy.inf).max(axis=1)
        best_unseen = numpy.where(self.seen, -numpy.inf, self.logits).max(axis=1)
        return best_seen - best_unseen


def offer(nlp: Language, docs: Sequence[Doc], relations: Dict[str, Any], unseen: Sequence[str], route: bool = True, batch_size: int = 64) -> Offered:
    """The logits of the gold pairs of docs (those whose label is offered) with the
    pipeline's relations and the `unseen` ones (added by description) offered
    together. route: the unseen relations go through the pretrained pass (they are
    new to the model); else they are marked trained, so the trained query scores
    them (the model without routing). The pipeline is put back afterwards.
    """
    from ..descriptions import relation_from_json

    pipe = nlp.get_pipe("roc_relations")
    saved = {key: pipe.cfg.get(key) for key in ("relations", "trained")}
    seen_labels = list(pipe.labels)
    try:
        pipe.cfg["relations"] = dict(pipe.cfg["relations"])
        pipe.cfg["trained"] = dict(pipe.cfg["trained"]) if pipe.cfg["trained"] is not None else None
        for label in unseen:
            relation = relation_from_json(label, relations[label], pipe.none_label)
            pipe.add_relation(
                label, relation.descriptions, overwrite=True, name=relation.name, aliases=relation.aliases,
                head_types=relation.head_types, tail_types=relation.tail_types,
            )
        if not route and pipe.cfg["trained"]:
            pipe._record_trained()
        labels = list(pipe.labels)
        keep = set(labels)
        index = {label: i for i, label in enumerate(labels)}
        rows, gold = [], []
        for start in range(0, len(docs), batch_size):
            batch = [_listing_gold_pairs(doc, keep) for doc in docs[start : start + batch_size]]
            rows.append(pipe.model.ops.to_numpy(pipe.model.predict(pipe._batch(batch))))
            gold.extend(index[r["label"]] for doc in docs[start : start + batch_size] for r in doc._.relations if r["label"] in keep)
    finally:
        pipe.cfg.update(saved)
    seen = numpy.asarray([label in seen_labels for label in labels])
    logits = numpy.concatenate(rows) if rows else numpy.zeros((0, len(labels)), dtype="float32")
    return Offered(logits, numpy.asarray(gold, dtype="int64"), labels, seen)


def _listing_gold_pairs(doc: Doc, keep: Iterable[str]) -> Doc:
    """A copy of a gold doc that lists its gold pairs with a label in `keep` (in
    record order) and holds no relations."""
    keep = set(keep)
    copy = doc.copy()
    copy._.relation_pairs = record_pairs(r for r in doc._.relations if r["label"] in keep)
    copy._.relations = []
    return copy


def side_scores(gold: numpy.ndarray, predicted: numpy.ndarray, labels: Sequence[str], none_label: str) -> Dict[str, float]:
    """Accuracy, and micro P/R/F1 over the pairs whose gold or predicted label is not
    the no-relation label (the MNRE protocol), in %."""
    none = labels.index(none_label) if none_label in labels else -1
    correct = gold == predicted
    n_pred = int((predicted != none).sum())
    n_gold = int((gold != none).sum())
    n_hit = int((correct & (gold != none)).sum())
    p = n_hit / n_pred if n_pred else 0.0
    r = n_hit / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    acc = float(correct.mean()) if len(gold) else 0.0
    return {"acc": 100 * acc, "p": 100 * p, "r": 100 * r, "f1": 100 * f}


def harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0


def gzsl_scores(seen: Offered, unseen: Offered, gamma: float, none_label: str) -> Dict[str, Any]:
    """Seen and unseen scores at gamma (see side_scores), and H of F1 and of accuracy."""
    s = side_scores(seen.gold, seen.predicted(gamma), seen.labels, none_label)
    u = side_scores(unseen.gold, unseen.predicted(gamma), unseen.labels, none_label)
    return {"gamma": gamma, "seen": s, "unseen": u, "h_f1": harmonic(s["f1"], u["f1"]), "h_acc": harmonic(s["acc"], u["acc"])}


def gammas(seen: Offered, unseen: Offered) -> List[float]:
    """Every gamma where some prediction changes, as the midpoints between the sorted
    flip points of both sides, with one below and one above them all."""
    points = numpy.unique(numpy.concatenate([seen.flip_points(), unseen.flip_points()]))
    points = points[numpy.isfinite(points)]
    if not len(points):
        return [0.0]
    middles = (points[:-1] + points[1:]) / 2
    return [float(points[0] - 1.0), *map(float, middles), float(points[-1] + 1.0)]


def choose_gamma(seen: Offered, unseen: Offered, metric: str, none_label: str) -> Tuple[float, Dict[str, Any]]:
    """The gamma with the largest H of `metric` ("f1" or "acc"); on a tie, the one
    closest to 0. RETURNS: gamma and its scores."""
    if metric not in METRICS:
        raise ValueError(Errors.ROC_E605.format(value=metric, metrics=list(METRICS)))
    best: Optional[Tuple[Tuple[float, float], float, Dict[str, Any]]] = None
    for gamma in gammas(seen, unseen) + [0.0]:
        scores = gzsl_scores(seen, unseen, gamma, none_label)
        key = (round(scores[f"h_{metric}"], 9), -abs(gamma))
        if best is None or key > best[0]:
            best = (key, gamma, scores)
    return best[1], best[2]


def ausuc(seen: Offered, unseen: Offered) -> float:
    """The area under the seen-unseen accuracy curve as gamma sweeps (Chao et al.
    2016), in % of the unit square: x the unseen accuracy, y the seen accuracy, the
    points in the order of gamma (x never falls, y never rises as gamma grows)."""
    points = [
        (float((unseen.predicted(g) == unseen.gold).mean()), float((seen.predicted(g) == seen.gold).mean()))
        for g in gammas(seen, unseen)
    ]
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return 100 * area


# -- the protocol ---------------------------------------------------------------------


def calibrate(nlp: Language, seen_docs: Sequence[Doc], unseen_docs: Sequence[Doc], relations: Dict[str, Any], metric: str) -> Dict[str, Any]:
    """Choose the pipeline's gamma (see choose_gamma) on seen docs (gold pairs of its
    relations) and unseen docs (gold pairs of relations in `relations` that it does
    not have), offered together, and set it (pipe.gamma, with how it was chosen in
    cfg["calibration"]). RETURNS: the scores at the chosen gamma."""
    pipe = nlp.get_pipe("roc_relations")
    unseen = sorted({r["label"] for doc in unseen_docs for r in doc._.relations if r["label"] in relations} - set(pipe.labels))
    if len(unseen) < 2:
        raise ValueError(Errors.ROC_E603.format(path="the unseen docs", found=unseen))
    seen_side, unseen_side = offer(nlp, seen_docs, relations, unseen), offer(nlp, unseen_docs, relations, unseen)
    unseen_side = _only(unseen_side, unseen)
    gamma, scores = choose_gamma(seen_side, unseen_side, metric, pipe.none_label)
    pipe.gamma = gamma
    pipe.cfg["calibration"] = {
        "metric": metric, "unseen_relations": unseen, "n_seen_pairs": len(seen_side.gold),
        "n_unseen_pairs": len(unseen_side.gold), f"h_{metric}": round(scores[f"h_{metric}"], 4),
    }
    return scores


def _only(offered: Offered, labels: Iterable[str]) -> Offered:
    """The pairs whose gold label is one of `labels`."""
    wanted = numpy.isin(offered.gold, [offered.labels.index(label) for label in labels])
    return Offered(offered.logits[wanted], offered.gold[wanted], offered.labels, offered.seen)


def evaluate_rows(trained: Language, untrained: Language, folder: Path, split: GZSLSplit, relations: Dict[str, Any]) -> Dict[str, Any]:
    """The three rows of a split (see the module docstring): gamma is chosen on the
    dev and validation-unseen docs for the routed model, and all rows are scored on
    the seen test and test-unseen docs with the test-unseen relations offered."""
    vocab = trained.vocab
    docs = {part: read_docbin(folder / f"{part}.spacy", vocab) for part in ("dev", "seen_test", "val_unseen", "test_unseen")}
    calibration = calibrate(trained, docs["dev"], docs["val_unseen"], relations, split.metric)
    gamma = trained.get_pipe("roc_relations").gamma
    rows: Dict[str, Any] = {}
    for name, nlp, route, row_gamma in (
        ("trained, no routing", trained, False, 0.0),
        ("untrained encoder", untrained, True, 0.0),
        ("routed and calibrated", trained, True, gamma),
    ):
        seen = offer(nlp, docs["seen_test"], relations, split.test_unseen, route=route)
        unseen = _only(offer(nlp, docs["test_unseen"], relations, split.test_unseen, route=route), split.test_unseen)
        rows[name] = {**gzsl_scores(seen, unseen, row_gamma, split.none_label), "ausuc": ausuc(seen, unseen)}
    return {"split": split.to_json(), "gamma": gamma, "validation": calibration, "rows": rows}


def run_split(folder: Path, config_path: Path, overrides: Dict[str, Any], gpu_id: int = -1) -> Dict[str, Any]:
    """Train a split's model on its seen relations (`spacy train` with the config;
    model selection on dev.spacy), build the untrained model from the same config,
    and score the three rows (evaluate_rows); the metrics go to metrics.json, and a
    split whose metrics.json exists is read back."""
    import spacy
    from spacy.cli.train import train

    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        return srsly.read_json(metrics_path)
    split = GZSLSplit.from_json(srsly.read_json(folder / "split.json"))
    paths = {f"paths.{name}": str(folder / f"{name}.spacy") for name in ("train", "dev")}
    paths["paths.descriptions"] = str(folder / "relations.json")
    # always trained afresh: a stopped run leaves a model-best of its first evaluation
    train(config_path, folder / "training", use_gpu=gpu_id, overrides={**overrides, **paths})
    trained = spacy.load(folder / "training" / "model-best")
    untrained = untrained_pipeline(config_path, folder / "train.spacy", folder / "relations.json", {**overrides, **paths})
    result = evaluate_rows(trained, untrained, folder, split, srsly.read_json(folder / "all_relations.json"))
    trained.to_disk(folder / "model-calibrated")
    srsly.write_json(metrics_path, result)
    return result


def untrained_pipeline(config_path: Path, train_path: Path, descriptions: Path, overrides: Dict[str, Any]) -> Language:
    """The pipeline of a training config, initialized on the first training docs with
    the descriptions, not trained: the pretrained encoder."""
    import spacy
    from thinc.api import Config

    from ..formats.corpus import RelationCorpus

    config = Config().from_disk(config_path, overrides=overrides)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = list(RelationCorpus(train_path, gold_pairs=True, limit=64)(nlp))
    nlp.get_pipe("roc_relations").initialize(lambda: examples, nlp=nlp, descriptions=str(descriptions))
    return nlp


ROW_NAMES = ("trained, no routing", "untrained encoder", "routed and calibrated")


def gzsl_table(results: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table: per split and row, seen and unseen F1 and accuracy, H (F1,
    accuracy) and AUSUC; then the mean of each row over the splits, and the number of
    splits where the routed row's H (of the split's metric) is strictly above both
    other rows."""
    lines = [
        "| split | row | gamma | seen F1 | unseen F1 | H-F1 | seen acc | unseen acc | H-acc | AUSUC |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        name = _split_name(result["split"])
        for row in ROW_NAMES:
            lines.append(_table_row(name, row, result["rows"][row]))
    for row in ROW_NAMES:
        scores = [result["rows"][row] for result in results]
        mean = {
            "gamma": numpy.mean([s["gamma"] for s in scores]),
            "seen": {k: numpy.mean([s["seen"][k] for s in scores]) for k in ("f1", "acc")},
            "unseen": {k: numpy.mean([s["unseen"][k] for s in scores]) for k in ("f1", "acc")},
            **{k: numpy.mean([s[k] for s in scores]) for k in ("h_f1", "h_acc", "ausuc")},
        }
        lines.append(_table_row(f"mean of {len(results)}", row, mean))
    wins = sum(_routed_wins(result) for result in results)
    lines.append(f"\nRouted and calibrated strictly above both other rows (H of the split's metric): {wins} of {len(results)} splits.")
    same = [f"{_split_name(r['split'])}: {', '.join(_same_rows(r))}" for r in results if _same_rows(r)]
    lines.append(f"Splits where two rows score the same (the same predictions): {'; '.join(same) if same else 'none'}.\n")
    return "\n".join(lines)


def _same_rows(result: Dict[str, Any]) -> List[str]:
    """The pairs of rows of a split whose seen and unseen scores are all equal."""
    rows = result["rows"]
    found = []
    for i, a in enumerate(ROW_NAMES):
        for b in ROW_NAMES[i + 1 :]:
            if rows[a]["seen"] == rows[b]["seen"] and rows[a]["unseen"] == rows[b]["unseen"]:
                found.append(f"{a} = {b}")
    return found


def _routed_wins(result: Dict[str, Any]) -> bool:
    key = f"h_{result['split']['metric']}"
    rows = result["rows"]
    return all(rows["routed and calibrated"][key] > rows[other][key] for other in ROW_NAMES[:2])


def _split_name(split: Dict[str, Any]) -> str:
    return f"seed {split['seed']} ({len(split['seen'])}/{len(split['val_unseen'])}/{len(split['test_unseen'])})"


def _table_row(name: str, row: str, s: Dict[str, Any]) -> str:
    cells = (s["gamma"], s["seen"]["f1"], s["unseen"]["f1"], s["h_f1"], s["seen"]["acc"], s["unseen"]["acc"], s["h_acc"], s["ausuc"])
    return f"| {name} | {row} | " + " | ".join(f"{value:.2f}" if i == 0 else f"{value:.1f}" for i, value in enumerate(cells)) + " |"
