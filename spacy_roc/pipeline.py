"""The `roc_relations` pipeline component: relation extraction by retrieval.

For each candidate entity pair of a doc, the ROC model scores the pair against every
relation's description prototype; the nearest relation is the prediction, its softmax
probability the score, and the runner-ups the alternatives. Results are written to
`doc._.relations`; nothing else on the doc is changed.
"""
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer
from thinc.types import Floats2d

from .candidates import CandidateFunc
from .descriptions import clean_descriptions, complete_descriptions, load_descriptions
from .errors import Errors, Warnings, warn
from .extensions import install_extensions, make_record, record_key, validate_record
from .images import ImageError, load_image
from .model import RelationBatch, RelationSet

default_model_config = """
[model]
@architectures = "spacy_roc.ROCModel.v1"
head = "retrieval"
fusion_layers = 2
fusion_heads = null
hidden_width = null
output_width = null
dropout = 0.1
temperature = 0.05
learn_scale = true
bf16 = true
max_pairs_per_batch = 256
relation_encoder = null

[model.text_encoder]
@architectures = "spacy_roc.HFTextEncoder.v1"
name = "bert-base-uncased"
max_length = 128
pretrained = true

[model.image_encoder]
@architectures = "spacy_roc.TimmImageEncoder.v1"
name = "vit_base_patch16_224"
pretrained = true
checkpoint_path = null
"""
DEFAULT_MODEL = Config().from_str(default_model_config)["model"]

Pair = Tuple[Span, Span]


@Language.factory(
    "roc_relations",
    assigns=["doc._.relations"],
    default_config={
        "model": DEFAULT_MODEL,
        "candidates": {"@misc": "spacy_roc.all_pairs.v1", "max_distance": None, "restrict_types": True},
        "threshold": 0.0,
        "top_k": 3,
        "none_label": "None",
        "spans_key": None,
        "on_missing_image": "text_only",
        "images_dir": None,
        "scorer": {"@scorers": "spacy_roc.relation_scorer.v1"},
    },
    default_score_weights={"rel_micro_f": 1.0, "rel_micro_p": 0.0, "rel_micro_r": 0.0, "rel_acc": 0.0},
)
def make_roc_relations(
    nlp: Language,
    name: str,
    model: Model[RelationBatch, Floats2d],
    candidates: CandidateFunc,
    threshold: float,
    top_k: int,
    none_label: str,
    spans_key: Optional[str],
    on_missing_image: str,
    images_dir: Optional[str],
    scorer: Optional[Callable],
) -> "RelationRetriever":
    """Create a roc_relations component (see RelationRetriever)."""
    return RelationRetriever(
        nlp.vocab,
        model,
        name,
        candidates=candidates,
        threshold=threshold,
        top_k=top_k,
        none_label=none_label,
        spans_key=spans_key,
        on_missing_image=on_missing_image,
        images_dir=images_dir,
        scorer=scorer,
    )


