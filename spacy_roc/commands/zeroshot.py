"""Zero-shot relations, measured as ZS-BERT and RE-Matching do, on FewRel.

For each seeded choice of m unseen relations, ROC is trained on the other relations
only (with a dev part of those for model selection), then its relation set is
replaced by the unseen relations, added with `add_relation` from their Wikidata name
and description (or the name only), and every sentence of the unseen relations is
classified among those m, the gold pair given and the no-relation label excluded.
Scores: accuracy, and macro precision (over the predicted classes), macro recall
(over the gold classes) and their harmonic mean. The untrained text encoder is the
baseline: the cosine between each sentence and "head, name: description, tail".
"""
import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..formats.fewrel import fewrel_doc
from ..formats.docbin import write_docbin
from ..errors import Errors

NONE_LABEL = "None"
MODES = ("description", "name")
Names = Dict[str, Tuple[str, str]]


@dataclass(frozen=True)
class Split:
    """One zero-shot split: the relations trained on and the m held out."""

    m: int
    seed: int
    seen: Tuple[str, ...]
    unseen: Tuple[str, ...]

    @property
    def name(self) -> str:
        return f"m{self.m}_seed{self.seed}"


def choose_split(relations: Iterable[str], m: int, seed: int) -> Split:
    """m unseen relations drawn with the seed; the others are seen."""
    ordered = sorted(relations)
    if not 2 <= m < len(ordered):
        raise ValueError(Errors.ROC_E601.format(m=m, n=len(ordered)))
    unseen = tuple(sorted(random.Random(seed).sample(ordered, m)))
    return Split(m, seed, tuple(r for r in ordered if r not in unseen), unseen)


def relation_text(label: str, names: Names, mode: str) -> str:
    """A relation's description for `add_relation`: "name: description", or the name."""
    if label not in names:
        raise ValueError(Errors.ROC_E602.format(label=label))
    name, description = names[label]
    return f"{name}: {description}" if mode == "description" else name


def write_split(data: Dict[str, List[Any]], names: Names, split: Split, folder: Path, n_dev: int) -> None:
    """train.spacy and dev.spacy (the seen relations; n_dev of each for dev),
    test.spacy (all of the unseen ones) and descriptions.json (the seen relations),
    in folder."""
    vocab = Vocab()
    rng = random.Random(split.seed)
    train, dev = [], []
    for label in split.seen:
        docs = [fewrel_doc(vocab, instance, label) for instance in data[label]]
        rng.shuffle(docs)
        dev.extend(docs[:n_dev])
        train.extend(docs[n_dev:])
    rng.shuffle(train)
    test = [fewrel_doc(vocab, instance, label) for label in split.unseen for instance in data[label]]
    folder.mkdir(parents=True, exist_ok=True)
    for name, docs in (("train", train), ("dev", dev), ("test", test)):
        write_docbin(docs, folder / f"{name}.spacy")
    descriptions = {NONE_LABEL: ["no relation"], **{label: [relation_text(label, names, "description")] for label in split.seen}}
    srsly.write_json(folder / "descriptions.json", descriptions)


def classify_unseen(nlp: Language, docs: Sequence[Doc], split: Split, names: Names, mode: str, batch_size: int = 64) -> List[str]:
    """The unseen relation predicted for each doc's gold pair, among the m unseen
    relations only (added by description or name; the trained ones removed)."""
    pipe = nlp.get_pipe("roc_relations")
    for label in [label for label in pipe.labels if label != pipe.none_label]:
        pipe.remove_relation(label)
    for label in split.unseen:
        pipe.add_relation(label, [relation_text(label, names, mode)])
    columns = [pipe.labels.index(label) for label in split.unseen]
    predicted = []
    for start in range(0, len(docs), batch_size):
        batch = [_with_gold_pair(doc) for doc in docs[start : start + batch_size]]
        probs = nlp.get_pipe("roc_relations").model.ops.to_numpy(pipe.predict(batch)[1])
        predicted.extend(split.unseen[int(row[columns].argmax())] for row in probs)
    return predicted


def _with_gold_pair(doc: Doc) -> Doc:
    """A copy of a gold doc that lists its gold pair and holds no relations."""
    copy = doc.copy()
    copy._.relation_pairs = [(r["head"], r["tail"]) for r in doc._.relations]
    copy._.relations = []
    return copy


