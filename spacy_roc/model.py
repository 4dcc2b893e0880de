"""The thinc model of ROC: `spacy_roc.ROCModel.v1`.

Model[RelationBatch, Floats2d]: a batch of docs with their candidate pairs, images and
the relation set goes in; logits (n_pairs, n_relations) come out. The torch network
lives in a ROCShim and is built in `init` (weights loaded there, never at
construction). The input converter below turns docs into tensors: typed markers,
windowing, one preprocessed tensor per distinct image, tokenized descriptions.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, torch2xp, xp2torch
from thinc.types import Floats2d

from .encoders import HFTextEncoder, TimmImageEncoder
from .errors import Errors
from .layers.shim import ROCShim
from .markers import HEAD_MARKERS, TAIL_MARKERS, check_markers

Pair = Tuple[Span, Span]
POOLINGS = ("marker", "marker_mention")
FUSION_ATTENTION = ("full", "cross")


@dataclass(frozen=True)
class RelationSet:
    """The relations to retrieve: labels and their descriptions (hashable)."""

    labels: Tuple[str, ...]
    descriptions: Tuple[Tuple[str, ...], ...]

    @classmethod
    def from_dict(cls, relations: Dict[str, Sequence[str]]) -> "RelationSet":
        labels = tuple(relations)
        return cls(labels, tuple(tuple(relations[label]) for label in labels))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class RelationBatch:
    """Model input: docs, their candidate pairs and images, and the relation set.

    docs (List[Doc]): The docs.
    pairs (List[List[Tuple[Span, Span]]]): Candidate (head, tail) pairs per doc.
    images (List[Optional[PIL.Image.Image]]): RGB image per doc, or None.
    relations (RelationSet): The relations to score against.
    """

    docs: List[Doc]
    pairs: List[List[Pair]]
    images: List[Any]
    relations: RelationSet

    @property
    def n_pairs(self) -> int:
        return sum(len(p) for p in self.pairs)


@registry.architectures("spacy_roc.ROCModel.v1")
def build_roc_model(
    text_encoder: HFTextEncoder,
    image_encoder: Optional[TimmImageEncoder] = None,
    relation_encoder: Optional[HFTextEncoder] = None,
    head: str = "retrieval",
    fusion_layers: int = 2,
    fusion_heads: Optional[int] = None,
    hidden_width: Optional[int] = None,
    output_width: Optional[int] = None,
    dropout: float = 0.1,
    temperature: float = 0.05,
    learn_scale: bool = True,
    bf16: bool = True,
    max_pairs_per_batch: int = 256,
    pair_pooling: str = "marker",
    fusion_attention: str = "full",
    image_positions: bool = False,
    embedding_skip: bool = False,
    entity_grounding: bool = False,
    head_markers: Sequence[str] = HEAD_MARKERS,
    tail_markers: Sequence[str] = TAIL_MARKERS,
) -> Model[RelationBatch, Floats2d]:
    """Build the ROC model from its sub-models. Nothing is downloaded here.

    text_encoder (HFTextEncoder): Encoder of the marked pair text.
    image_encoder (Optional[TimmImageEncoder]): Image encoder, or None (text only).
    relation_encoder (Optional[HFTextEncoder]): Separate description encoder, or None
        to share the text encoder.
    head (str): "retrieval" (ROC) or "classifier" (the ablation).
    fusion_layers (int): Transformer layers over [text tokens ; image tokens].
    fusion_heads (Optional[int]): Attention heads; None: the text encoder's.
    hidden_width (Optional[int]): Pair MLP hidden width; None: the text width.
    output_width (Optional[int]): Pair/relation vector width; None: the text width.
    dropout (float): Dropout in fusion and pair MLP.
    temperature (float): Initial temperature; the scale is 1 / temperature.
    learn_scale (bool): Learn the scale.
    bf16 (bool): bfloat16 autocast on CUDA (ignored on CPU).
    max_pairs_per_batch (int): Pairs per forward pass at inference (bounds memory).
    pair_pooling (str): "marker": the pair vector reads the fused states at the head
        and tail start markers (ROC). "marker_mention": also the mean fused state of
        each marked mention.
    fusion_attention (str): "full": self-attention over [text ; image] (ROC).
        "cross": in the fusion layers, text tokens attend only to themselves and to
        the image tokens (the text encoder has already mixed the text).
    image_positions (bool): Add a learned, unit-scale position embedding to the image
        tokens at the fusion input. For image encoders trained from scratch, whose own
        position embeddings start too weak for the fusion layers to tell where a
        patch is; not needed with a pretrained ViT.
    embedding_skip (bool): Add the text encoder's embedding-layer output (word plus
        position embeddings) to its last hidden states before fusion. For small text
        encoders trained from scratch, whose contextual states blur which word a token
        is, so the fusion layers cannot match a mention's words (a colour, say) to
        image regions. Off by default.
    entity_grounding (bool): Add to the pair vector where the head and the tail are
        in the image: each mention (its input word embeddings) attends over the image
        patches, and the attended patch-grid locations (and their difference) are
        projected to the pair-vector width. For relations that depend on where the
        entities are (the demo's spatial relations). Needs an image encoder whose
        tokens form a patch grid (ROC_E033 otherwise). Off by default.
    head_markers (Sequence[str]): Outer and inner marker of the head, e.g. ["@", "*"] for
        "@ * person * Obama @". The pair vector is read at the outer start marker.
    tail_markers (Sequence[str]): Outer and inner marker of the tail, e.g. ["#", "^"].
        Pick characters the texts rarely use themselves (ROC_E034 if invalid).
    RETURNS (Model[RelationBatch, Floats2d]): Logits per pair and relation.
    """
    if head not in ("retrieval", "classifier"):
        raise ValueError(Errors.ROC_E017.format(value=head))
    if pair_pooling not in POOLINGS:
        raise ValueError(Errors.ROC_E029.format(value=pair_pooling, options=list(POOLINGS)))
    if fusion_attention not in FUSION_ATTENTION:
        raise ValueError(Errors.ROC_E030.format(value=fusion_attention, options=list(FUSION_ATTENTION)))
    head_m, tail_m = check_markers(head_markers, tail_markers)
    cfg = {
        "head": head,
        "fusion_layers": fusion_layers,
        "fusion_heads": fusion_heads,
        "hidden_width": hidden_width,
        "output_width": output_width,
        "dropout": dropout,
        "temperature": temperature,
        "learn_scale": learn_scale,
        "bf16": bf16,
        "max_length": text_encoder.max_length,
        "desc_max_length": (relation_encoder or text_encoder).max_length,
        "n_labels": 0,
        "pair_pooling": pair_pooling,
        "fusion_attention": fusion_attention,
        "image_positions": image_positions,
        "embedding_skip": embedding_skip,
        "entity_grounding": entity_grounding,
        "head_markers": list(head_m),
        "tail_markers": list(tail_m),
    }
    encoders = {"text": text_encoder, "image": image_encoder, "relation": relation_encoder}
    return Model(
        "roc_model",
        forward,
        init=init,
        shims=[ROCShim(cfg)],
        attrs={"encoders": encoders, "max_pairs_per_batch": max_pairs_per_batch, "head": head},
    )


def init(model: Model, X: Optional[RelationBatch] = None, Y: Any = None) -> None:
    """Load the pretrained encoders and build the network. The number of labels
    (needed by the classifier head) comes from the sample batch X."""
    shim: ROCShim = model.shims[0]
    encoders = model.attrs["encoders"]
    n_labels = len(X.relations) if X is not None else 0
    shim.load_pretrained(encoders["text"], encoders["image"], encoders["relation"], n_labels)


def forward(model: Model, batch: RelationBatch, is_train: bool):
    shim: ROCShim = model.shims[0]
    if shim.network is None:
        raise ValueError(Errors.ROC_E001)
    n_labels = len(batch.relations)
    if batch.n_pairs == 0:
        return model.ops.alloc2f(0, n_labels), lambda d_logits: batch
    if not is_train:
        return _predict_chunked(model, shim, batch), lambda d_logits: batch
    inputs = collate(shim, batch, _flat_pairs(batch))
    logits_t, torch_backprop = shim(inputs, is_train=True)
    logits = model.ops.asarray2f(torch2xp(logits_t.detach().float()))

    def backprop(d_logits: Floats2d) -> RelationBatch:
        grad = xp2torch(d_logits, device=logits_t.device).to(logits_t.dtype)
        torch_backprop(ArgsKwargs(args=(logits_t,), kwargs={"grad_tensors": (grad,)}))
        return batch

    return logits, backprop


def _predict_chunked(model: Model, shim: ROCShim, batch: RelationBatch) -> Floats2d:
    flat = _flat_pairs(batch)
    size = max(1, model.attrs["max_pairs_per_batch"])
    outputs = []
    for start in range(0, len(flat), size):
        logits_t = shim(collate(shim, batch, flat[start : start + size]), is_train=False)[0]
        outputs.append(model.ops.asarray2f(torch2xp(logits_t.float())))
    return model.ops.xp.concatenate(outputs, axis=0)


def _flat_pairs(batch: RelationBatch) -> List[Tuple[int, Span, Span]]:
    return [(i, head, tail) for i, pairs in enumerate(batch.pairs) for head, tail in pairs]


def collate(shim: ROCShim, batch: RelationBatch, flat: List[Tuple[int, Span, Span]]) -> ArgsKwargs:
    """Convert pairs (doc index, head, tail) of a batch into network inputs.

    RETURNS (ArgsKwargs): Keyword tensors for ROCNetwork.forward, on its device.
    """
    import torch

    device = next(shim.network.parameters()).device
    kwargs: Dict[str, Any] = _text_tensors(shim, batch, flat)
    kwargs.update(_image_tensors(shim, batch, flat))
    if shim.cfg["head"] == "retrieval":
        kwargs.update(_description_tensors(shim, batch.relations))
        kwargs["relation_key"] = batch.relations
    kwargs["n_labels"] = len(batch.relations)
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            kwargs[key] = value.to(device)
    return ArgsKwargs(args=(), kwargs=kwargs)


def _text_tensors(shim: ROCShim, batch: RelationBatch, flat: List[Tuple[int, Span, Span]]) -> Dict[str, Any]:
    import torch

    tokenizer = shim.pair_tokenizer
    pieces: Dict[int, List[List[int]]] = {}
    encoded = []
    for doc_i, head, tail in flat:
        if doc_i not in pieces:
            pieces[doc_i] = tokenizer.doc_pieces(batch.docs[doc_i])
        encoded.append(tokenizer.encode(pieces[doc_i], head, tail))
    length = max(len(e.input_ids) for e in encoded)
    pad_id = tokenizer.tokenizer.pad_token_id or 0
    ids = torch.full((len(encoded), length), pad_id, dtype=torch.long)  # (P, L)
    mask = torch.zeros((len(encoded), length), dtype=torch.long)  # (P, L)
    for row, e in enumerate(encoded):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
        mask[row, : len(e.input_ids)] = 1
    head_block = torch.tensor([e.head_block for e in encoded], dtype=torch.long)  # (P, 2)
    tail_block = torch.tensor([e.tail_block for e in encoded], dtype=torch.long)  # (P, 2)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "head_block": head_block,
        "tail_block": tail_block,
    }


def _image_tensors(shim: ROCShim, batch: RelationBatch, flat: List[Tuple[int, Span, Span]]) -> Dict[str, Any]:
    """One preprocessed tensor per distinct image; each pair indexes its doc's image."""
    import torch

    if shim.image_transform is None:
        return {}
    slots: Dict[int, int] = {}
    tensors = []
    index = []
    for doc_i, _, _ in flat:
        image = batch.images[doc_i]
        if image is None:
            index.append(-1)
            continue
        if id(image) not in slots:
            slots[id(image)] = len(tensors)
            tensors.append(shim.image_transform(image))  # (3, H, W)
        index.append(slots[id(image)])
    if not tensors:
        return {}
    return {"pixels": torch.stack(tensors), "image_index": torch.tensor(index, dtype=torch.long)}


def _description_tensors(shim: ROCShim, relations: RelationSet) -> Dict[str, Any]:
    import torch

    if relations not in shim.desc_cache:
        texts, labels = [], []
        for label_i, descriptions in enumerate(relations.descriptions):
            texts.extend(descriptions)
            labels.extend([label_i] * len(descriptions))
        encoded = shim.desc_tokenizer(
            texts, padding=True, truncation=True, max_length=shim.cfg["desc_max_length"], return_tensors="pt"
        )
        shim.desc_cache.clear()
        shim.desc_cache[relations] = {
            "desc_ids": encoded["input_ids"],  # (D, Ld)
            "desc_mask": encoded["attention_mask"],  # (D, Ld)
            "desc_labels": torch.tensor(labels, dtype=torch.long),  # (D,)
        }
    return dict(shim.desc_cache[relations])