class RelationRetriever(TrainablePipe):
    """Retrieve relations between entity pairs by matching them to descriptions.

    vocab (Vocab): The shared vocabulary.
    model (Model[RelationBatch, Floats2d]): The ROC model.
    name (str): The component name.
    candidates (CandidateFunc): Proposes the (head, tail) pairs of a doc.
    threshold (float): Minimum probability for a relation to be listed.
    top_k (int): Number of runner-up relations listed as alternatives.
    none_label (str): The no-relation label; such predictions are not listed.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    on_missing_image (str): "text_only" or "error", for docs whose image is absent
        or unreadable.
    images_dir (Optional[str]): Folder for relative image paths.
    scorer (Optional[Callable]): The scoring method.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[RelationBatch, Floats2d],
        name: str = "roc_relations",
        *,
        candidates: CandidateFunc,
        threshold: float = 0.0,
        top_k: int = 3,
        none_label: str = "None",
        spans_key: Optional[str] = None,
        on_missing_image: str = "text_only",
        images_dir: Optional[str] = None,
        scorer: Optional[Callable] = None,
    ):
        install_extensions()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.candidates = candidates
        self.threshold = threshold
        self.top_k = top_k
        if on_missing_image not in ("text_only", "error"):
            raise ValueError(Errors.ROC_E005.format(value=on_missing_image))
        self.none_label = none_label
        self.spans_key = spans_key
        self.on_missing_image = on_missing_image
        self.images_dir = images_dir
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"relations": {}, "type_pairs": [], "none_label": none_label}
        # Counts over the component's lifetime; the warnings come once per batch.
        self.missing_images = 0
        self.image_failures = 0

    @property
    def threshold(self) -> float:
        """Minimum probability for a relation to be listed, in [0, 1]."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = _check_threshold(value)

    @property
    def top_k(self) -> int:
        """Number of runner-up relations listed as alternatives (0 or more)."""
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._top_k = _check_top_k(value)

    # -- relation set -----------------------------------------------------------------

    @property
    def relations(self) -> Dict[str, List[str]]:
        """The current relation set {label: [descriptions]}."""
        return {label: list(texts) for label, texts in self.cfg["relations"].items()}

    @property
    def labels(self) -> Tuple[str, ...]:
        """The relation labels, the no-relation label included."""
        return tuple(self.cfg["relations"])

    def add_relation(self, label: str, descriptions: Sequence[str], overwrite: bool = False) -> None:
        """Add a relation at inference, by description alone (zero-shot).

        label (str): The new relation label.
        descriptions (Sequence[str]): Its natural-language descriptions.
        overwrite (bool): Replace the descriptions of an existing label.
        """
        if self.model.attrs["head"] != "retrieval":
            raise ValueError(Errors.ROC_E011)
        if label in self.cfg["relations"] and not overwrite:
            raise ValueError(Errors.ROC_E009.format(label=label))
        self.cfg["relations"][label] = clean_descriptions(label, descriptions)

    def remove_relation(self, label: str) -> None:
        """Remove a relation from the retrieved set (the no-relation label stays).

        label (str): The relation label.
        """
        if self.model.attrs["head"] != "retrieval":
            raise ValueError(Errors.ROC_E011)
        if label == self.none_label:
            raise ValueError(Errors.ROC_E019.format(none_label=label))
        self.cfg["relations"].pop(label, None)

    def add_label(self, label: str) -> int:
        """Add a label with its name as its description (spaCy's add_label API)."""
        if label in self.cfg["relations"]:
            return 0
        self.cfg["relations"].update(complete_descriptions({}, [label], self.none_label))
        return 1

    def _relation_set(self) -> RelationSet:
        if not self.cfg["relations"]:
            raise ValueError(Errors.ROC_E018)
        return RelationSet.from_dict(self.cfg["relations"])

    # -- inputs -----------------------------------------------------------------------

    def _entities(self, doc: Doc) -> List[Span]:
        if self.spans_key is None:
            return list(doc.ents)
        if self.spans_key not in doc.spans:
            warn(Warnings.ROC_W004.format(key=self.spans_key))
            return []
        return list(doc.spans[self.spans_key])

    def _type_pairs(self) -> Optional[Set[Tuple[str, str]]]:
        pairs = self.cfg.get("type_pairs") or []
        return {(h, t) for h, t in pairs} or None

    def _candidates(self, doc: Doc) -> List[Pair]:
        return self.candidates(doc, self._entities(doc), self._type_pairs())

    def _images(self, docs: List[Doc], pairs: List[List[Pair]]) -> List[Any]:
        """The RGB image of each doc with candidate pairs (None: text-only).

        Absent and unreadable images are counted in `missing_images` and
        `image_failures`, and reported once per batch (ROC_W001, ROC_W002), or raise
        ROC_E003 / ROC_E004 with on_missing_image = "error". A model without image
        encoder reads no image at all.
        """
        if self.model.shims[0].image_transform is None:
            return [None] * len(docs)
        cache: Dict[Any, Any] = {}
        report = _ImageReport()
        images = [self._image(doc, cache, report) if p else None for doc, p in zip(docs, pairs)]
        if report.n_missing:
            self.missing_images += report.n_missing
            warn(Warnings.ROC_W001)
        if report.n_failed:
            self.image_failures += report.n_failed
            warn(Warnings.ROC_W002.format(reason=report.first_reason))
        return images

    def _image(self, doc: Doc, cache: Dict[Any, Any], report: "_ImageReport") -> Any:
        value = doc._.image
        if value is None:
            if self.on_missing_image == "error":
                raise ValueError(Errors.ROC_E003)
            report.n_missing += 1
            return None
        key = value if isinstance(value, (str, bytes)) else id(value)
        if key not in cache:
            cache[key] = self._load_image(value, report)
        elif cache[key] is None:
            report.n_failed += 1
        return cache[key]

    def _load_image(self, value: Any, report: "_ImageReport") -> Any:
        base = Path(self.images_dir) if self.images_dir else None
        try:
            return load_image(value, base)
        except ImageError as err:
            if self.on_missing_image == "error":
                raise ValueError(Errors.ROC_E004.format(reason=err.reason)) from err
            report.n_failed += 1
            report.first_reason = report.first_reason or err.reason
            return None

    def _batch(self, docs: List[Doc], pairs: Optional[List[List[Pair]]] = None) -> RelationBatch:
        pairs = pairs if pairs is not None else [self._candidates(doc) for doc in docs]
        _warn_unlabelled(pairs)
        return RelationBatch(list(docs), pairs, self._images(docs, pairs), self._relation_set())

    def _require_initialized(self) -> None:
        if self.model.shims[0].network is None:
            raise ValueError(Errors.ROC_E001)

    # -- prediction -------------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> Tuple[List[List[Pair]], Floats2d]:
        """Score the candidate pairs of a batch of docs.

        docs (Iterable[Doc]): The docs.
        RETURNS (Tuple[List[List[Pair]], Floats2d]): Pairs per doc and the probability
            of every relation per pair, (n_pairs, n_relations).
        """
        self._require_initialized()
        docs = list(docs)
        batch = self._batch(docs)
        logits = self.model.ops.to_numpy(self.model.predict(batch))
        finite = numpy.isfinite(logits).all(axis=-1)
        if not finite.all():
            raise ValueError(Errors.ROC_E028.format(n_bad=int((~finite).sum()), n_pairs=len(finite)))
        return batch.pairs, _softmax(logits)

    def set_annotations(self, docs: Iterable[Doc], scores: Tuple[List[List[Pair]], Floats2d]) -> None:
        """Write the predicted relations to doc._.relations.

        docs (Iterable[Doc]): The docs.
        scores (Tuple[List[List[Pair]], Floats2d]): The output of predict.
        """
        pairs, probs = scores
        labels = self.labels
        row = 0
        for doc, doc_pairs in zip(docs, pairs):
            records = []
            for head, tail in doc_pairs:
                record = self._record(head, tail, probs[row], labels)
                if record is not None:
                    records.append(record)
                row += 1
            doc._.relations = records

    def _record(self, head: Span, tail: Span, probs: numpy.ndarray, labels: Tuple[str, ...]) -> Optional[Dict[str, Any]]:
        order = numpy.argsort(-probs, kind="stable")
        best = int(order[0])
        score = float(probs[best])
        if labels[best] == self.none_label or score < self.threshold:
            return None
        alternatives = [(labels[i], float(probs[i])) for i in islice(order[1:], self.top_k)]
        return make_record((head.start, head.end), (tail.start, tail.end), labels[best], score, alternatives)

    # -- training ---------------------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples: InfoNCE over all relations (retrieval) or
        cross-entropy over the label set (classifier).

        examples (Iterable[Example]): Examples with gold relations on the reference.
        drop (float): Unused; dropout is set in the model config.
        sgd (Optional[Optimizer]): The optimizer.
        losses (Optional[Dict[str, float]]): Loss totals, updated in place.
        RETURNS (Dict[str, float]): The updated losses.
        """
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "RelationRetriever.update")
        self._require_initialized()
        batch = self._batch([eg.predicted for eg in examples])
        if batch.n_pairs == 0:
            return losses
        logits, backprop = self.model.begin_update(batch)
        loss, d_logits = self._loss(examples, batch, logits)
        backprop(d_logits)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Floats2d) -> Tuple[float, Floats2d]:
        """Cross-entropy of the logits of the examples' candidate pairs.

        examples (Iterable[Example]): The examples (their predicted docs give the pairs).
        scores (Floats2d): Logits (n_pairs, n_relations).
        RETURNS (Tuple[float, Floats2d]): The loss and its gradient.
        """
        examples = list(examples)
        pairs = [self._candidates(eg.predicted) for eg in examples]
        batch = RelationBatch([eg.predicted for eg in examples], pairs, [None] * len(examples), self._relation_set())
        return self._loss(examples, batch, scores)

    def _loss(self, examples: List[Example], batch: RelationBatch, logits: Floats2d) -> Tuple[float, Floats2d]:
        gold = self._gold_indices(examples, batch.pairs)
        logits_np = self.model.ops.to_numpy(logits).astype("float64")
        probs = _softmax(logits_np)
        n = len(gold)
        loss = float(-numpy.log(probs[numpy.arange(n), gold] + 1e-12).mean())
        if not numpy.isfinite(loss) or not numpy.isfinite(logits_np).all():
            raise ValueError(Errors.ROC_E012.format(loss=loss, n_pairs=n))
        d_logits = probs
        d_logits[numpy.arange(n), gold] -= 1.0
        return loss, self.model.ops.asarray2f((d_logits / n).astype("float32"))

    def _gold_indices(self, examples: List[Example], pairs: List[List[Pair]]) -> numpy.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        gold = []
        for example, doc_pairs in zip(examples, pairs):
            for label in gold_labels(example, doc_pairs, self.none_label):
                if label not in index:
                    raise ValueError(Errors.ROC_E008.format(label=label, labels=list(index)))
                gold.append(index[label])
        return numpy.asarray(gold, dtype="int64")

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        descriptions: Optional[Any] = None,
    ) -> None:
        """Set up the relation set from descriptions and data, learn the entity-type
        pairs of relations, and load the pretrained encoders.

        get_examples (Callable[[], Iterable[Example]]): Returns training examples.
        nlp (Optional[Language]): The pipeline.
        descriptions (Optional[Union[str, Path, Dict]]): A JSON file (or dict)
            {label: [description, ...]}.
        """
        validate_get_examples(get_examples, "RelationRetriever.initialize")
        given = load_descriptions(descriptions) if descriptions is not None else {}
        seen_labels, type_pairs = self._scan_training_data(get_examples())
        self.cfg["relations"] = complete_descriptions(given, seen_labels, self.none_label)
        self.cfg["type_pairs"] = sorted([list(p) for p in type_pairs])
        if seen_labels <= {self.none_label}:
            warn(Warnings.ROC_W008.format(none_label=self.none_label))
        sample = RelationBatch([], [], [], self._relation_set())
        self.model.initialize(X=sample)

    def _scan_training_data(self, examples: Iterable[Example]) -> Tuple[Set[str], Set[Tuple[str, str]]]:
        labels: Set[str] = set()
        type_pairs: Set[Tuple[str, str]] = set()
        for example in examples:
            doc = example.reference
            types = {(s.start, s.end): s.label_ for s in self._entities(doc)}
            for record in doc._.relations:
                head, tail = validate_record(doc, record)
                labels.add(record["label"])
                if record["label"] != self.none_label:
                    type_pairs.add((types.get(head, ""), types.get(tail, "")))
        return labels, type_pairs

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """Score a batch of examples with the configured scorer."""
        validate_examples(examples, "RelationRetriever.score")
        kwargs.setdefault("none_label", self.none_label)
        return self.scorer(examples, **kwargs)

    def finish_update(self, sgd: Optimizer) -> None:
        self.model.finish_update(sgd)


def gold_labels(example: Example, pairs: List[Pair], none_label: str) -> List[str]:
    """The gold label of each candidate pair of an example (none_label if the
    reference has no record for it). Pairs are mapped onto the reference by offsets
    when both docs share a tokenization, else through the example's alignment.

    example (Example): The example.
    pairs (List[Tuple[Span, Span]]): Candidate pairs on example.predicted.
    none_label (str): The no-relation label.
    RETURNS (List[str]): One label per pair.
    """
    gold = {record_key(r): r["label"] for r in example.reference._.relations}
    same = [t.text for t in example.predicted] == [t.text for t in example.reference]
    labels = []
    for head, tail in pairs:
        if same:
            key = ((head.start, head.end), (tail.start, tail.end))
        else:
            aligned = example.get_aligned_spans_x2y([head, tail], allow_overlap=True)
            key = tuple((s.start, s.end) for s in aligned) if len(aligned) == 2 else None
        labels.append(gold.get(key, none_label))
    return labels


def _warn_unlabelled(pairs: List[List[Pair]]) -> None:
    """ROC_W010, once per batch, for the entities of the batch's pairs that have no
    label (they are marked with an empty type)."""
    unlabelled = {
        (doc_i, span.start, span.end): span
        for doc_i, doc_pairs in enumerate(pairs)
        for pair in doc_pairs
        for span in pair
        if not span.label_
    }
    if unlabelled:
        example = next(iter(unlabelled.values())).text
        warn(Warnings.ROC_W010.format(n=len(unlabelled), example=example))


class _ImageReport:
    """Absent and unreadable images of one batch."""

    def __init__(self) -> None:
        self.n_missing = 0
        self.n_failed = 0
        self.first_reason = ""


def _softmax(logits: numpy.ndarray) -> numpy.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(Errors.ROC_E006.format(value=value))
    return float(value)


def _check_top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(Errors.ROC_E007.format(value=value))
    return value
