"""The ROC network: pair vectors (from a pair encoder, see `pairs.py`) scored against
relation vectors from a frozen label encoder, or by a classifier.

Retrieval score of a pair against a relation, with a = `type_weight`:

    (1 - 2a) cos(query, relation) + a cos(head, head types) + a cos(tail, tail types)

(RE-Matching's split into context and entity-type matching). A relation that names no
entity types takes any entity: its type terms are the pair's best type match among
the relations that name them (one scale for typed and untyped relations); when no
relation names types, the score is the context cosine. Trained and new relations
(see ROCNetwork) are two groups, each scored so within itself: adding a new relation
never changes a trained one's score. The logits are a learnt scale
times the score.

Shapes: P pairs, T label texts, Lt wordpieces per text, R relations, Dt width.
"""
import math
from typing import Dict, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .pairs import PairEncoder, PairVectors


class LabelEncoder(nn.Module):
    """Label texts (names, descriptions, aliases, entity types) as unit vectors: the
    mean of a Hugging Face encoder's states, as a sentence encoder pools them. The
    encoder is frozen: it never trains, so a relation given by description alone is
    encoded as the pretrained encoder encodes it.

    text_model (nn.Module): A Hugging Face encoder.
    """

    def __init__(self, text_model: nn.Module):
        super().__init__()
        self.text_model = text_model
        self.text_model.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "LabelEncoder":
        """Always in evaluation mode (no dropout): the encoder is frozen."""
        return super().train(False)

    def forward(self, text_ids: Tensor, text_mask: Tensor) -> Tensor:
        """text_ids, text_mask (T, Lt). RETURNS (Tensor): (T, Dt), unit length."""
        states = self.text_model(input_ids=text_ids, attention_mask=text_mask).last_hidden_state
        mask = text_mask.unsqueeze(-1).to(states.dtype)
        return F.normalize(((states * mask).sum(1) / mask.sum(1).clamp(min=1.0)).float(), dim=-1)


def group_vectors(vectors: Tensor, group: Tensor, n_groups: int) -> Tensor:
    """The normalised mean of the unit vectors (T, Dt) of each group; group (T,) the
    group of each vector. RETURNS (Tensor): (n_groups, Dt); zero for an empty group."""
    total = vectors.new_zeros(n_groups, vectors.shape[1]).index_add(0, group, vectors)
    return F.normalize(total, dim=-1)


def retrieval_scores(pairs: PairVectors, labels: Dict[str, Tensor], type_weight: float, group: Optional[Tensor] = None) -> Tensor:
    """The score of every pair against every relation (see the module docstring).
    labels: relation, head_type, tail_type (R, Dt) unit vectors and typed (R,) bool;
    group (R,) bool: the relations scored together (by one pass), whose typed ones
    give an untyped relation its type terms (None: all). RETURNS (Tensor): (P, R)."""
    context = F.normalize(pairs.query, dim=-1) @ labels["relation"].t()  # (P, R)
    typed = labels["typed"] if group is None else labels["typed"] & group  # (R,)
    if type_weight == 0.0 or not bool(typed.any()):
        return context
    head = type_match(pairs.head, labels["head_type"], typed)  # (P, R)
    tail = type_match(pairs.tail, labels["tail_type"], typed)  # (P, R)
    return (1.0 - 2.0 * type_weight) * context + type_weight * (head + tail)


def type_match(entities: Tensor, types: Tensor, typed: Tensor) -> Tensor:
    """The cosine of each pair's entity (P, Dt) with each relation's type vector
    (R, Dt). A relation that names no types takes any entity: its term is the pair's
    best match among the typed relations (typed (R,), at least one True), so typed
    and untyped relations are scored on one scale. RETURNS (Tensor): (P, R)."""
    match = F.normalize(entities.float(), dim=-1) @ types.t()  # (P, R)
    best = match.masked_fill(~typed.unsqueeze(0), float("-inf")).max(dim=1, keepdim=True).values  # (P, 1)
    return torch.where(typed.unsqueeze(0), match, best)


