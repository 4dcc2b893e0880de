"""What the model reads from a batch of docs: the relation set, the entities, the
candidate pairs and the images, gathered into a RelationBatch.
"""
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc, Span
from spacy.training import Example

from .candidates import CandidateFunc, Pair
from .errors import Errors, Warnings, warn
from .descriptions import Relation
from .extensions import record_sides, validate_record
from .objects import OBJECT_LABEL, SideKey, doc_objects, is_object, side_key

TypePairs = Optional[Set[Tuple[str, str]]]


@dataclass(frozen=True)
class RelationSet:
    """The relations to retrieve: labels and what each is retrieved by (hashable, so
    it can key the model's cache of label vectors).

    labels (Tuple[str, ...]): The labels, the no-relation label first.
    relations (Tuple[Relation, ...]): The relation of each label.
    new (Tuple[bool, ...]): Per label, whether the relation is new to the model (not
        trained with these texts): the model scores it with its pretrained encoder.
        Empty: none is new.
    """

    labels: Tuple[str, ...]
    relations: Tuple[Relation, ...]
    new: Tuple[bool, ...] = ()

    @classmethod
    def from_dict(cls, relations: Dict[str, Relation], trained: Optional[Dict[str, str]] = None) -> "RelationSet":
        """The relation set of {label: Relation}; `trained` ({label: fingerprint} of
        the relations the model was trained with; None: all of them) tells which are
        new."""
        if not relations:
            raise ValueError(Errors.ROC_E018)
        labels = tuple(relations)
        new = () if trained is None else tuple(trained.get(label) != relations[label].fingerprint for label in labels)
        return cls(labels, tuple(relations[label] for label in labels), new if any(new) else ())

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def new_mask(self) -> Tuple[bool, ...]:
        """Per label, whether it is new (see `new`), all False if none is."""
        return self.new or (False,) * len(self.labels)


@dataclass
class RelationBatch:
    """The model's input: docs, their candidate pairs and images, and the relations.

    docs (List[Doc]): The docs.
    pairs (List[List[Tuple[Span, Span]]]): Candidate (head, tail) pairs per doc.
    images (List[PIL.Image.Image]): The distinct RGB images of the batch.
    image_index (List[int]): Per doc, the index of its image (-1: text-only).
    relations (RelationSet): The relations to score against.
    draw (Optional[int]): In training with sampled label texts, the seed of the draw
        of one text per relation (the parts of a split batch share it); None: drawn
        with Python's random.
    trained_pairs (Optional[List[bool]]): Per pair, whether the trained relations
        may label it (see Candidates); None: all pairs.
    """

    docs: List[Doc]
    pairs: List[List[Pair]]
    images: List[Any]
    image_index: List[int]
    relations: RelationSet
    draw: Optional[int] = None
    trained_pairs: Optional[List[bool]] = None

    @property
    def n_pairs(self) -> int:
        return sum(len(p) for p in self.pairs)

    def flat_pairs(self) -> List[Tuple[int, Span, Span]]:
        """(doc index, head, tail) of every pair, in doc order."""
        return [(i, head, tail) for i, pairs in enumerate(self.pairs) for head, tail in pairs]


def entity_spans(doc: Doc, spans_key: Optional[str]) -> List[Span]:
    """The entities of a doc: the span group `spans_key` when the doc has it, else
    `doc.ents` (what spaCy's `ner` and `entity_ruler` set)."""
    if spans_key is not None and spans_key in doc.spans:
        return list(doc.spans[spans_key])
    return list(doc.ents)


@dataclass(frozen=True)
class EntityTypes:
    """The entity types the model is shown for the labels of a doc's entities.

    known (Tuple[str, ...]): The entity labels seen in training (empty: every label
        is shown as it is).
    type_map (Tuple[Tuple[str, str], ...]): (label, shown label): the component's
        type_map, then, for the labels it never saw that the map does not name, the
        known label it chose (see RelationRetriever).
    """

    known: Tuple[str, ...] = ()
    type_map: Tuple[Tuple[str, str], ...] = ()

    def shown(self, label: str) -> str:
        return dict(self.type_map).get(label, label)

    def relabel(self, spans: List[Span]) -> List[Span]:
        """The spans with the labels the model is shown."""
        result = []
        for span in spans:
            shown = self.shown(span.label_)
            result.append(span if shown == span.label_ else Span(span.doc, span.start, span.end, label=shown))
        return result


@dataclass
class Candidates:
    """The pairs to score in each doc, and which of them the trained relations may
    label (None: all).

    pairs (List[List[Pair]]): (head, tail) pairs per doc.
    trained (Optional[List[bool]]): Per pair, in batch order, whether its entity
        types were seen with a trained relation; the others are scored against the
        new relations only.
    """

    pairs: List[List[Pair]]
    trained: Optional[List[bool]] = None