def baseline_unseen(
    encode: Callable[[List[str]], Any], docs: Sequence[Doc], split: Split, names: Names, batch_size: int = 32
) -> List[str]:
    """What a user would try first: the unseen relation whose "head, name:
    description, tail" is nearest (cosine) to the sentence, with an untrained
    sentence encoder (`encode` gives unit vectors, one row per text)."""
    predicted = []
    width = len(split.unseen) + 1
    for start in range(0, len(docs), batch_size):
        texts = [text for doc in docs[start : start + batch_size] for text in _baseline_texts(doc, split, names)]
        vectors = encode(texts)
        vectors = vectors.reshape(len(texts) // width, width, vectors.shape[-1])  # (docs, 1 + m, D)
        scores = (vectors[:, 1:] * vectors[:, :1]).sum(-1)  # (docs, m)
        predicted.extend(split.unseen[int(i)] for i in scores.argmax(-1))
    return predicted


def _baseline_texts(doc: Doc, split: Split, names: Names) -> List[str]:
    """The sentence, then "head, name: description, tail" for each unseen relation."""
    record = doc._.relations[0]
    head, tail = (doc[start:end].text for start, end in (record["head"], record["tail"]))
    return [doc.text, *(f"{head}, {relation_text(label, names, 'description')}, {tail}" for label in split.unseen)]


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


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def sentence_encoder(model_name: str) -> Callable[[List[str]], Any]:
    """Unit sentence vectors from a Hugging Face encoder (mean pooling), untrained
    for relations: all-MiniLM-L6-v2 is a sentence-embedding model."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(model_name), AutoModel.from_pretrained(model_name).eval()

    def encode(texts: List[str]) -> Any:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()

    return encode



def run_split(
    config_path: Path,
    data: Dict[str, List[Any]],
    names: Names,
    split: Split,
    folder: Path,
    *,
    n_dev: int,
    overrides: Dict[str, Any],
    encode: Callable[[List[str]], Any],
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Write a split, train ROC on its seen relations (`spacy train` with the
    config), and score the unseen relations by description, by name, and with the
    untrained encoder. A split whose metrics.json exists is read back, not redone.

    RETURNS (Dict[str, Any]): The split and its scores per row.
    """
    import spacy
    from spacy.cli.train import train

    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        return srsly.read_json(metrics_path)
    write_split(data, names, split, folder, n_dev)
    paths = {f"paths.{name}": str(folder / f"{name}.spacy") for name in ("train", "dev")}
    paths["paths.descriptions"] = str(folder / "descriptions.json")
    train(config_path, folder / "training", use_gpu=gpu_id, overrides={**overrides, **paths})
    nlp = spacy.load(folder / "training" / "model-best")
    from ..formats.docbin import read_docbin

    test = read_docbin(folder / "test.spacy", nlp.vocab)
    gold = [doc._.relations[0]["label"] for doc in test]
    rows = {mode: macro_scores(gold, classify_unseen(nlp, test, split, names, mode)) for mode in MODES}
    rows["untrained"] = macro_scores(gold, baseline_unseen(encode, test, split, names))
    result = {"m": split.m, "seed": split.seed, "seen": list(split.seen), "unseen": list(split.unseen), "scores": rows}
    srsly.write_json(metrics_path, result)
    return result


ROWS = {
    "description": "ROC, unseen relations added by name + description",
    "name": "ROC, unseen relations added by name only",
    "untrained": "all-MiniLM-L6-v2 without training (cosine: sentence vs \"head, name: description, tail\")",
}
ANCHORS = {
    "ZS-BERT (Chen & Li 2021), 75 / 70 seen relations of the full FewRel": {5: 77.9, 10: 57.3},
    "RE-Matching (Zhao et al. 2023), 75 / 70 seen relations": {5: 92.6, 10: 82.9},
}


def comparison_table(results: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table: per m and row, Acc / macro P / R / F1 as mean ± sample std
    over the splits, then the published macro-F1 anchors."""
    lines = ["| m | row | splits | Acc | macro P | macro R | macro F1 |", "|---:|---|---:|---:|---:|---:|---:|"]
    for m in sorted({r["m"] for r in results}):
        group = [r for r in results if r["m"] == m]
        for row, title in ROWS.items():
            cells = ["%.1f ± %.1f" % mean_std([r["scores"][row][key] for r in group]) for key in ("acc", "macro_p", "macro_r", "macro_f")]
            lines.append(f"| {m} | {title} | {len(group)} | " + " | ".join(cells) + " |")
        for title, scores in ANCHORS.items():
            lines.append(f"| {m} | {title} | – | – | – | – | {scores.get(m, '–')} |")
    return "\n".join(lines) + "\n"


def transfer_scores(
    nlp: Language, data: Dict[str, List[Any]], names: Names, ways: Sequence[int], per_relation: int, encode: Callable[[List[str]], Any]
) -> Dict[str, Dict[int, float]]:
    """Relations by description on other text: a trained pipeline's relations are
    replaced by the first `k` FewRel relations (sorted ids, for each k in ways), added
    by name and description, and the first `per_relation` sentences of each are
    classified among them; the untrained encoder likewise. RETURNS: accuracy in %
    per model ("pipeline", "untrained") and k."""
    vocab = nlp.vocab
    scores: Dict[str, Dict[int, float]] = {"pipeline": {}, "untrained": {}}
    for k in ways:
        relations = tuple(sorted(data)[:k])
        split = Split(k, 0, (), relations)
        docs = [fewrel_doc(vocab, instance, label) for label in relations for instance in data[label][:per_relation]]
        gold = [doc._.relations[0]["label"] for doc in docs]
        scores["pipeline"][k] = macro_scores(gold, classify_unseen(nlp, docs, split, names, "description"))["acc"]
        scores["untrained"][k] = macro_scores(gold, baseline_unseen(encode, docs, split, names))["acc"]
    return scores
