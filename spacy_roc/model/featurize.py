"""Network inputs: the tokenizers and image transform of the ROC model, and the
tensors they make from a batch (transformed images, tokenized descriptions and type
names). A `Preprocessor` is the model's `attrs["inputs"]`: empty until `initialize`,
and saved with the model (tokenizer files, timm data config) through thinc's
`serialize_attr`. The pair encoders (`pair_encoders.py`) build their own tensors with
it.
"""
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import srsly
from thinc.api import Model
from thinc.model import deserialize_attr, serialize_attr

from .encoders import make_image_transform, tokenizer_from_files, tokenizer_to_files
from ..inputs import RelationBatch, RelationSet
from .markers import PairTokenizer


class Preprocessor:
    """The tokenizers, the image transform and their settings. Empty until init.

    text_tokenizer (Any): Tokenizer of the pair texts, or None (a shared transformer
        gives the token states).
    max_length (int): Maximum wordpieces of a text window, special tokens included.
    desc_tokenizer (Any): Tokenizer of the descriptions (and the entity type names).
    desc_max_length (int): Maximum wordpieces per description.
    data_config (Optional[Dict[str, Any]]): timm data config; None: no images.
    """

    def __init__(
        self,
        text_tokenizer: Any = None,
        max_length: int = 0,
        desc_tokenizer: Any = None,
        desc_max_length: int = 0,
        data_config: Optional[Dict[str, Any]] = None,
    ):
        self.text_tokenizer = text_tokenizer
        self.max_length = max_length
        self.desc_tokenizer = desc_tokenizer
        self.desc_max_length = desc_max_length
        self.data_config = data_config
        self.image_transform = make_image_transform(data_config) if data_config else None
        self.pair_tokenizer = PairTokenizer(text_tokenizer, max_length) if text_tokenizer is not None else None

    @property
    def loaded(self) -> bool:
        return self.desc_tokenizer is not None

    def pixels(self, images: List[Any]) -> Any:
        """The transformed images (I, 3, H, W), or None."""
        import torch

        if not images or self.image_transform is None:
            return None
        return torch.stack([self.image_transform(image) for image in images])

    def image_tensors(self, batch: RelationBatch, sequence_docs: Sequence[int], pixels: Any) -> Dict[str, Any]:
        """pixels (I', 3, H, W) of the images of the sequences' docs, and
        image_index (B,) into them (-1: text-only); nothing if none has an image."""
        import torch

        if pixels is None:
            return {}
        per_sequence = [batch.image_index[doc_i] for doc_i in sequence_docs]
        used = sorted({i for i in per_sequence if i >= 0})
        if not used:
            return {}
        slot = {image: row for row, image in enumerate(used)}
        index = torch.tensor([slot.get(i, -1) for i in per_sequence], dtype=torch.long)
        return {"pixels": pixels[used], "image_index": index}

    def description_tensors(self, relations: RelationSet, sample: bool = False) -> Dict[str, Any]:
        """desc_ids and desc_mask (D, Ld), desc_labels (D,) and n_labels: every
        description, or (sample, in training) one drawn at random per relation. A
        training step then encodes R descriptions instead of all of them, and each
        relation's prototype is learnt from all its descriptions over the steps."""
        import torch

        if sample:
            texts = [random.choice(descriptions) for descriptions in relations.descriptions]
            labels = list(range(len(relations)))
        else:
            texts = [text for descriptions in relations.descriptions for text in descriptions]
            labels = [i for i, descriptions in enumerate(relations.descriptions) for _ in descriptions]
        encoded = self.desc_tokenizer(
            texts, padding=True, truncation=True, max_length=self.desc_max_length, return_tensors="pt"
        )
        return {
            "desc_ids": encoded["input_ids"],
            "desc_mask": encoded["attention_mask"],
            "desc_labels": torch.tensor(labels, dtype=torch.long),
            "n_labels": len(relations),
        }

    def type_tensors(self, type_names: Sequence[str], tokenizer: Any) -> Dict[str, Any]:
        """type_ids and type_mask (Ty, K): the wordpieces of each entity type name
        (an empty name has none)."""
        pieces = [tokenizer(name, add_special_tokens=False)["input_ids"] if name else [] for name in type_names]
        ids, mask = padded(pieces, 0, max([1, *(len(p) for p in pieces)]))
        return {"type_ids": ids, "type_mask": mask}

    def to_bytes(self) -> bytes:
        if not self.loaded:
            return srsly.msgpack_dumps({"loaded": False})
        shared = self.desc_tokenizer is self.text_tokenizer
        text = tokenizer_to_files(self.text_tokenizer) if self.text_tokenizer is not None else None
        msg = {
            "loaded": True,
            "text_tokenizer": text,
            "max_length": self.max_length,
            "desc_tokenizer": None if shared else tokenizer_to_files(self.desc_tokenizer),
            "desc_max_length": self.desc_max_length,
            "data_config": self.data_config,
        }
        return srsly.msgpack_dumps(msg)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Preprocessor":
        msg = srsly.msgpack_loads(data)
        if not msg["loaded"]:
            return cls()
        text = tokenizer_from_files(msg["text_tokenizer"]) if msg["text_tokenizer"] is not None else None
        desc = tokenizer_from_files(msg["desc_tokenizer"]) if msg["desc_tokenizer"] is not None else text
        return cls(text, msg["max_length"], desc, msg["desc_max_length"], msg["data_config"])


def padded(rows: Sequence[Sequence[int]], pad: int, length: Optional[int] = None) -> Tuple[Any, Any]:
    """rows as a (len(rows), length) long tensor padded with `pad`, and its 0/1 mask.

    rows (Sequence[Sequence[int]]): The rows.
    pad (int): The padding value.
    length (Optional[int]): The width; by default the longest row's.
    RETURNS (Tuple[torch.Tensor, torch.Tensor]): The tensor and the mask.
    """
    import torch

    length = length or max(len(row) for row in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


@serialize_attr.register(Preprocessor)
def _serialize_preprocessor(_: Preprocessor, value: Preprocessor, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(Preprocessor)
def _deserialize_preprocessor(_: Preprocessor, value: bytes, name: str, model: Model) -> Preprocessor:
    return Preprocessor.from_bytes(value)