def candidate_pairs(
    docs: Iterable[Doc], candidates: CandidateFunc, spans_key: Optional[str], type_pairs: TypePairs,
    types: EntityTypes = EntityTypes(), open_types: bool = False,
) -> Candidates:
    """The pairs to score in each doc: the pairs listed in `doc._.relation_pairs`
    when the doc has them (e.g. the gold pairs of a benchmark, listed by
    spacy_roc.Corpus.v1), else those the candidate function proposes. Entity labels
    are shown to the model as `types` says; entities without a label are marked with
    an empty type (ROC_W010 once for the batch). With `open_types`
    (new relations offered), the pairs whose entity types no trained relation was
    seen with are proposed too, for the new relations only; without it, a doc with
    entities whose every pair the types rule out gets ROC_W014 (once for the batch).

    docs (Iterable[Doc]): The docs.
    candidates (CandidateFunc): The candidate function.
    spans_key (Optional[str]): Span group with the entities (if the doc has it).
    type_pairs (Optional[Set[Tuple[str, str]]]): Entity-type pairs seen in training.
    types (EntityTypes): The types shown for the entities' labels.
    open_types (bool): Whether new relations are offered.
    RETURNS (Candidates): The pairs per doc, and which the trained relations score.
    """
    pairs: List[List[Pair]] = []
    trained: List[bool] = []
    n_ruled_out = 0
    for doc in docs:
        entities = types.relabel(entity_spans(doc, spans_key))
        listed = doc._.relation_pairs
        if listed is not None:
            doc_pairs = listed_pairs(doc, listed, entities)
            allowed = [True] * len(doc_pairs)
        else:
            doc_pairs = candidates(doc, entities, type_pairs)
            allowed = [True] * len(doc_pairs)
            if type_pairs is not None and (open_types or not doc_pairs):
                every = candidates(doc, entities, None)
                if open_types:
                    kept = {pair_offsets(pair) for pair in doc_pairs}
                    doc_pairs, allowed = every, [pair_offsets(pair) in kept for pair in every]
                elif every:
                    n_ruled_out += 1
        pairs.append(doc_pairs)
        trained.extend(allowed)
    unlabelled = {(i, s.start, s.end): s for i, doc_pairs in enumerate(pairs) for pair in doc_pairs for s in pair if not s.label_}
    if unlabelled:
        example = next(iter(unlabelled.values())).text
        warn(Warnings.ROC_W010.format(n=len(unlabelled), example=example))
    if n_ruled_out:
        warn(Warnings.ROC_W014.format(n=n_ruled_out, type_pairs=sorted(type_pairs)))
    return Candidates(pairs, None if all(trained) else trained)


def pair_offsets(pair: Pair) -> Tuple[SideKey, SideKey]:
    return side_key(pair[0]), side_key(pair[1])


def listed_pairs(doc: Doc, listed: Iterable[Sequence[Any]], entities: List[Span]) -> List[Pair]:
    """The (head, tail) sides of listed pairs (token offsets or {"object": i}); a
    span's label is the matching entity's (ROC_E015 for offsets outside the doc, an
    unknown object or a head equal to its tail)."""
    labels = {(s.start, s.end): s.label_ for s in entities}
    pairs = []
    for head, tail in listed:
        sides = record_sides(doc, {"head": head, "tail": tail, "label": ""})
        pairs.append(tuple(_labelled(side, labels) for side in sides))
    return pairs


def _labelled(side: Any, labels: Dict[Tuple[int, int], str]) -> Any:
    if is_object(side):
        return side
    return Span(side.doc, side.start, side.end, label=labels.get((side.start, side.end), ""))


@dataclass
class TrainingScan:
    """What the component learns from its training data at `initialize`.

    labels (Set[str]): The relation labels of the gold records.
    type_pairs (Set[Tuple[str, str]]): The (head type, tail type) pairs seen with a
        relation other than the no-relation label.
    entity_types (Set[str]): The labels of all entities.
    n_entities (int): How many entities the docs have.
    """

    labels: Set[str]
    type_pairs: Set[Tuple[str, str]]
    entity_types: Set[str]
    n_entities: int = 0


def scan_relations(examples: Iterable[Example], spans_key: Optional[str], none_label: str) -> TrainingScan:
    """The relation labels, entity-type pairs and entity types of the gold data
    (ROC_E015 for a malformed record).

    examples (Iterable[Example]): Examples with gold relations on the reference.
    spans_key (Optional[str]): Span group with the entities; None: doc.ents.
    none_label (str): The no-relation label.
    RETURNS (TrainingScan): What was seen.
    """
    labels: Set[str] = set()
    type_pairs: Set[Tuple[str, str]] = set()
    entity_types: Set[str] = set()
    n_entities = 0
    for example in examples:
        doc = example.reference
        types: Dict[Any, str] = {(s.start, s.end): s.label_ for s in entity_spans(doc, spans_key)}
        entity_types.update(types.values())
        n_entities += len(types)
        types.update({obj.key: OBJECT_LABEL for obj in doc_objects(doc)})
        for record in doc._.relations:
            head, tail = validate_record(doc, record)
            labels.add(record["label"])
            if record["label"] != none_label:
                type_pairs.add((types.get(head, ""), types.get(tail, "")))
    return TrainingScan(labels, type_pairs, entity_types, n_entities)
