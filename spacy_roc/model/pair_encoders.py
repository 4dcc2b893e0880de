"""Registered pair encoders of `spacy_roc.ROCModel.v1` (`[model.pair_encoder]`), and
the tensors each makes from a batch. The torch modules are in `layers/pairs.py`.

- `spacy_roc.InlineMarkers.v1`: typed markers inline, one pass per pair (the paper's
  setting).
- `spacy_roc.LevitatedMarkers.v1`: one pass per doc for all its pairs: four typed
  marker tokens per pair after the text, sharing the position ids of the mentions
  (PURE / PL-Marker); a doc's pairs are split over as few passes as fit `max_length`.
- `spacy_roc.EntityPooling.v1`: entity states pooled from a shared spaCy
  `transformer` (its listener is `[model.text_encoder]`), typed, fused once per doc.

A pair encoder plans the batch into units, the pairs that go through the network
together (a pair, a pass, a doc), and turns a chunk of units into tensors. Units are
contiguous runs of the batch's pairs, so the logits come out in the batch's order.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from spacy.tokens import Span
from spacy.util import registry

from ..errors import Errors
from ..inputs import RelationBatch
from .markers import HEAD_MARKERS, TAIL_MARKERS, rebase, type_name, window_segments
from .featurize import Preprocessor, padded

FlatPairs = List[Tuple[int, Span, Span]]
N_MARKERS = 4  # levitated markers per pair: head start and end, tail start and end


@dataclass(frozen=True)
class Unit:
    """Pairs start..end (exclusive) of a batch's flat pairs, all of doc `doc`, that
    go through the network together; `segments`: the doc's wordpieces in the pass
    (levitated markers)."""

    doc: int
    start: int
    end: int
    segments: Tuple[Tuple[int, int], ...] = ()


@dataclass(frozen=True)
class InlineMarkersLayer:
    """Typed markers inline, one pass per pair (see layers.pairs.InlineMarkers)."""

    kind = "inline"

    def plan(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        return [Unit(doc_i, i, i + 1) for i, (doc_i, _, _) in enumerate(pairs)]

    def tensors(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> Tuple[Dict[str, Any], List[int]]:
        """input_ids, attention_mask (P, L), head_block and tail_block (P, 2), and
        the doc of each sequence."""
        import torch

        tokenizer = prep.pair_tokenizer
        pieces: Dict[int, List[List[int]]] = {}
        encoded = []
        for unit in units:
            doc_i, head, tail = pairs[unit.start]
            if doc_i not in pieces:
                pieces[doc_i] = tokenizer.doc_pieces(batch.docs[doc_i])
            encoded.append(tokenizer.encode(pieces[doc_i], head, tail))
        ids, mask = padded([e.input_ids for e in encoded], tokenizer.tokenizer.pad_token_id or 0)
        tensors = {
            "input_ids": ids,
            "attention_mask": mask,
            "head_block": torch.tensor([e.head_block for e in encoded], dtype=torch.long),
            "tail_block": torch.tensor([e.tail_block for e in encoded], dtype=torch.long),
        }
        return tensors, [unit.doc for unit in units]


@dataclass(frozen=True)
class LevitatedMarkersLayer:
    """One pass per doc window for its pairs (see layers.pairs.LevitatedMarkers).

    max_length (int): Wordpieces per pass, the text and the markers together.
    """

    max_length: int = 512
    kind = "levitated"

    def plan(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        """Consecutive pairs of a doc that keep the same text window (all of them,
        unless the doc is longer than the text encoder's max_length) share passes,
        as many per pass as fit max_length."""
        budget = prep.max_length - prep.pair_tokenizer.n_special
        units: List[Unit] = []
        offsets: Dict[int, List[Tuple[int, int]]] = {}
        for i, (doc_i, head, tail) in enumerate(pairs):
            if doc_i not in offsets:
                offsets[doc_i] = _token_offsets(prep.pair_tokenizer.doc_pieces(batch.docs[doc_i]))
            spans = [_span_pieces(offsets[doc_i], span) for span in (head, tail)]
            n_pieces = offsets[doc_i][-1][1] if offsets[doc_i] else 0
            segments = tuple(window_segments(n_pieces, spans, budget))
            last = units[-1] if units else None
            text = prep.pair_tokenizer.n_special + sum(end - start for start, end in segments)
            capacity = max(1, (self.max_length - text) // N_MARKERS)
            if last is not None and last.doc == doc_i and last.segments == segments and last.end - last.start < capacity:
                units[-1] = Unit(doc_i, last.start, i + 1, segments)
            else:
                units.append(Unit(doc_i, i, i + 1, segments))
        return units

    def tensors(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> Tuple[Dict[str, Any], List[int]]:
        """input_ids, position_ids (B, L), attention_mask (B, L, L), marker_type
        (B, L), type_ids and type_mask (Ty, K), and per pair its sequence, start
        marker positions and mention wordpieces; and the doc of each sequence."""
        import torch

        tokenizer = prep.pair_tokenizer
        marker_ids = [tokenizer.pieces(m)[0] for m in (HEAD_MARKERS[0], HEAD_MARKERS[0], TAIL_MARKERS[0], TAIL_MARKERS[0])]
        types: Dict[str, int] = {}
        rows, per_pair = [], []
        doc_pieces: Dict[int, List[List[int]]] = {}
        for row, unit in enumerate(units):
            if unit.doc not in doc_pieces:
                doc_pieces[unit.doc] = tokenizer.doc_pieces(batch.docs[unit.doc])
            offsets = _token_offsets(doc_pieces[unit.doc])
            flat = [piece for token in doc_pieces[unit.doc] for piece in token]
            text = tokenizer.tokenizer.build_inputs_with_special_tokens([p for s, e in unit.segments for p in flat[s:e]])
            ids, positions, marker_type = list(text), list(range(len(text))), [-1] * len(text)
            for _, head, tail in pairs[unit.start : unit.end]:
                spans = [rebase(_span_pieces(offsets, span), unit.segments) for span in (head, tail)]
                spans = [[p + tokenizer.prefix for p in span] for span in spans]
                first = len(ids)
                kinds = [types.setdefault(type_name(span.label_), len(types)) for span in (head, head, tail, tail)]
                ids += marker_ids
                positions += [spans[0][0], spans[0][1], spans[1][0], spans[1][1]]
                marker_type += kinds
                per_pair.append((row, first, first + 2, spans[0], spans[1]))
            rows.append((ids, positions, marker_type, len(text)))
        length = max(len(ids) for ids, _, _, _ in rows)
        input_ids, _ = padded([r[0] for r in rows], tokenizer.tokenizer.pad_token_id or 0, length)
        position_ids, _ = padded([r[1] for r in rows], 0, length)
        marker_types, _ = padded([r[2] for r in rows], -1, length)
        mask = torch.zeros((len(rows), length, length), dtype=torch.bool)
        for row, (ids, _, _, n_text) in enumerate(rows):
            mask[row, :, :n_text] = True  # everyone sees the text, the text sees no marker
            for first in range(n_text, len(ids), N_MARKERS):  # a pair's markers see each other
                mask[row, first : first + N_MARKERS, first : first + N_MARKERS] = True
            pad = torch.arange(len(ids), length)
            mask[row, pad, :] = False
            mask[row, pad, pad] = True  # padding sees itself only (no empty softmax)
        tensors = {
            "input_ids": input_ids,
            "position_ids": position_ids,
            "attention_mask": mask,
            "marker_type": marker_types,
            **prep.type_tensors(list(types), tokenizer.tokenizer),
            "pair_row": torch.tensor([p[0] for p in per_pair], dtype=torch.long),
            "head_marker": torch.tensor([p[1] for p in per_pair], dtype=torch.long),
            "tail_marker": torch.tensor([p[2] for p in per_pair], dtype=torch.long),
            "head_span": torch.tensor([p[3] for p in per_pair], dtype=torch.long),
            "tail_span": torch.tensor([p[4] for p in per_pair], dtype=torch.long),
        }
        return tensors, [unit.doc for unit in units]


@dataclass(frozen=True)
class EntityPoolingLayer:
    """Entity states from a shared transformer, fused once per doc (see
    layers.pairs.EntityPooling)."""

    kind = "pooling"

    def plan(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs) -> List[Unit]:
        units: List[Unit] = []
        for i, (doc_i, _, _) in enumerate(pairs):
            if units and units[-1].doc == doc_i:
                units[-1] = Unit(doc_i, units[-1].start, i + 1)
            else:
                units.append(Unit(doc_i, i, i + 1))
        return units

    def tensors(self, prep: Preprocessor, batch: RelationBatch, pairs: FlatPairs, units: Sequence[Unit], states: Any) -> Tuple[Dict[str, Any], List[int]]:
        """states (B, N, Dt) with states_mask, the docs' entities (row, slot,
        token span, type) and each pair's head and tail entity; and the doc of each
        sequence. `states` are the token states of the batch's docs."""
        import torch

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
        length = max(len(s) for s in doc_states)
        device = doc_states[0].device
        padded = torch.zeros((len(units), length, doc_states[0].shape[1]), dtype=doc_states[0].dtype, device=device)
        mask = torch.zeros((len(units), length), dtype=torch.bool, device=device)
        for row, doc in enumerate(doc_states):
            padded[row, : len(doc)] = doc
            mask[row, : len(doc)] = True
        tensors = {
            "states": padded,
            "states_mask": mask,
            "entity_row": torch.tensor([k[0] for k in keys], dtype=torch.long),
            "entity_slot": torch.tensor(slots, dtype=torch.long),
            "entity_span": torch.tensor([[k[1], k[2] - 1] for k in keys], dtype=torch.long),
            "entity_type": torch.tensor([types[type_name(k[3])] for k in keys], dtype=torch.long),
            **prep.type_tensors(list(types), prep.desc_tokenizer),
            "head_entity": torch.tensor(heads, dtype=torch.long),
            "tail_entity": torch.tensor(tails, dtype=torch.long),
            "n_slots": max(slots) + 1,
        }
        return tensors, [unit.doc for unit in units]


PairEncoderLayer = Any  # one of the three layers above


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


@registry.architectures("spacy_roc.InlineMarkers.v1")
def build_inline_markers() -> InlineMarkersLayer:
    """Typed markers inline, one pass per pair: the paper's setting."""
    return InlineMarkersLayer()


@registry.architectures("spacy_roc.LevitatedMarkers.v1")
def build_levitated_markers(max_length: int = 512) -> LevitatedMarkersLayer:
    """Levitated markers, one pass per doc for all its pairs (as many passes as the
    markers need to fit max_length wordpieces)."""
    if max_length < 2 * N_MARKERS:
        raise ValueError(Errors.ROC_E036.format(max_length=max_length, minimum=2 * N_MARKERS))
    return LevitatedMarkersLayer(max_length)


@registry.architectures("spacy_roc.EntityPooling.v1")
def build_entity_pooling() -> EntityPoolingLayer:
    """Entity states pooled from a shared spaCy transformer: set
    [model.text_encoder] to spacy-transformers.TransformerListener.v1."""
    return EntityPoolingLayer()
