"""The `roc_relations` pipeline component: relation extraction by retrieval.

For each candidate entity pair of a doc, the ROC model scores the pair against every
relation's description prototype; the nearest relation is the prediction, its softmax
probability the score, and the runner-ups the alternatives. Results are written to
`doc._.relations`; nothing else on the doc is changed.
"""
import math
import random
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.util import ensure_path
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats2d

from .candidates import CandidateFunc, Pair
from .descriptions import Relation, complete_relations, label_as_description, load_relations, make_relation, relation_from_json
from .errors import Errors, Warnings, warn
from .alignment import gold_indices
from .extensions import install_extensions, predicted_records
from .images import ImageReader
from .objects import is_object
from .inputs import EntityTypes, RelationBatch, RelationSet, candidate_pairs, entity_spans, scan_relations
from .model.roc_model import is_initialized, nearest_types, use_params, weights_file

WEIGHTS_FILE = "network_weights.pt"

default_model_config = """
[model]
@architectures = "spacy_roc.ROCModel.v2"
head = "retrieval"
fusion_layers = 2
type_weight = 0.2
temperature = 0.05
bf16 = true
max_pairs_per_batch = 256
sample_descriptions = true
relation_encoder = null
grounding = null

[model.pair_encoder]
@architectures = "spacy_roc.InlineMarkers.v1"

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

Scores = Tuple[List[List[Pair]], Floats2d]


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
        "type_map": {},
        "on_missing_image": "text_only",
        "scorer": {"@scorers": "spacy_roc.relation_scorer.v1"},
    },
    default_score_weights={"rel_micro_f": 1.0, "rel_micro_p": 0.0, "rel_micro_r": 0.0, "rel_acc": 0.0},
)
def make_roc_relations(
    nlp: Language, name: str, model: Model[RelationBatch, Floats2d], candidates: CandidateFunc, threshold: float,
    top_k: int, none_label: str, spans_key: Optional[str], type_map: Dict[str, str], on_missing_image: str,
    scorer: Optional[Callable],
) -> "RelationRetriever":
    """Create a roc_relations component (see RelationRetriever)."""
    settings = {"threshold": threshold, "top_k": top_k, "none_label": none_label, "spans_key": spans_key, "type_map": type_map}
    return RelationRetriever(
        nlp.vocab, model, name, candidates=candidates, on_missing_image=on_missing_image, scorer=scorer, **settings
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
    spans_key (Optional[str]): Span group with the entities, read when the doc has
        it; else (and with None) doc.ents.
    type_map (Dict[str, str]): Entity labels shown to the model as another, e.g.
        {"PER": "PERSON"}. A label neither seen in training nor mapped is shown as
        the one type the model was trained with, if it saw one, else as the seen
        type whose name the frozen label encoder puts nearest (ROC_W013).
    on_missing_image (str): "text_only" or "error", for docs whose image is absent
        or unreadable (`self.images`, an ImageReader, counts them).
    scorer (Optional[Callable]): The scoring method.
    """

    def __init__(
        self, vocab: Vocab, model: Model[RelationBatch, Floats2d], name: str = "roc_relations", *,
        candidates: CandidateFunc, threshold: float = 0.0, top_k: int = 3, none_label: str = "None",
        spans_key: Optional[str] = None, type_map: Optional[Dict[str, str]] = None, on_missing_image: str = "text_only",
        scorer: Optional[Callable] = None,
    ):
        install_extensions()
        self.vocab, self.model, self.name = vocab, model, name
        self.candidates = candidates
        self.threshold, self.top_k = threshold, top_k
        self.none_label, self.spans_key = none_label, spans_key
        self.type_map = dict(type_map or {})
        self.images = ImageReader(on_missing_image)
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "relations": {}, "trained": None, "type_pairs": [], "entity_types": [], "none_label": none_label
        }

    @property
    def threshold(self) -> float:
        """Minimum probability for a relation to be listed, in [0, 1] (ROC_E006)."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(Errors.ROC_E006.format(value=value))
        self._threshold = float(value)

    @property
    def top_k(self) -> int:
        """Number of runner-up relations listed as alternatives, 0 or more (ROC_E007)."""
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(Errors.ROC_E007.format(value=value))
        self._top_k = value

    @property
    def relations(self) -> Dict[str, List[str]]:
        """The current relation set {label: [descriptions]}."""
        return {label: list(relation.descriptions) for label, relation in self.relation_set.items()}

    @property
    def relation_set(self) -> Dict[str, Relation]:
        """The current relations {label: Relation}, with their names, descriptions,
        aliases and entity types."""
        return {label: relation_from_json(label, entry, self.none_label) for label, entry in self.cfg["relations"].items()}

    @property
    def labels(self) -> Tuple[str, ...]:
        """The relation labels, the no-relation label included."""
        return tuple(self.cfg["relations"])

    def add_relation(
        self, label: str, descriptions: Sequence[str] = (), overwrite: bool = False, *, name: Optional[str] = None,
        aliases: Sequence[str] = (), head_types: Sequence[str] = (), tail_types: Sequence[str] = (), sides: Sequence[str] = (),
    ) -> None:
        """Add a relation at inference, by description alone (zero-shot); overwrite
        replaces an existing label's. `name`, `aliases`, the entity types of each
        side (`head_types`, `tail_types`) and what the sides are (`sides`, e.g.
        ["text", "object"]) are optional (see spacy_roc.descriptions)."""
        self._require_open_set()
        if label in self.cfg["relations"] and not overwrite:
            raise ValueError(Errors.ROC_E009.format(label=label))
        relation = make_relation(
            label, descriptions, self.none_label, name=name, aliases=aliases, head_types=head_types, tail_types=tail_types,
            sides=sides,
        )
        self.cfg["relations"][label] = relation.to_json()

    def remove_relation(self, label: str) -> None:
        """Remove a relation from the retrieved set (the no-relation label stays)."""
        self._require_open_set()
        if label == self.none_label:
            raise ValueError(Errors.ROC_E019.format(none_label=label))
        self.cfg["relations"].pop(label, None)

    def add_label(self, label: str) -> int:
        """Add a label with its name as its description (spaCy's add_label API).
        RETURNS (int): 1 if the label was added, 0 if it was there."""
        if label in self.cfg["relations"]:
            return 0
        self.add_relation(label, [label_as_description(label, self.none_label)])
        return 1

    @property
    def gamma(self) -> float:
        """The calibration of trained against new relations (calibrated stacking,
        Chao et al. 2016): subtracted from the trained relations' logits when new
        relations are offered with them. 0 until `python -m spacy_roc calibrate`
        chooses it; stored in cfg["gamma"]."""
        return float(self.cfg.get("gamma", 0.0))

    @gamma.setter
    def gamma(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(Errors.ROC_E043.format(value=value))
        self.cfg["gamma"] = float(value)

    @property
    def new_relations(self) -> Tuple[str, ...]:
        """The labels of the relations new to the model: added after training, or
        whose texts changed since (see cfg["trained"]). The model scores them with its
        pretrained encoder, as an untrained model would."""
        relations = RelationSet.from_dict(self.relation_set, self.cfg.get("trained"))
        return tuple(label for label, new in zip(relations.labels, relations.new_mask) if new)

    def _record_trained(self) -> None:
        """Record the current relations as trained (label: fingerprint of its texts)."""
        trained = self.cfg.get("trained") or {}
        trained.update({label: relation.fingerprint for label, relation in self.relation_set.items()})
        self.cfg["trained"] = trained

    def _require_open_set(self) -> None:
        """The classifier head has one output per label: its label set is fixed."""
        if self.model.attrs["head"] != "retrieval":
            raise ValueError(Errors.ROC_E011)

    def _batch(self, docs: List[Doc]) -> RelationBatch:
        """The model's input: the candidate pairs, images and relation set."""
        if not is_initialized(self.model):
            raise ValueError(Errors.ROC_E001)
        relations = RelationSet.from_dict(self.relation_set, self.cfg.get("trained"))
        if relations.new and not self.model.attrs["routes_new"]:
            warn(Warnings.ROC_W012.format(n=sum(relations.new)))
        type_pairs = {(h, t) for h, t in self.cfg["type_pairs"]} or None
        types = self._entity_types(docs)
        found = candidate_pairs(docs, self.candidates, self.spans_key, type_pairs, types, open_types=bool(relations.new))
        wanted = [bool(doc_pairs) and self.model.attrs["uses_images"] for doc_pairs in found.pairs]
        images, image_index = self.images.read(docs, wanted)
        return RelationBatch(docs, found.pairs, images, image_index, relations, trained_pairs=found.trained)

    def _entity_types(self, docs: List[Doc]) -> EntityTypes:
        """The types shown for the entity labels of the docs: the type_map's; a label
        the model never saw in training and the map does not name is shown as the
        one type it saw, if it saw one, else as the seen label whose type name the
        frozen label encoder puts nearest (ROC_W013 once for the batch)."""
        known = tuple(label for label in self.cfg.get("entity_types") or () if label)
        labels = {span.label_ for doc in docs for span in entity_spans(doc, self.spans_key) if span.label_}
        unknown = sorted(label for label in labels - set(known) if self.type_map.get(label, label) not in known)
        unmapped = [label for label in unknown if label not in self.type_map]
        if not known or not unknown:
            return EntityTypes(known, tuple(sorted(self.type_map.items())))
        chosen = {label: known[0] for label in unmapped} if len(known) == 1 else nearest_types(self.model, unmapped, known)
        mapping = {**self.type_map, **chosen}
        warn(Warnings.ROC_W013.format(labels=unknown, shown={label: mapping.get(label, label) for label in unknown}, known=list(known)))
        return EntityTypes(known, tuple(sorted(mapping.items())))

    def _sided(self, logits: Floats2d, batch: RelationBatch) -> Floats2d:
        """A relation that states its sides (e.g. ["text", "object"]) cannot label a
        pair whose sides are of other kinds."""
        sided = [() if label == self.none_label else r.sides for label, r in zip(batch.relations.labels, batch.relations.relations)]
        if not any(sided):
            return logits
        xp = self.model.ops.xp
        kinds = [tuple("object" if is_object(side) else "text" for side in pair) for doc_pairs in batch.pairs for pair in doc_pairs]
        closed = xp.asarray([[bool(sides) and pair != tuple(sides) for sides in sided] for pair in kinds])
        return xp.where(closed, -xp.inf, logits)

    def predict(self, docs: Iterable[Doc]) -> Scores:
        """Score the candidate pairs of a batch of docs.
        RETURNS (Tuple[List[List[Pair]], Floats2d]): Pairs per doc, and the probability
            of every relation per pair (n_pairs, n_relations)."""
        batch = self._batch(list(docs))
        logits = self.model.predict(batch)
        n_bad = int((~self.model.ops.xp.isfinite(logits).all(axis=-1)).sum())
        if n_bad:
            raise ValueError(Errors.ROC_E028.format(n_bad=n_bad, n_pairs=batch.n_pairs))
        return batch.pairs, self.model.ops.softmax(self._offered(logits, batch))

    def _offered(self, logits: Floats2d, batch: RelationBatch) -> Floats2d:
        """The logits of what is offered: with new relations offered beside trained
        ones, gamma is taken off the trained relations' logits (calibrated stacking;
        a shift of all of them would not change the probabilities), and the pairs
        whose entity types no trained relation was seen with cannot take a trained
        relation other than the no-relation label."""
        relations = batch.relations
        logits = self._sided(logits, batch)
        if not relations.new or all(relations.new):
            return logits
        xp = self.model.ops.xp
        trained = [not new for new in relations.new]
        if self.gamma != 0.0 and self.model.attrs["routes_new"]:
            logits = logits - self.gamma * xp.asarray(trained, dtype=logits.dtype)
        if batch.trained_pairs is not None:
            relation = xp.asarray([t and label != self.none_label for t, label in zip(trained, relations.labels)])
            closed = ~xp.asarray(batch.trained_pairs)[:, None] & relation[None, :]
            logits = xp.where(closed, -xp.inf, logits)
        return logits

    def set_annotations(self, docs: Iterable[Doc], scores: Scores) -> None:
        """Write the predicted relations to doc._.relations."""
        pairs, probs = scores
        rows = iter(self.model.ops.to_numpy(probs))
        for doc, doc_pairs in zip(docs, pairs):
            doc._.relations = predicted_records(
                doc_pairs, rows, self.labels, self.none_label, self.threshold, self.top_k
            )

    def update(
        self, examples: Iterable[Example], *, drop: float = 0.0, sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from examples with gold relations on the reference: InfoNCE over all
        relations (retrieval) or cross-entropy over the labels (classifier). `drop` is
        the dropout rate of the fusion layers and the residual head. A batch is run
        in parts of at most the model's max_pairs_per_batch pairs (whole docs), whose
        gradients add up to the batch's, so memory stays bounded."""
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "RelationRetriever.update")
        self._record_trained()
        batch = self._batch([eg.predicted for eg in examples])
        if batch.n_pairs == 0:
            return losses
        set_dropout_rate(self.model, drop)
        gold = gold_indices(examples, batch.pairs, self.labels, self.none_label)
        batch.draw = random.getrandbits(32)  # one draw of label texts for all parts
        for part, start in self._parts(batch):
            logits, backprop = self.model.begin_update(part)
            loss, d_logits = self._loss(gold[start : start + part.n_pairs], logits)
            backprop(d_logits * (part.n_pairs / batch.n_pairs))
            losses[self.name] += loss * part.n_pairs / batch.n_pairs
        if sgd is not None:
            self.finish_update(sgd)
        return losses

    def _parts(self, batch: RelationBatch) -> Iterator[Tuple[RelationBatch, int]]:
        """Consecutive docs of a batch with at most max_pairs_per_batch pairs together
        (a doc with more on its own), and the index of each part's first pair. With a
        shared transformer the batch stays whole: its listener expects the batch's docs."""
        limit = self.model.attrs["max_pairs_per_batch"] if self.model.attrs["split_training"] else batch.n_pairs
        start, first_pair = 0, 0
        while start < len(batch.docs):
            end, n_pairs = start + 1, len(batch.pairs[start])
            while end < len(batch.docs) and n_pairs + len(batch.pairs[end]) <= limit:
                n_pairs += len(batch.pairs[end])
                end += 1
            docs = slice(start, end)
            part = RelationBatch(batch.docs[docs], batch.pairs[docs], batch.images, batch.image_index[docs], batch.relations, batch.draw)
            yield part, first_pair
            start, first_pair = end, first_pair + n_pairs

    def get_loss(self, examples: Iterable[Example], scores: Scores) -> Tuple[float, Floats2d]:
        """Cross-entropy of the pairs' logits (n_pairs, n_relations) against their
        gold labels, on the model's device. RETURNS: the mean loss and its gradient."""
        pairs, logits = scores
        return self._loss(gold_indices(examples, pairs, self.labels, self.none_label), logits)

    def _loss(self, gold: List[int], logits: Floats2d) -> Tuple[float, Floats2d]:
        xp = self.model.ops.xp
        rows, truth = xp.arange(len(gold)), self.model.ops.asarray1i(gold)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        loss = float(-log_probs[rows, truth].mean())
        if not math.isfinite(loss):
            raise ValueError(Errors.ROC_E012.format(loss=loss, n_pairs=len(gold)))
        d_logits = xp.exp(log_probs)
        d_logits[rows, truth] -= 1.0
        return loss, d_logits / len(gold)


    def use_params(self, params: Dict[Any, Any]) -> Iterator[None]:
        """Use other weights inside the context, e.g. the optimizer's averages (a
        generator, as spaCy's Language.use_params drives it)."""
        with use_params(self.model, params):
            yield

    def to_disk(self, path: Any, *, exclude: Iterable[str] = tuple()) -> None:
        """Save the component to a folder (TrainablePipe.to_disk); torch writes the
        network's weights to `network_weights.pt` there tensor by tensor, so that
        saving does not hold another copy of them in memory."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        with weights_file(path / WEIGHTS_FILE):
            super().to_disk(path, exclude=exclude)

    def from_disk(self, path: Any, *, exclude: Iterable[str] = tuple()) -> "RelationRetriever":
        """Load the component from a folder written by `to_disk` (the weights from
        `network_weights.pt`, memory-mapped while they are copied in)."""
        path = ensure_path(path)
        with weights_file(path / WEIGHTS_FILE):
            return super().from_disk(path, exclude=exclude)

    def initialize(
        self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
        descriptions: Optional[Any] = None,
    ) -> None:
        """Set up the relation set from the descriptions (a JSON file or dict, see
        spacy_roc.descriptions) and the data, learn the entity types and the
        entity-type pairs of relations, and load the pretrained encoders. Without
        data (`nlp.initialize()` gives spaCy's dummy example) the component is the
        untrained zero-shot pipeline of its descriptions: it scores pairs as its
        pretrained text encoder does."""
        validate_get_examples(get_examples, "RelationRetriever.initialize")
        given = load_relations(descriptions, self.none_label) if descriptions is not None else {}
        seen = scan_relations(get_examples(), self.spans_key, self.none_label)
        relations = complete_relations(given, seen.labels, self.none_label)
        self.cfg["relations"] = {label: relation.to_json() for label, relation in relations.items()}
        self.cfg["trained"] = {}  # recorded by `update`: an untrained component knows no relation
        self.cfg["type_pairs"] = sorted([list(p) for p in seen.type_pairs])
        self.cfg["entity_types"] = sorted(seen.entity_types)
        if seen.n_entities and seen.labels <= {self.none_label}:
            warn(Warnings.ROC_W008.format(none_label=self.none_label))
        self.model.initialize(X=RelationBatch([], [], [], [], RelationSet.from_dict(relations)))

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """Score a batch of examples with the configured scorer."""
        validate_examples(examples, "RelationRetriever.score")
        kwargs.setdefault("none_label", self.none_label)
        return self.scorer(examples, **kwargs)
