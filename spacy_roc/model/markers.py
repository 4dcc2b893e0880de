"""Typed entity markers and windowing of the marked text.

A pair (head, tail) is encoded as the doc's wordpieces with typed punctuation markers
(Zhou & Chen 2021) around the two mentions, e.g.

    @ * person * Obama @ was born in # ^ loc ^ Hawaii #

The head start marker "@" and the tail start marker "#" are the positions the pair
vector is read from.

Texts longer than the encoder's maximum length are windowed around the pair so that
both markers survive; when the two entities are too far apart for one window, a window
around each is kept and the middle is dropped.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from spacy.tokens import Doc, Span

from ..errors import Errors

HEAD_MARKERS = ("@", "*")
TAIL_MARKERS = ("#", "^")
Markers = Tuple[str, str]
MIN_MAX_LENGTH = 16


@dataclass
class MarkedPair:
    """Wordpiece ids of one marked pair, with the positions of its start markers and
    the first and last wordpiece of each mention; positions cut off by windowing are
    clamped to the last position."""

    input_ids: List[int]
    head_marker: int
    tail_marker: int
    head_span: Tuple[int, int]
    tail_span: Tuple[int, int]


def type_name(label: str) -> str:
    """The words an entity type shows the encoders, e.g. "PERSON" -> "person"."""
    return label.lower().replace("_", " ").strip()


class PairTokenizer:
    """Turns (doc, head, tail) into marked wordpiece sequences.

    tokenizer (PreTrainedTokenizerBase): A Hugging Face (fast) tokenizer.
    max_length (int): Maximum sequence length, special tokens included.
    """

    def __init__(self, tokenizer: Any, max_length: int):
        if max_length < MIN_MAX_LENGTH:
            raise ValueError(Errors.ROC_E020.format(max_length=max_length, minimum=MIN_MAX_LENGTH))
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._piece_cache: Dict[str, List[int]] = {}
        self.head_markers, self.tail_markers = HEAD_MARKERS, TAIL_MARKERS
        if not all(self._known(marker) for marker in HEAD_MARKERS + TAIL_MARKERS):
            raise ValueError(Errors.ROC_E034.format(markers=list(HEAD_MARKERS + TAIL_MARKERS)))
        wrapped = tokenizer.build_inputs_with_special_tokens([-1])
        self.prefix = wrapped.index(-1)
        self.n_special = len(wrapped) - 1
        self.pad_id = tokenizer.pad_token_id or 0

    def pieces(self, text: str) -> List[int]:
        """Wordpiece ids of a short string (markers, type names), cached."""
        if text not in self._piece_cache:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            self._piece_cache[text] = list(ids)
        return self._piece_cache[text]

    def _known(self, text: str) -> bool:
        """Whether a marker becomes wordpieces the vocabulary knows (no [UNK])."""
        ids = self.pieces(text)
        return bool(ids) and getattr(self.tokenizer, "unk_token_id", None) not in ids

    def doc_pieces(self, doc: Doc) -> List[List[int]]:
        """Wordpiece ids of each token of a doc (no special tokens)."""
        words = [t.text for t in doc]
        if not words:
            return []
        return [list(ids) for ids in self.tokenizer(words, add_special_tokens=False)["input_ids"]]

    def encode(self, pieces: Sequence[Sequence[int]], head: Span, tail: Span) -> MarkedPair:
        """Mark one pair in a doc's wordpieces and window it to max_length.

        pieces (Sequence[Sequence[int]]): Wordpieces per token, from `doc_pieces`.
        head (Span): The head entity.
        tail (Span): The tail entity.
        RETURNS (MarkedPair): Ids with special tokens, and the marker positions.
        """
        if head.start == tail.start and head.end == tail.end:
            raise ValueError(Errors.ROC_E016.format(head=head, tail=tail))
        ids, blocks = self._insert_markers(pieces, head, tail)
        # a block: [start marker, first mention wordpiece, closing marker]
        ids, blocks = self._window(ids, blocks, self.max_length - self.n_special)
        full = self.tokenizer.build_inputs_with_special_tokens(ids)
        last = self.prefix + len(ids) - 1
        (head_marker, head_first, head_close), (tail_marker, tail_first, tail_close) = [
            [min(p + self.prefix, last) for p in block] for block in blocks
        ]
        head_span = (head_first, max(head_first, head_close - 1))
        tail_span = (tail_first, max(tail_first, tail_close - 1))
        return MarkedPair(full, head_marker, tail_marker, head_span, tail_span)

    def encode_one(self, pieces: Sequence[Sequence[int]], span: Span, as_head: bool) -> MarkedPair:
        """Mark one entity of a doc (a pair whose other side is an image object) with
        the head's markers (as_head) or the tail's, and window it to max_length.
        RETURNS (MarkedPair): the entity's marker and span in both head and tail
        fields (the object side is not in the text)."""
        markers = self.head_markers if as_head else self.tail_markers
        open_ids, close_ids = self._open(markers, span), self.pieces(markers[0])
        ids: List[int] = []
        block = [0, 0, 0]
        for i in range(len(pieces) + 1):
            if i == span.end:
                block[2] = len(ids)
                ids.extend(close_ids)
            if i == span.start:
                block[0] = len(ids)
                ids.extend(open_ids)
                block[1] = len(ids)
            if i < len(pieces):
                ids.extend(pieces[i])
        ids, (block, _) = self._window(ids, [block, block], self.max_length - self.n_special)
        full = self.tokenizer.build_inputs_with_special_tokens(ids)
        last = self.prefix + len(ids) - 1
        marker, first, close = [min(p + self.prefix, last) for p in block]
        mention = (first, max(first, close - 1))
        return MarkedPair(full, marker, marker, mention, mention)

    def _insert_markers(
        self, pieces: Sequence[Sequence[int]], head: Span, tail: Span
    ) -> Tuple[List[int], List[List[int]]]:
        head_m, tail_m = self.head_markers, self.tail_markers
        opens = {0: (head.start, self._open(head_m, head)), 1: (tail.start, self._open(tail_m, tail))}
        closes = {0: (head.end, self.pieces(head_m[0])), 1: (tail.end, self.pieces(tail_m[0]))}
        ids: List[int] = []
        blocks = [[0, 0, 0], [0, 0, 0]]  # [start marker, first mention piece, closing marker]
        for i in range(len(pieces) + 1):
            for who in (0, 1):
                if closes[who][0] == i:
                    blocks[who][2] = len(ids)
                    ids.extend(closes[who][1])
            for who in (0, 1):
                if opens[who][0] == i:
                    blocks[who][0] = len(ids)
                    ids.extend(opens[who][1])
                    blocks[who][1] = len(ids)
            if i < len(pieces):
                ids.extend(pieces[i])
        return ids, blocks

    def _open(self, markers: Tuple[str, str], span: Span) -> List[int]:
        outer, inner = self.pieces(markers[0]), self.pieces(markers[1])
        return outer + inner + self.pieces(type_name(span.label_)) + inner

    @staticmethod
    def _window(
        ids: List[int], blocks: List[List[int]], budget: int
    ) -> Tuple[List[int], List[List[int]]]:
        segments = window_segments(len(ids), [[block[0], block[-1]] for block in blocks], budget)
        window = [i for start, end in segments for i in ids[start:end]]
        return window, [rebase(block, segments) for block in blocks]

Segments = List[Tuple[int, int]]


def window_segments(length: int, blocks: Sequence[Sequence[int]], budget: int) -> Segments:
    """The part of a text of `length` wordpieces that is kept so that two blocks
    ([first, last] positions, e.g. a head and a tail) survive in `budget` wordpieces:
    all of it if it fits, else a window centred on both blocks, else (too far apart for
    one window) a window around each; if the second block starts inside the first's
    window (nested or overlapping mentions), one window from there, so no wordpiece
    is kept twice.

    RETURNS (List[Tuple[int, int]]): (start, end) segments, end exclusive, in order.
    """
    if length <= budget:
        return [(0, length)]
    lo = min(blocks[0][0], blocks[1][0])
    hi = max(blocks[0][1], blocks[1][1]) + 1
    if hi - lo <= budget:
        start = max(0, min(lo - (budget - (hi - lo)) // 2, length - budget))
        return [(start, start + budget)]
    first, second = sorted(blocks[:2], key=lambda block: block[0])
    size_a = budget // 2
    size_b = budget - size_a
    start_a = max(0, first[0] - max(0, size_a - (first[1] - first[0] + 1)) // 2)
    if second[0] < start_a + size_a:  # nested or overlapping blocks: one window from the first
        start = min(start_a, length - budget)
        return [(start, start + budget)]
    start_b = max(start_a + size_a, second[0] - max(0, size_b - (second[1] - second[0] + 1)) // 2)
    start_b = min(start_b, second[0])
    return [(start_a, min(start_a + size_a, length)), (start_b, min(start_b + size_b, length))]


def rebase(block: Sequence[int], segments: Segments) -> List[int]:
    """A block's positions in the text made of the segments: shifted by the segment
    that holds the block's start, and clamped to that segment."""
    offset = 0
    for start, end in segments:
        if start <= block[0] < end:
            return [min(position, end - 1) - start + offset for position in block]
        offset += end - start
    raise ValueError(f"block {block} outside the segments {segments}")
