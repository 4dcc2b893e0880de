"""The ROC network: pair vectors (from a pair encoder, see `pairs.py`) scored against
relation prototypes, or by a classifier.

Shapes: P pairs, D descriptions, Ld wordpieces per description, R relations, Dt
width, Do output width (= Dt).
"""
import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .fusion import Fusion
from .grounding import EntityGrounding
from .image import ImageTokenizer
from .pairs import EntityPooling, InlineMarkers, LevitatedMarkers


class RelationEncoder(nn.Module):
    """Descriptions mean-pooled, projected and normalised; a relation's prototype is
    the normalised mean of its descriptions' vectors.

    text_model (nn.Module): A Hugging Face encoder (shared with the pairs, or not).
    output_width (int): The output width Do.
    """

    def __init__(self, text_model: nn.Module, output_width: int):
        super().__init__()
        self.text_model = text_model
        self.proj = nn.Linear(text_model.config.hidden_size, output_width)

    def forward(self, desc_ids: Tensor, desc_mask: Tensor, desc_labels: Tensor, n_labels: int) -> Tensor:
        """desc_ids, desc_mask (D, Ld); desc_labels (D,) relation of each
        description. RETURNS (Tensor): prototypes (R, Do), unit length."""
        states = self.text_model(input_ids=desc_ids, attention_mask=desc_mask).last_hidden_state
        mask = desc_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (D, Dt)
        vectors = F.normalize(self.proj(pooled).float(), dim=-1)  # (D, Do)
        protos = vectors.new_zeros(n_labels, vectors.shape[1]).index_add(0, desc_labels, vectors)
        return F.normalize(protos, dim=-1)  # (R, Do)


class ROCNetwork(nn.Module):
    """Pair vectors scored by `scale * cos(pair, prototype)` against every relation
    (retrieval), or by a linear classifier (the ablation).

    pairs (nn.Module): The pair encoder (InlineMarkers, LevitatedMarkers or
        EntityPooling).
    relations (Optional[RelationEncoder]): Description encoder (retrieval), or None.
    classifier (Optional[nn.Linear]): Linear head (the ablation), or None.
    temperature (float): Initial temperature; the learnt scale starts at 1 / temperature.
    bf16 (bool): bfloat16 autocast on CUDA.
    """

    def __init__(
        self,
        pairs: nn.Module,
        relations: Optional[RelationEncoder],
        classifier: Optional[nn.Linear],
        temperature: float,
        bf16: bool,
    ):
        super().__init__()
        self.pairs = pairs
        self.relations = relations
        self.classifier = classifier
        # (1,): thinc's optimizers need parameters with at least one dimension
        self.log_scale = nn.Parameter(torch.full((1,), math.log(1.0 / temperature)))
        self.bf16 = bf16

    def forward(
        self,
        pairs: Dict[str, Any],
        desc_ids: Optional[Tensor] = None,
        desc_mask: Optional[Tensor] = None,
        desc_labels: Optional[Tensor] = None,
        n_labels: int = 0,
        prototypes: Optional[Tensor] = None,
        dropout: float = 0.0,
    ) -> Tensor:
        """Score pairs (the pair encoder's inputs) against relations: the prototypes
        are given (cached at inference) or encoded from the descriptions.
        RETURNS (Tensor): logits (P, R)."""
        with self._autocast(pairs):
            vectors = self.pairs(**pairs, dropout=dropout)  # (P, Do)
        if self.classifier is not None:
            return self.classifier(vectors.float())  # (P, R)
        if prototypes is None:
            prototypes = self.encode_relations(desc_ids, desc_mask, desc_labels, n_labels)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        return scale * F.normalize(vectors.float(), dim=-1) @ prototypes.t()  # (P, R)

    def encode_relations(self, desc_ids: Tensor, desc_mask: Tensor, desc_labels: Tensor, n_labels: int) -> Tensor:
        """RETURNS (Tensor): relation prototypes (R, Do)."""
        with self._autocast({"desc_ids": desc_ids}):
            return self.relations(desc_ids, desc_mask, desc_labels, n_labels)

    def _autocast(self, tensors: Dict[str, Any]) -> torch.autocast:
        cuda = any(isinstance(t, Tensor) and t.is_cuda for t in tensors.values())
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16 and cuda)


PAIR_ENCODERS = {"inline": InlineMarkers, "levitated": LevitatedMarkers, "pooling": EntityPooling}


def build_network(
    encoder: str,
    text_model: Optional[nn.Module],
    backbone: Optional[nn.Module],
    relation_model: Optional[nn.Module],
    *,
    width: int,
    head: str,
    n_labels: int,
    fusion_layers: int,
    grounding: bool,
    temperature: float,
    bf16: bool,
) -> ROCNetwork:
    """Assemble a ROCNetwork from loaded encoders.

    encoder (str): The pair encoder: "inline", "levitated" or "pooling".
    text_model (Optional[nn.Module]): Hugging Face encoder of the pair texts (None
        with "pooling", whose token states come from a shared transformer).
    backbone (Optional[nn.Module]): timm image backbone, or None (text-only).
    relation_model (Optional[nn.Module]): Separate description encoder, or None to
        share the text encoder.
    width (int): The state width Dt: the text encoder's, or the shared transformer's.
    head (str): "retrieval" or "classifier".
    n_labels (int): Relations (the classifier's outputs).
    fusion_layers (int): FusionLayers; 0 with no image encoder.
    grounding (bool): Add EntityGrounding (needs an image encoder).
    temperature (float): Initial temperature.
    bf16 (bool): bfloat16 autocast on CUDA.
    RETURNS (ROCNetwork): The network.
    """
    description_model = relation_model or text_model
    image = ImageTokenizer(backbone, width) if backbone is not None else None
    fusion = Fusion(width, _n_heads(text_model or description_model, width), fusion_layers)
    ground = None
    if grounding and image is not None:
        word_width = width if encoder == "pooling" else text_model.get_input_embeddings().embedding_dim
        ground = EntityGrounding(word_width, width, width)
    if encoder == "pooling":
        pairs = EntityPooling(width, description_model.get_input_embeddings(), image, fusion, ground)
    else:
        pairs = PAIR_ENCODERS[encoder](text_model, image, fusion, ground)
    relations = RelationEncoder(description_model, width) if head == "retrieval" else None
    classifier = nn.Linear(width, n_labels) if head == "classifier" else None
    network = ROCNetwork(pairs, relations, classifier, temperature, bf16)
    # what rebuilds the Hugging Face models of a saved network
    network.configs = {"text": _config(text_model), "relation": _config(relation_model)}
    return network


def _config(model: Optional[nn.Module]) -> Optional[Dict[str, Any]]:
    return model.config.to_dict() if model is not None else None


def _n_heads(model: nn.Module, width: int) -> int:
    """The attention heads of the fusion layers: the text encoder's, if they divide
    the width, else heads of 64 dimensions (or one)."""
    heads = getattr(model.config, "num_attention_heads", 0) if model is not None else 0
    if heads and width % heads == 0:
        return heads
    return max(1, width // 64) if width % 64 == 0 else 1
