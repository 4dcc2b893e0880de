"""The featurizer: docs, pairs, images and relations in; typed batches of arrays out,
before the torch wrapper (as spacy-transformers builds its `WordpieceBatch` before its
wrapper). The wrapper's `convert_inputs` then only moves the arrays to torch and to
the device.

- A pair encoder (`pair_encoders.py`) plans a batch's pairs into units (a pair, a
  pass, a doc) and turns a chunk of units into its own features dataclass.
- The images of a chunk's sequences become `pixels` (I, 3, H, W) and `image_index`
  (B,), with timm's evaluation transform.
- The relations become `LabelArrays`: every label text tokenized once.
"""
from dataclasses import dataclass, fields
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
from thinc.api import Model

from ..inputs import RelationBatch, RelationSet

# (doc index, head, tail) of every pair of a batch, in doc order
FlatPairs = List[Tuple[int, Any, Any]]


@dataclass(frozen=True)
class Unit:
    """Pairs start..end (exclusive) of a batch's flat pairs, all of doc `doc`, that
    go through the network together; `segments`: the doc's wordpieces in the pass
    (levitated markers)."""

    doc: int
    start: int
    end: int
    segments: Tuple[Tuple[int, int], ...] = ()


@dataclass
class Features:
    """Base of the pair encoders' features: numpy arrays (or ints) named as the
    arguments of the pair module's forward. `sequence_docs` (not an input): the doc of
    each sequence, to send a shared transformer's gradients back."""

    def arrays(self) -> Dict[str, Any]:
        """The inputs of the pair module (None: not given)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sequence_docs" and getattr(self, f.name) is not None}


@dataclass
class LabelArrays:
    """The label texts of a relation set, tokenized: text_ids, text_mask (T, Lt);
    text_relation (T,) the relation of each text; text_part (T,) 0 for the
    relation's name, descriptions and aliases, 1 for its head types, 2 for its tail
    types; typed (R,) whether a relation names entity types."""

    text_ids: numpy.ndarray
    text_mask: numpy.ndarray
    text_relation: numpy.ndarray
    text_part: numpy.ndarray
    typed: numpy.ndarray


def label_arrays(tokenizer: Any, relations: RelationSet, max_length: int) -> LabelArrays:
    """Every text of a relation set, tokenized (see LabelArrays)."""
    texts, owners, parts = [], [], []
    for i, relation in enumerate(relations.relations):
        for part, group in enumerate((relation.texts, relation.head_types, relation.tail_types)):
            texts.extend(group)
            owners.extend([i] * len(group))
            parts.extend([part] * len(group))
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    typed = numpy.asarray([relation.typed for relation in relations.relations], dtype=bool)
    return LabelArrays(
        encoded["input_ids"].astype("int64"),
        encoded["attention_mask"].astype("int64"),
        numpy.asarray(owners, dtype="int64"),
        numpy.asarray(parts, dtype="int64"),
        typed,
    )


def padded(rows: Sequence[Sequence[int]], pad: int, length: Optional[int] = None) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """rows as a (len(rows), length) int64 array padded with `pad`, and its 0/1 mask.

    rows (Sequence[Sequence[int]]): The rows.
    pad (int): The padding value.
    length (Optional[int]): The width; by default the longest row's.
    RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): The array and the mask.
    """
    length = length or max(len(row) for row in rows)
    ids = numpy.full((len(rows), length), pad, dtype="int64")
    mask = numpy.zeros((len(rows), length), dtype="int64")
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def image_arrays(transform: Any, batch: RelationBatch, sequence_docs: Sequence[int]) -> Dict[str, numpy.ndarray]:
    """pixels (I, 3, H, W) of the images of the sequences' docs and image_index (B,)
    into them (-1: text-only); nothing without images."""
    per_sequence = [batch.image_index[doc_i] for doc_i in sequence_docs]
    used = sorted({i for i in per_sequence if i >= 0})
    if transform is None or not used:
        return {}
    slot = {image: row for row, image in enumerate(used)}
    pixels = numpy.stack([transform(batch.images[i]).numpy() for i in used]).astype("float32")
    return {"pixels": pixels, "image_index": numpy.asarray([slot.get(i, -1) for i in per_sequence], dtype="int64")}


def chunks(units: List[Unit], max_pairs: int) -> Iterator[List[Unit]]:
    """Consecutive units with at most max_pairs pairs together (at least one unit)."""
    chunk: List[Unit] = []
    for unit in units:
        if chunk and sum(u.end - u.start for u in chunk) + unit.end - unit.start > max_pairs:
            yield chunk
            chunk = []
        chunk.append(unit)
    yield chunk


def build_featurizer(pair_encoder: Any, max_pairs_per_batch: int) -> Model:
    """The featurizer layer: (batch, token states or None) in, a list of chunks of
    features out (one chunk in training; at inference, chunks of at most
    max_pairs_per_batch pairs). Its `attrs["inputs"]` holds the tokenizers and the image
    transform of the network `attrs["inputs_of"]` (the ROC model sets them from its
    network, after init and after loading; neither attr is serialized)."""
    attrs = {"pair_encoder": pair_encoder, "max_pairs": max_pairs_per_batch, "inputs": None, "inputs_of": None}
    return Model("roc_featurizer", featurize_forward, attrs=attrs)


@dataclass
class Inputs:
    """What the featurizer reads with: the pair encoder's tokenizer (a PairTokenizer,
    or None with a shared transformer), the label tokenizer and maximum length, and
    timm's image transform (None: text-only)."""

    pair_tokenizer: Any
    label_tokenizer: Any
    label_max_length: int
    image_transform: Any


def featurize_forward(model: Model, X: Tuple[RelationBatch, Optional[List[Any]]], is_train: bool) -> Tuple[List[Features], Any]:
    batch, states = X
    encoder, inputs = model.attrs["pair_encoder"], model.attrs["inputs"]
    pairs = batch.flat_pairs()
    units = encoder.plan(inputs, batch, pairs)
    parts = [units] if is_train else list(chunks(units, model.attrs["max_pairs"]))
    features = [encoder.featurize(inputs, batch, pairs, part, states) for part in parts]
    for chunk in features:
        for name, value in image_arrays(inputs.image_transform, batch, chunk.sequence_docs).items():
            setattr(chunk, name, value)

    def backprop(d_states: List[Optional[List[Any]]]) -> Tuple[RelationBatch, Optional[List[Any]]]:
        """The gradients of the token states, summed per doc (None without them)."""
        if states is None:
            return batch, None
        total = [model.ops.alloc2f(*s.shape) for s in states]
        for chunk, d_chunk in zip(features, d_states):
            for row, doc_i in enumerate(chunk.sequence_docs):
                total[doc_i] += d_chunk[row][: len(states[doc_i])]
        return batch, total

    return features, backprop