class ROCNetwork(nn.Module):
    """Pair vectors scored by `scale * score(pair, relation)` against every relation
    (retrieval), or by a linear classifier over the pair's query (the ablation).

    Relations flagged new (`labels["new"]`: added after training, or whose texts
    changed) are scored with the pretrained pair vectors instead: the frozen label
    encoder (the text encoder as it was before training) over the same pair input,
    without the layers training added, at the initial scale; that is, as the
    untrained network scores them. That pass runs only when new relations are
    offered, and the trained pass only when trained ones are.

    pairs (PairEncoder): InlineMarkers, LevitatedMarkers or EntityPooling.
    labels (LabelEncoder): The frozen label encoder (also the pretrained encoder of
        new relations).
    classifier (Optional[nn.Linear]): Linear head (the ablation), or None.
    type_weight (float): The weight a of each entity-type match.
    temperature (float): Initial temperature; the learnt scale starts at 1 / temperature.
    bf16 (bool): bfloat16 autocast on CUDA.
    """

    def __init__(
        self,
        pairs: PairEncoder,
        labels: LabelEncoder,
        classifier: Optional[nn.Linear],
        type_weight: float,
        temperature: float,
        bf16: bool,
    ):
        super().__init__()
        self.pairs = pairs
        self.labels = labels
        self.classifier = classifier
        self.type_weight = type_weight
        self.initial_scale = 1.0 / temperature
        # (1,): thinc's optimizers need parameters with at least one dimension
        self.log_scale = nn.Parameter(torch.full((1,), math.log(self.initial_scale)))
        self.bf16 = bf16

    def forward(self, pairs: Dict[str, Tensor], labels: Optional[Dict[str, Tensor]] = None, dropout: float = 0.0) -> Tensor:
        """Score pairs (the pair encoder's inputs) against relations (the label
        vectors, see retrieval_scores, and `new` (R,) bool; None with the classifier).
        RETURNS (Tensor): logits (P, R)."""
        if self.classifier is not None:
            with self._autocast(pairs):
                return self.classifier(self.pairs(**pairs, dropout=dropout).query)  # (P, R)
        new = labels["new"] if self.pairs.routes_new else torch.zeros_like(labels["new"])  # (R,)
        logits = None
        if not bool(new.all()):
            with self._autocast(pairs):
                vectors = self.pairs(**pairs, dropout=dropout)
            scale = self.log_scale.clamp(max=math.log(100.0)).exp()
            logits = scale * retrieval_scores(vectors, labels, self.type_weight, ~new)  # (P, R)
        if bool(new.any()):
            with torch.no_grad(), self._autocast(pairs):
                vectors = self.pairs.pretrained(self.labels.text_model, **pairs)
            untrained = self.initial_scale * retrieval_scores(vectors, labels, self.type_weight, new)  # (P, R)
            logits = untrained if logits is None else torch.where(new.unsqueeze(0), untrained, logits)
        return logits

    def encode_texts(self, text_ids: Tensor, text_mask: Tensor) -> Tensor:
        """Label texts as unit vectors (T, Dt), without gradients."""
        with torch.no_grad(), self._autocast({"text_ids": text_ids}):
            return self.labels(text_ids, text_mask)

    def _autocast(self, tensors: Dict[str, object]) -> torch.autocast:
        cuda = any(isinstance(t, Tensor) and t.is_cuda for t in tensors.values())
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16 and cuda)


def n_fusion_heads(model: nn.Module, width: int) -> int:
    """The attention heads of the fusion layers: the Hugging Face encoder's, if they
    divide the width, else heads of 64 dimensions (or one)."""
    heads = getattr(model.config, "num_attention_heads", 0)
    if heads and width % heads == 0:
        return heads
    return max(1, width // 64) if width % 64 == 0 else 1
