"""Registered pair encoders of `spacy_roc.ROCModel.v2` (`[model.pair_encoder]`). Each
is defined here once, behind the `PairEncoder` protocol: its settings, how it plans a
batch's pairs into units and turns them into its features (typed arrays), and which
torch module (in `spacy_roc.layers.pairs`) reads them.

- `spacy_roc.InlineMarkers.v1`: typed markers inline, one pass per pair (the paper's
  setting).
- `spacy_roc.LevitatedMarkers.v2`: one pass per doc for all its pairs: two marker
  tokens per pair after the text, at the position ids of the mentions' first
  wordpieces (PURE / PL-Marker); a doc's pairs are split over as few passes as fit
  `max_length`.
- `spacy_roc.EntityPooling.v1`: entity states pooled from a shared spaCy
  `transformer` (its listener is `[model.text_encoder]`), typed, fused once per doc.

Units are contiguous runs of the batch's pairs, so the logits come out in the batch's
order.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy
from spacy.tokens import Span
from spacy.util import registry

from ..errors import Errors
from ..inputs import RelationBatch
from ..objects import doc_objects, is_object, side_key
from .featurize import Features, FlatPairs, Inputs, Unit, padded
from .markers import HEAD_MARKERS, TAIL_MARKERS, rebase, type_name, window_segments

N_MARKERS = 2  # levitated markers per pair: head and tail


@dataclass(frozen=True)
class ModuleParts:
    """What a pair module is built from: the pair texts' Hugging Face encoder (None
    with a shared transformer), the label encoder's, the state width, and the shared
    layers (image tokens, fusion, grounding, image objects)."""

    text_model: Any
    label_model: Any
    width: int
    image: Any
    fusion: Any
    grounding: Any
    objects: Any = None


class PairEncoder(Protocol):
    """A pair encoder: settings, planning, features and its torch module."""

    uses_listener: bool
    # whether it scores pairs of a text entity and an image object
    takes_objects: bool

    def plan(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        """The units of a batch's pairs."""

    def featurize(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> Features:
        """The features of a chunk of units (`states`: a shared transformer's token
        states per doc, or None)."""

    def build(self, parts: ModuleParts) -> Any:
        """The torch module that reads the features."""


def _type_arrays(tokenizer: Any, type_names: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """type_ids and type_mask (Ty, K): the wordpieces of each entity type name (an
    empty name has none)."""
    pieces = [tokenizer(name, add_special_tokens=False)["input_ids"] if name else [] for name in type_names]
    return padded(pieces, 0, max([1, *(len(p) for p in pieces)]))


def _token_offsets(pieces: Sequence[Sequence[int]]) -> List[Tuple[int, int]]:
    """(first wordpiece, end) of each token in the doc's wordpieces."""
    offsets, position = [], 0
    for token in pieces:
        offsets.append((position, position + len(token)))
        position += len(token)
    return offsets


def _span_pieces(offsets: Sequence[Tuple[int, int]], span: Span) -> List[int]:
    """[first, last] wordpiece of a span (a token without wordpieces counts as its
    neighbour's)."""
    first = offsets[span.start][0]
    last = max(first, offsets[span.end - 1][1] - 1)
    return [first, last]


@dataclass
class InlineFeatures(Features):
    """input_ids, attention_mask (B, L); pair_row (P,) the sequence of each pair;
    head_marker, tail_marker (P,) and head_span, tail_span (P, 2): positions in the
    sequence of the pair's text and then its image objects' slots (an object side at
    L + its index); object_boxes (B, O, 4), object_mask (B, O) and object_text (B, O)
    (into object_text_ids, object_text_mask (C, Lc)): the objects of each sequence's
    doc, or None without object pairs; pixels (I, 3, H, W) and image_index (B,) or
    None."""

    input_ids: numpy.ndarray
    attention_mask: numpy.ndarray
    pair_row: numpy.ndarray
    head_marker: numpy.ndarray
    tail_marker: numpy.ndarray
    head_span: numpy.ndarray
    tail_span: numpy.ndarray
    sequence_docs: List[int]
    object_boxes: Optional[numpy.ndarray] = None
    object_mask: Optional[numpy.ndarray] = None
    object_text: Optional[numpy.ndarray] = None
    object_text_ids: Optional[numpy.ndarray] = None
    object_text_mask: Optional[numpy.ndarray] = None
    pixels: Optional[numpy.ndarray] = None
    image_index: Optional[numpy.ndarray] = None


def _object_side(head: Any, tail: Any) -> Optional[Tuple[Any, Any, bool]]:
    """For a pair with an image object: (text side, object, whether the text side is
    the head); None for two spans (ROC_E046 for two objects)."""
    if is_object(head) and is_object(tail):
        raise ValueError(Errors.ROC_E046)
    if is_object(tail):
        return head, tail, True
    if is_object(head):
        return tail, head, False
    return None


@dataclass(frozen=True)
class InlineMarkers:
    """Typed markers inline, one pass per pair (see layers.pairs.InlineMarkers). The
    pairs of a text entity with the objects of the doc's image share one pass, the
    entity marked (see featurize)."""

    uses_listener = False
    takes_objects = True

    def plan(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        units: List[Unit] = []
        last_key = None
        for i, (doc_i, head, tail) in enumerate(pairs):
            sides = _object_side(head, tail)
            key = None if sides is None else (doc_i, side_key(sides[0]), sides[2])
            if key is not None and key == last_key:
                units[-1] = Unit(doc_i, units[-1].start, i + 1)
            else:
                units.append(Unit(doc_i, i, i + 1))
            last_key = key
        return units

    def featurize(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> InlineFeatures:
        tokenizer = inputs.pair_tokenizer
        pieces: Dict[int, List[List[int]]] = {}
        encoded, per_pair = [], []
        for row, unit in enumerate(units):
            doc_i, head, tail = pairs[unit.start]
            if doc_i not in pieces:
                pieces[doc_i] = tokenizer.doc_pieces(batch.docs[doc_i])
            sides = _object_side(head, tail)
            if sides is None:
                marked = tokenizer.encode(pieces[doc_i], head, tail)
                per_pair.append((row, marked.head_marker, marked.tail_marker, marked.head_span, marked.tail_span))
            else:
                marked = tokenizer.encode_one(pieces[doc_i], sides[0], sides[2])
                for _, h, t in pairs[unit.start : unit.end]:
                    obj = t if sides[2] else h
                    text_side = (marked.head_marker, marked.head_span)
                    object_side = (-1 - obj.index, (-1 - obj.index, -1 - obj.index))  # placed after padding
                    (hm, hs), (tm, ts) = (text_side, object_side) if sides[2] else (object_side, text_side)
                    per_pair.append((row, hm, tm, hs, ts))
            encoded.append(marked.input_ids)
        ids, mask = padded(encoded, tokenizer.pad_id)
        sequence_docs = [unit.doc for unit in units]
        objects = _object_arrays(tokenizer, batch, sequence_docs) if any(p[1] < 0 or p[2] < 0 for p in per_pair) else {}
        length = ids.shape[1]

        def placed(position: int) -> int:  # an object's slot comes after the text's L positions
            return position if position >= 0 else length + (-1 - position)

        return InlineFeatures(
            ids,
            mask,
            numpy.asarray([p[0] for p in per_pair], dtype="int64"),
            numpy.asarray([placed(p[1]) for p in per_pair], dtype="int64"),
            numpy.asarray([placed(p[2]) for p in per_pair], dtype="int64"),
            numpy.asarray([[placed(v) for v in p[3]] for p in per_pair], dtype="int64"),
            numpy.asarray([[placed(v) for v in p[4]] for p in per_pair], dtype="int64"),
            sequence_docs,
            **objects,
        )

    def build(self, parts: ModuleParts) -> Any:
        from ..layers.pairs import InlineMarkers as Module

        return Module(parts.text_model, parts.image, parts.fusion, parts.grounding, parts.objects)


def _object_arrays(tokenizer: Any, batch: RelationBatch, sequence_docs: Sequence[int]) -> Dict[str, numpy.ndarray]:
    """The objects of each sequence's doc: object_boxes (B, O, 4), object_mask
    (B, O), object_text (B, O) into object_text_ids, object_text_mask (C, Lc): the
    wordpieces of each distinct object's words (its caption, else its name, else
    "object")."""
    per_doc = {doc_i: doc_objects(batch.docs[doc_i]) for doc_i in set(sequence_docs)}
    n_slots = max(1, max(len(objects) for objects in per_doc.values()))
    boxes = numpy.zeros((len(sequence_docs), n_slots, 4), dtype="float32")
    mask = numpy.zeros((len(sequence_docs), n_slots), dtype=bool)
    text_index = numpy.zeros((len(sequence_docs), n_slots), dtype="int64")
    texts: Dict[str, int] = {}
    for row, doc_i in enumerate(sequence_docs):
        for obj in per_doc[doc_i]:
            boxes[row, obj.index] = obj.box
            mask[row, obj.index] = True
            text_index[row, obj.index] = texts.setdefault(obj.text, len(texts))
    pieces = [tokenizer.tokenizer.build_inputs_with_special_tokens(tokenizer.pieces(text)) for text in texts] or [[tokenizer.pad_id]]
    text_ids, text_mask = padded(pieces, tokenizer.pad_id)
    return {"object_boxes": boxes, "object_mask": mask, "object_text": text_index, "object_text_ids": text_ids, "object_text_mask": text_mask}


@dataclass
class LevitatedFeatures(Features):
    """input_ids, position_ids (B, L); attention_mask (B, L, L) bool; text_mask
    (B, L); marker_type (B, L); type_ids, type_mask (Ty, K); pair_row, head_marker,
    tail_marker (P,); head_span, tail_span (P, 2); pixels and image_index (B,)."""

    input_ids: numpy.ndarray
    position_ids: numpy.ndarray
    attention_mask: numpy.ndarray
    text_mask: numpy.ndarray
    marker_type: numpy.ndarray
    type_ids: numpy.ndarray
    type_mask: numpy.ndarray
    pair_row: numpy.ndarray
    head_marker: numpy.ndarray
    tail_marker: numpy.ndarray
    head_span: numpy.ndarray
    tail_span: numpy.ndarray
    sequence_docs: List[int]
    pixels: Optional[numpy.ndarray] = None
    image_index: Optional[numpy.ndarray] = None


@dataclass(frozen=True)
class LevitatedMarkers:
    """One pass per doc window for its pairs (see layers.pairs.LevitatedMarkers).

    max_length (int): Wordpieces per pass, the text and the markers together.
    """

    max_length: int = 512
    uses_listener = False
    takes_objects = False

    def plan(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        """Consecutive pairs of a doc that keep the same text window (all of them,
        unless the doc is longer than the text encoder's max_length) share passes,
        as many per pass as fit max_length."""
        _no_objects(self, pairs)
        tokenizer = inputs.pair_tokenizer
        budget = tokenizer.max_length - tokenizer.n_special
        units: List[Unit] = []
        offsets: Dict[int, List[Tuple[int, int]]] = {}
        for i, (doc_i, head, tail) in enumerate(pairs):
            if doc_i not in offsets:
                offsets[doc_i] = _token_offsets(tokenizer.doc_pieces(batch.docs[doc_i]))
            spans = [_span_pieces(offsets[doc_i], span) for span in (head, tail)]
            n_pieces = offsets[doc_i][-1][1] if offsets[doc_i] else 0
            segments = tuple(window_segments(n_pieces, spans, budget))
            text = tokenizer.n_special + sum(end - start for start, end in segments)
            capacity = max(1, (self.max_length - text) // N_MARKERS)
            last = units[-1] if units else None
            if last is not None and last.doc == doc_i and last.segments == segments and last.end - last.start < capacity:
                units[-1] = Unit(doc_i, last.start, i + 1, segments)
            else:
                units.append(Unit(doc_i, i, i + 1, segments))
        return units

    def featurize(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> LevitatedFeatures:
        tokenizer = inputs.pair_tokenizer
        marker_ids = [tokenizer.pieces(HEAD_MARKERS[0])[0], tokenizer.pieces(TAIL_MARKERS[0])[0]]
        types: Dict[str, int] = {}
        rows, per_pair = [], []
        for row, unit in enumerate(units):
            doc_pieces = tokenizer.doc_pieces(batch.docs[unit.doc])
            offsets = _token_offsets(doc_pieces)
            flat = [piece for token in doc_pieces for piece in token]
            text = tokenizer.tokenizer.build_inputs_with_special_tokens([p for s, e in unit.segments for p in flat[s:e]])
            ids, positions, marker_type = list(text), list(range(len(text))), [-1] * len(text)
            for _, head, tail in pairs[unit.start : unit.end]:
                spans = [rebase(_span_pieces(offsets, span), unit.segments) for span in (head, tail)]
                spans = [[p + tokenizer.prefix for p in span] for span in spans]
                per_pair.append((row, len(ids), len(ids) + 1, spans[0], spans[1]))
                ids += marker_ids
                positions += [spans[0][0], spans[1][0]]
                marker_type += [types.setdefault(type_name(span.label_), len(types)) for span in (head, tail)]
            rows.append((ids, positions, marker_type, len(text)))
        length = max(len(r[0]) for r in rows)
        input_ids, present = padded([r[0] for r in rows], tokenizer.pad_id, length)
        text_mask = numpy.zeros_like(present)
        mask = numpy.zeros((len(rows), length, length), dtype=bool)
        for row, (ids, _, _, n_text) in enumerate(rows):
            text_mask[row, :n_text] = 1
            mask[row, :, :n_text] = True  # everyone sees the text, the text sees no marker
            for first in range(n_text, len(ids), N_MARKERS):  # a pair's markers see each other
                mask[row, first : first + N_MARKERS, first : first + N_MARKERS] = True
            pad = numpy.arange(len(ids), length)
            mask[row, pad, :] = False
            mask[row, pad, pad] = True  # padding sees itself only (no empty softmax)
        type_ids, type_mask = _type_arrays(tokenizer.tokenizer, list(types))
        return LevitatedFeatures(
            input_ids,
            padded([r[1] for r in rows], 0, length)[0],
            mask,
            text_mask,
            padded([r[2] for r in rows], -1, length)[0],
            type_ids,
            type_mask,
            *(numpy.asarray([p[k] for p in per_pair], dtype="int64") for k in range(5)),
            [unit.doc for unit in units],
        )

    def build(self, parts: ModuleParts) -> Any:
        from ..layers.pairs import LevitatedMarkers as Module

        return Module(parts.text_model, parts.image, parts.fusion, parts.grounding)


@dataclass
class PoolingFeatures(Features):
    """states (B, N, Dt) with states_mask (B, N); entity_row, entity_slot (E,);
    entity_span (E, 2); entity_type (E,); type_ids, type_mask (Ty, K); head_entity,
    tail_entity (P,); n_slots; pixels and image_index (B,)."""

    states: Any
    states_mask: numpy.ndarray
    entity_row: numpy.ndarray
    entity_slot: numpy.ndarray
    entity_span: numpy.ndarray
    entity_type: numpy.ndarray
    type_ids: numpy.ndarray
    type_mask: numpy.ndarray
    head_entity: numpy.ndarray
    tail_entity: numpy.ndarray
    n_slots: int
    sequence_docs: List[int]
    pixels: Optional[numpy.ndarray] = None
    image_index: Optional[numpy.ndarray] = None


@dataclass(frozen=True)
class EntityPooling:
    """Entity states from a shared transformer, fused once per doc (see
    layers.pairs.EntityPooling)."""

    uses_listener = True
    takes_objects = False

    def plan(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        _no_objects(self, pairs)
        units: List[Unit] = []
        for i, (doc_i, _, _) in enumerate(pairs):
            if units and units[-1].doc == doc_i:
                units[-1] = Unit(doc_i, units[-1].start, i + 1)
            else:
                units.append(Unit(doc_i, i, i + 1))
        return units

    def featurize(self, inputs: Inputs, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> PoolingFeatures:
        """`states`: the token states (N, Dt) of each doc of the batch."""
        entities: Dict[Tuple[int, int, int, str], int] = {}
        slots: List[int] = []
        types: Dict[str, int] = {}
        heads, tails = [], []
        for row, unit in enumerate(units):
            n_before = len(entities)
            for _, head, tail in pairs[unit.start : unit.end]:
                for span, side in ((head, heads), (tail, tails)):
                    key = (row, span.start, span.end, span.label_)
                    if key not in entities:
                        entities[key] = len(entities)
                        slots.append(len(entities) - 1 - n_before)
                        types.setdefault(type_name(span.label_), len(types))
                    side.append(entities[key])
        keys = list(entities)
        doc_states = [states[unit.doc] for unit in units]
        xp = _array_module(doc_states[0])
        length = max(len(s) for s in doc_states)
        padded_states = xp.zeros((len(units), length, doc_states[0].shape[1]), dtype="float32")
        states_mask = numpy.zeros((len(units), length), dtype=bool)
        for row, doc in enumerate(doc_states):
            padded_states[row, : len(doc)] = doc
            states_mask[row, : len(doc)] = True
        type_ids, type_mask = _type_arrays(inputs.label_tokenizer, list(types))
        return PoolingFeatures(
            padded_states,
            states_mask,
            numpy.asarray([k[0] for k in keys], dtype="int64"),
            numpy.asarray(slots, dtype="int64"),
            numpy.asarray([[k[1], k[2] - 1] for k in keys], dtype="int64"),
            numpy.asarray([types[type_name(k[3])] for k in keys], dtype="int64"),
            type_ids,
            type_mask,
            numpy.asarray(heads, dtype="int64"),
            numpy.asarray(tails, dtype="int64"),
            max(slots) + 1,
            [unit.doc for unit in units],
        )

    def build(self, parts: ModuleParts) -> Any:
        from ..layers.pairs import EntityPooling as Module

        return Module(parts.width, parts.label_model.get_input_embeddings(), parts.image, parts.fusion, parts.grounding)


def _no_objects(encoder: Any, pairs: FlatPairs) -> None:
    """ROC_E047 for a pair with an image object."""
    if any(is_object(head) or is_object(tail) for _, head, tail in pairs):
        raise ValueError(Errors.ROC_E047.format(encoder=type(encoder).__name__))


def _array_module(array: Any) -> Any:
    """numpy, or cupy for arrays on a GPU."""
    from thinc.api import get_array_module

    return get_array_module(array)


@registry.architectures("spacy_roc.InlineMarkers.v1")
def build_inline_markers() -> InlineMarkers:
    """Typed markers inline, one pass per pair: the paper's setting."""
    return InlineMarkers()


@registry.architectures("spacy_roc.LevitatedMarkers.v2")
def build_levitated_markers(max_length: int = 512) -> LevitatedMarkers:
    """Levitated markers, one pass per doc for all its pairs (as many passes as the
    markers need to fit max_length wordpieces): two markers per pair, each carrying
    its entity's type and mention."""
    if max_length < 4 * N_MARKERS:
        raise ValueError(Errors.ROC_E036.format(max_length=max_length, minimum=4 * N_MARKERS))
    return LevitatedMarkers(max_length)


@registry.architectures("spacy_roc.EntityPooling.v1")
def build_entity_pooling() -> EntityPooling:
    """Entity states pooled from a shared spaCy transformer: set
    [model.text_encoder] to spacy-transformers.TransformerListener.v1."""
    return EntityPooling()
