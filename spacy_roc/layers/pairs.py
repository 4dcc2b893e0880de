"""Pair encoders: how a pair's text reaches the fusion layers, and its pair vector.

- InlineMarkers: typed markers inline, one sequence per pair (the paper's setting).
- LevitatedMarkers: one sequence per doc window: the text, then four typed marker
  tokens per pair that share the position ids of their mentions' first and last
  wordpieces (PURE / PL-Marker); the text never sees the markers, a pair's markers see
  the text and each other.
- EntityPooling: entity states pooled from a shared transformer's token states,
  typed with the embedded type names, fused with the image once per doc.

Each returns one vector per pair (P, Do). Shapes: P pairs, B sequences, L positions, N
tokens, E entities, I distinct images, T image tokens, Ty entity types, K wordpieces
per type name, Dt width, Dw word-embedding width.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .fusion import Fusion, with_image
from .grounding import EntityGrounding, mention_vectors
from .image import Grid, ImageTokenizer


class PairHead(nn.Module):
    """An MLP over the head and tail states of each pair.

    width (int): The state width Dt (also the hidden and output width).
    """

    def __init__(self, width: int):
        super().__init__()
        self.hidden = nn.Linear(2 * width, width)
        self.output = nn.Linear(width, width)

    def forward(self, head: Tensor, tail: Tensor, dropout: float = 0.0) -> Tensor:
        """head, tail (P, Dt). RETURNS (Tensor): (P, Do)."""
        hidden = F.dropout(F.gelu(self.hidden(torch.cat([head, tail], dim=-1))), dropout, self.training)
        return self.output(hidden)


class PairEncoder(nn.Module):
    """What the pair encoders share: the image tokens, the fusion layers, the pair
    MLP and, optionally, entity grounding.

    width (int): The state width Dt.
    image (Optional[ImageTokenizer]): Image tokens, or None (text-only).
    fusion (Fusion): Layers over [states ; image]; none: the image is not used.
    grounding (Optional[EntityGrounding]): Where head and tail are in the image.
    """

    def __init__(self, width: int, image: Optional[ImageTokenizer], fusion: Fusion, grounding: Optional[EntityGrounding]):
        super().__init__()
        self.image = image
        self.fusion = fusion
        self.grounding = grounding
        self.pair_head = PairHead(width)

    def images(self, pixels: Optional[Tensor], image_index: Optional[Tensor]) -> Tuple[Optional[Tensor], Optional[Tensor], Optional[Grid]]:
        """Each distinct image encoded once, and given to the sequences that use it.
        pixels (I, 3, H, W) and image_index (B,) (-1: no image), or None.
        RETURNS: tokens (B, T, Dt), keep (B, T) bool and the patch grid, or Nones."""
        if pixels is None or self.image is None:
            return None, None, None
        per_image, grid = self.image(pixels)  # (I, T, Dt)
        tokens = per_image[image_index.clamp(min=0)]  # (B, T, Dt)
        keep = (image_index >= 0).unsqueeze(1).expand(-1, tokens.shape[1])  # (B, T)
        return tokens, keep, grid

    def fuse(self, states: Tensor, mask: Tensor, image: Optional[Tensor], keep: Optional[Tensor], dropout: float) -> Tensor:
        """states (B, N, Dt) and mask (B, N) or (B, N, N) with the image appended,
        through the fusion layers. RETURNS (Tensor): (B, N + T, Dt), states first."""
        if len(self.fusion) == 0:
            return states
        tokens, full_mask = with_image(states, mask, image, keep)
        return self.fusion(tokens, full_mask, dropout)

    def pair_vectors(
        self,
        head: Tensor,
        tail: Tensor,
        dropout: float,
        mentions: Optional[Tuple[Tensor, Tensor]] = None,
        image: Optional[Tensor] = None,
        keep: Optional[Tensor] = None,
        grid: Optional[Grid] = None,
    ) -> Tensor:
        """The pair MLP over the head and tail states (P, Dt), plus grounding from
        the mention vectors (P, Dw) and each pair's image (P, T, Dt) and keep (P, T).
        RETURNS (Tensor): (P, Do)."""
        pairs = self.pair_head(head, tail, dropout)
        if self.grounding is not None:
            pairs = pairs + self.grounding(mentions[0], mentions[1], image, keep, grid)
        return pairs


class InlineMarkers(PairEncoder):
    """Typed markers inline, one sequence per pair: `@ * person * Obama @ was born in
    # ^ loc ^ Hawaii #`; the pair vector reads the fused states at the start markers.

    text_model (nn.Module): Hugging Face encoder.
    """

    def __init__(self, text_model: nn.Module, image: Optional[ImageTokenizer], fusion: Fusion, grounding: Optional[EntityGrounding]):
        super().__init__(text_model.config.hidden_size, image, fusion, grounding)
        self.text_model = text_model

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        head_block: Tensor,
        tail_block: Tensor,
        pixels: Optional[Tensor] = None,
        image_index: Optional[Tensor] = None,
        dropout: float = 0.0,
    ) -> Tensor:
        """input_ids, attention_mask (P, L); head_block, tail_block (P, 2) start and
        end marker positions; pixels (I, 3, H, W) and image_index (P,), or None.
        RETURNS (Tensor): (P, Do)."""
        text = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (P, L, Dt)
        image, keep, grid = self.images(pixels, image_index)
        fused = self.fuse(text, attention_mask.bool(), image, keep, dropout)
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        mentions = None
        if self.grounding is not None:
            words = self.text_model.get_input_embeddings()(input_ids)  # (P, L, Dw)
            mentions = (mention_vectors(words, rows, head_block), mention_vectors(words, rows, tail_block))
        head, tail = fused[rows, head_block[:, 0]], fused[rows, tail_block[:, 0]]
        return self.pair_vectors(head, tail, dropout, mentions, image, keep, grid)


class LevitatedMarkers(PairEncoder):
    """One sequence per doc window for all (or as many as fit of) its pairs: the text,
    then four marker tokens per pair (head start and end, tail start and end), each
    the marker character's embedding plus the mean embedding of the entity type's
    wordpieces, at the position ids of the mention's first and last wordpiece. The
    attention mask keeps the text from seeing any marker and lets a pair's markers see
    the text and each other. Fusion with the image runs once per sequence; the pair
    vector reads the fused states at the pair's start markers.

    text_model (nn.Module): Hugging Face encoder.
    """

    def __init__(self, text_model: nn.Module, image: Optional[ImageTokenizer], fusion: Fusion, grounding: Optional[EntityGrounding]):
        super().__init__(text_model.config.hidden_size, image, fusion, grounding)
        self.text_model = text_model

    def forward(
        self,
        input_ids: Tensor,
        position_ids: Tensor,
        attention_mask: Tensor,
        marker_type: Tensor,
        type_ids: Tensor,
        type_mask: Tensor,
        pair_row: Tensor,
        head_marker: Tensor,
        tail_marker: Tensor,
        head_span: Tensor,
        tail_span: Tensor,
        pixels: Optional[Tensor] = None,
        image_index: Optional[Tensor] = None,
        dropout: float = 0.0,
    ) -> Tensor:
        """input_ids, position_ids (B, L); attention_mask (B, L, L) bool; marker_type
        (B, L) the type of each marker token (-1: text or padding); type_ids,
        type_mask (Ty, K) the type names' wordpieces; pair_row (P,) the sequence of
        each pair; head_marker, tail_marker (P,) the positions of its start markers;
        head_span, tail_span (P, 2) its mentions' wordpieces in the text; pixels
        (I, 3, H, W) and image_index (B,), or None. RETURNS (Tensor): (P, Do)."""
        embed = self.text_model.get_input_embeddings()
        words = embed(input_ids)  # (B, L, Dw)
        type_mask = type_mask.unsqueeze(-1).to(words.dtype)
        types = (embed(type_ids) * type_mask).sum(1) / type_mask.sum(1).clamp(min=1.0)  # (Ty, Dw)
        typed = types[marker_type.clamp(min=0)] * (marker_type >= 0).unsqueeze(-1).to(words.dtype)  # (B, L, Dw)
        # token types given: a pass may be longer than the position table (its
        # markers reuse the text's positions), and BERT's default buffer is not
        states = self.text_model(
            inputs_embeds=words + typed,
            position_ids=position_ids,
            token_type_ids=torch.zeros_like(input_ids),
            attention_mask=attention_mask.long(),
        ).last_hidden_state  # (B, L, Dt)
        image, keep, grid = self.images(pixels, image_index)
        fused = self.fuse(states, attention_mask, image, keep, dropout)
        mentions = None
        if self.grounding is not None:
            mentions = (mention_vectors(words, pair_row, head_span), mention_vectors(words, pair_row, tail_span))
        pair_image = image[pair_row] if image is not None else None
        pair_keep = keep[pair_row] if keep is not None else None
        head, tail = fused[pair_row, head_marker], fused[pair_row, tail_marker]
        return self.pair_vectors(head, tail, dropout, mentions, pair_image, pair_keep, grid)


class EntityPooling(PairEncoder):
    """Entity states from a shared transformer's token states (a spaCy
    `transformer` component through its listener): the mean state of each mention
    plus its type (the mean word embedding of the type name's wordpieces, projected).
    Per doc, [entities ; tokens ; image] are fused once; the pair vector reads the
    fused head and tail entity states.

    width (int): The token-state width Dt.
    type_embeddings (nn.Embedding): Word embeddings for the type names (those of the
        description encoder).
    """

    def __init__(
        self,
        width: int,
        type_embeddings: nn.Embedding,
        image: Optional[ImageTokenizer],
        fusion: Fusion,
        grounding: Optional[EntityGrounding],
    ):
        super().__init__(width, image, fusion, grounding)
        self.type_embeddings = type_embeddings
        self.type_proj = nn.Linear(type_embeddings.embedding_dim, width)

    def forward(
        self,
        states: Tensor,
        states_mask: Tensor,
        entity_row: Tensor,
        entity_slot: Tensor,
        entity_span: Tensor,
        entity_type: Tensor,
        type_ids: Tensor,
        type_mask: Tensor,
        head_entity: Tensor,
        tail_entity: Tensor,
        n_slots: int,
        pixels: Optional[Tensor] = None,
        image_index: Optional[Tensor] = None,
        dropout: float = 0.0,
    ) -> Tensor:
        """states (B, N, Dt) and states_mask (B, N) bool: the docs' token states;
        entity_row, entity_slot (E,): each entity's doc and slot (< n_slots) in it;
        entity_span (E, 2): its first and last token; entity_type (E,) into type_ids,
        type_mask (Ty, K); head_entity, tail_entity (P,) into the entities; pixels
        (I, 3, H, W) and image_index (B,), or None. RETURNS (Tensor): (P, Do)."""
        type_mask = type_mask.unsqueeze(-1).to(states.dtype)
        types = (self.type_embeddings(type_ids) * type_mask).sum(1) / type_mask.sum(1).clamp(min=1.0)  # (Ty, Dw)
        pooled = mention_vectors(states, entity_row, entity_span)  # (E, Dt), layer-normed mean
        entities = pooled + self.type_proj(types)[entity_type]  # (E, Dt)
        slots = entities.new_zeros(states.shape[0], n_slots, states.shape[2])  # (B, S, Dt)
        slots = slots.index_put((entity_row, entity_slot), entities)
        slot_mask = torch.zeros(states.shape[0], n_slots, dtype=torch.bool, device=states.device)
        slot_mask[entity_row, entity_slot] = True
        image, keep, grid = self.images(pixels, image_index)
        sequence = torch.cat([slots, states], dim=1)  # (B, S + N, Dt)
        fused = self.fuse(sequence, torch.cat([slot_mask, states_mask], dim=1), image, keep, dropout)
        heads, tails = entity_row[head_entity], entity_row[tail_entity]
        head, tail = fused[heads, entity_slot[head_entity]], fused[tails, entity_slot[tail_entity]]
        mentions = (pooled[head_entity], pooled[tail_entity]) if self.grounding is not None else None
        pair_image = image[heads] if image is not None else None
        pair_keep = keep[heads] if keep is not None else None
        return self.pair_vectors(head, tail, dropout, mentions, pair_image, pair_keep, grid)
