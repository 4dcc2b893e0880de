"""Pair encoders: how a pair's text reaches the fusion layers, and its vectors.

Every encoder returns `PairVectors`:
- `query`: the pair's context vector. It is the mean of the text's states (the
  pretrained sentence embedding, unit length) plus a residual read from the pair's
  marker or entity states. The residual's output layer starts at zero, so an
  untrained encoder's query is exactly the pretrained sentence embedding.
- `head`, `tail`: the entities' own vectors (the mean state of each mention), for
  matching the entity types a relation's description names.

- InlineMarkers: typed markers inline, one sequence per pair (the paper's setting);
  the query pools the marked sequence, so it knows which pair is asked about.
- LevitatedMarkers: one sequence per doc window: the text, then two marker tokens per
  pair (head and tail) at the position ids of the mentions' first wordpieces (PURE /
  PL-Marker). A marker's input is the marker character's embedding plus the mean
  embedding of the entity type's wordpieces and of the mention's own wordpieces. The
  text never sees the markers; a pair's markers see the text and each other.
- EntityPooling: entity states pooled from a shared transformer's token states,
  typed with the embedded type names, fused with the image once per doc.

Shapes: P pairs, B sequences, L positions, N tokens, E entities, S entity slots, I
distinct images, T image tokens, Ty entity types, K wordpieces per type name, Dt
width, Dw word-embedding width.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .fusion import Fusion, with_image
from .grounding import EntityGrounding, mention_vectors
from .image import Grid, ImageTokenizer
from .objects import ObjectEncoder


class ImageTokens(NamedTuple):
    """tokens (B, T, Dt) and keep (B, T) per sequence, the patch grid, and the tokens
    per distinct image (I, T, Dt); Nones without images."""

    tokens: Optional[Tensor]
    keep: Optional[Tensor]
    grid: Optional[Grid]
    per_image: Optional[Tensor]


class PairVectors(NamedTuple):
    """query (P, Dt): the pair's context vector; head, tail (P, Dt): its entities'
    vectors (not normalised)."""

    query: Tensor
    head: Tensor
    tail: Tensor


def masked_mean(states: Tensor, mask: Tensor) -> Tensor:
    """states (B, L, D), mask (B, L): the mean of the kept states. RETURNS (B, D)."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def span_mean(states: Tensor, rows: Tensor, spans: Tensor) -> Tensor:
    """The mean state of each span. states (B, L, D); rows (P,) the sequence of each
    span; spans (P, 2) its first and last position, inclusive. RETURNS (P, D)."""
    totals = F.pad(states.cumsum(dim=1), (0, 0, 1, 0))  # (B, L + 1, D): sums of the first i
    summed = totals[rows, spans[:, 1] + 1] - totals[rows, spans[:, 0]]  # (P, D)
    return summed / (spans[:, 1] - spans[:, 0] + 1).clamp(min=1).unsqueeze(-1).to(summed.dtype)


def type_vectors(embed: nn.Embedding, type_ids: Tensor, type_mask: Tensor) -> Tensor:
    """The mean word embedding of each entity type name. type_ids, type_mask (Ty, K).
    RETURNS (Ty, Dw) (zero for an empty name)."""
    mask = type_mask.unsqueeze(-1).to(embed.weight.dtype)
    return (embed(type_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class ResidualHead(nn.Module):
    """What training adds to a pair's query: an MLP over the pair's head and tail
    states, whose output layer starts at zero.

    width (int): The state width Dt (also the hidden and output width).
    """

    def __init__(self, width: int):
        super().__init__()
        self.hidden = nn.Linear(2 * width, width)
        self.output = nn.Linear(width, width)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, head: Tensor, tail: Tensor, dropout: float = 0.0) -> Tensor:
        """head, tail (P, Dt). RETURNS (Tensor): (P, Dt)."""
        hidden = F.dropout(F.gelu(self.hidden(torch.cat([head, tail], dim=-1))), dropout, self.training)
        return self.output(hidden)


class PairEncoder(nn.Module):
    """What the pair encoders share: the image tokens, the fusion layers, the
    residual head and, optionally, entity grounding.

    width (int): The state width Dt.
    image (Optional[ImageTokenizer]): Image tokens, or None (text-only).
    fusion (Fusion): Layers over [states ; image]; none: the image is not used.
    grounding (Optional[EntityGrounding]): Where head and tail are in the image.
    """

    # whether `pretrained` gives the untrained vectors of the same inputs
    routes_new = True

    def __init__(self, width: int, image: Optional[ImageTokenizer], fusion: Fusion, grounding: Optional[EntityGrounding]):
        super().__init__()
        self.image = image
        self.fusion = fusion
        self.grounding = grounding
        self.residual = ResidualHead(width)

    def zero_init_outputs(self) -> List[nn.Linear]:
        """The layers that start at zero, through which training changes the query
        (the residual head, the fusion layers' branches, grounding): while they are
        zero, the encoder scores pairs as its pretrained text encoder does."""
        layers = [self.residual.output, *self.fusion.zero_init_outputs()]
        return layers + ([self.grounding.proj] if self.grounding is not None else [])

    def pretrained(self, text_model: nn.Module, **inputs: Tensor) -> PairVectors:
        """The vectors the untrained encoder gives: `text_model` (a frozen copy of the
        pretrained text encoder) over the same inputs as forward, without the layers
        that start at zero (fusion, residual, grounding). Only encoders whose
        `routes_new` is True give them."""
        raise NotImplementedError

    def images(self, pixels: Optional[Tensor], image_index: Optional[Tensor]) -> "ImageTokens":
        """Each distinct image encoded once, and given to the sequences that use it.
        pixels (I, 3, H, W) and image_index (B,) (-1: no image), or None.
        RETURNS (ImageTokens): tokens (B, T, Dt), keep (B, T) bool, the patch grid and
        the tokens per image (I, T, Dt), or Nones."""
        if pixels is None or self.image is None:
            return ImageTokens(None, None, None, None)
        per_image, grid = self.image(pixels)  # (I, T, Dt)
        tokens = per_image[image_index.clamp(min=0)]  # (B, T, Dt)
        keep = (image_index >= 0).unsqueeze(1).expand(-1, tokens.shape[1])  # (B, T)
        return ImageTokens(tokens, keep, grid, per_image)

    def fuse(self, states: Tensor, mask: Tensor, image: Optional[Tensor], keep: Optional[Tensor], dropout: float) -> Tensor:
        """states (B, N, Dt) and mask (B, N) or (B, N, N) with the image appended,
        through the fusion layers. RETURNS (Tensor): the fused states (B, N, Dt)."""
        if len(self.fusion) == 0:
            return states
        tokens, full_mask = with_image(states, mask, image, keep)
        return self.fusion(tokens, full_mask, dropout)[:, : states.shape[1]]

    def pair_vectors(
        self,
        anchor: Tensor,
        states: Tuple[Tensor, Tensor],
        entities: Tuple[Tensor, Tensor],
        dropout: float,
        mentions: Optional[Tuple[Tensor, Tensor]] = None,
        image: Optional[Tuple[Tensor, Tensor, Grid]] = None,
    ) -> PairVectors:
        """anchor (P, Dt): the pooled text of each pair; states: its head and tail
        (marker or entity) states (P, Dt); entities: the mean states of its
        mentions (P, Dt); for grounding, the mention vectors (P, Dw) and each
        pair's image tokens (P, T, Dt), keep (P, T) and the patch grid."""
        query = F.normalize(anchor.float(), dim=-1) + self.residual(*states, dropout).float()
        if self.grounding is not None:
            tokens, keep, grid = image if image is not None else (None, None, None)
            query = query + self.grounding(mentions[0], mentions[1], tokens, keep, grid).float()
        return PairVectors(query, *entities)


class InlineMarkers(PairEncoder):
    """Typed markers inline, one sequence per pair: `@ * person * Obama @ was born in
    # ^ loc ^ Hawaii #`. The query pools the fused marked text; the residual reads
    the states at the start markers. A pair of a text entity and an image object has
    one sequence per entity (the entity marked) shared by the doc's objects: each
    object is a token after the text (see ObjectEncoder) that sees the text, and its
    state stands for the object side.

    text_model (nn.Module): Hugging Face encoder.
    objects (Optional[ObjectEncoder]): The object slots (None: no object pairs).
    """

    def __init__(
        self, text_model: nn.Module, image: Optional[ImageTokenizer], fusion: Fusion, grounding: Optional[EntityGrounding],
        objects: Optional[ObjectEncoder] = None,
    ):
        super().__init__(text_model.config.hidden_size, image, fusion, grounding)
        self.text_model = text_model
        self.objects = objects

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        pair_row: Tensor,
        head_marker: Tensor,
        tail_marker: Tensor,
        head_span: Tensor,
        tail_span: Tensor,
        object_boxes: Optional[Tensor] = None,
        object_mask: Optional[Tensor] = None,
        object_text: Optional[Tensor] = None,
        object_text_ids: Optional[Tensor] = None,
        object_text_mask: Optional[Tensor] = None,
        pixels: Optional[Tensor] = None,
        image_index: Optional[Tensor] = None,
        dropout: float = 0.0,
    ) -> PairVectors:
        """input_ids, attention_mask (B, L); pair_row (P,) the sequence of each pair;
        head_marker, tail_marker (P,) the start markers' positions and head_span,
        tail_span (P, 2) the mentions' wordpieces (first, last), in the text and then
        the object slots (an object side: L + its index); object_boxes (B, O, 4),
        object_mask (B, O), object_text (B, O) into object_text_ids,
        object_text_mask (C, Lc), or None; pixels (I, 3, H, W) and image_index (B,),
        or None."""
        image = self.images(pixels, image_index)
        regions = None
        if object_boxes is None:
            states = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, Dt)
            mask = attention_mask.bool()
        else:
            states, mask, regions = self._with_objects(
                input_ids, attention_mask, object_boxes, object_mask, object_text, object_text_ids, object_text_mask, image, image_index,
            )  # (B, L + O, Dt), (B, L + O), (B, O, Dt)
        fused = self.fuse(states, mask, image.tokens, image.keep, dropout)  # (B, L + O, Dt)
        entities = (span_mean(fused, pair_row, head_span), span_mean(fused, pair_row, tail_span))
        mentions = None
        if self.grounding is not None:
            words = self.text_model.get_input_embeddings()(input_ids)  # (B, L, Dw)
            words = F.pad(words, (0, 0, 0, fused.shape[1] - words.shape[1]))  # object slots: no words
            mentions = (mention_vectors(words, pair_row, head_span), mention_vectors(words, pair_row, tail_span))
        pair_image = (image.tokens[pair_row], image.keep[pair_row], image.grid) if image.tokens is not None else None
        n_text = input_ids.shape[1]
        anchor = masked_mean(fused[:, :n_text], attention_mask)[pair_row]  # (P, Dt)
        states = (fused[pair_row, head_marker], fused[pair_row, tail_marker])
        vectors = self.pair_vectors(anchor, states, entities, dropout, mentions, pair_image)
        if regions is None:
            return vectors
        words = self.text_model.get_input_embeddings()(input_ids)  # (B, L, Dw)
        found = self._reference(words, attention_mask, regions, object_mask, pair_row, head_marker, tail_marker, head_span, tail_span)
        return vectors._replace(query=vectors.query + found)

    def _reference(
        self, words: Tensor, attention_mask: Tensor, regions: Tensor, object_mask: Tensor, pair_row: Tensor, head_marker: Tensor,
        tail_marker: Tensor, head_span: Tensor, tail_span: Tensor,
    ) -> Tensor:
        """For the pairs with an object side, which object the text side refers to
        (see ObjectReference); zero for the others. RETURNS (Tensor): (P, Dt)."""
        n_text = words.shape[1]
        tail_is_object = tail_marker >= n_text  # (P,)
        marker = torch.where(tail_is_object, head_marker, tail_marker)
        span = torch.where(tail_is_object.unsqueeze(1), head_span, tail_span)  # (P, 2)
        block = torch.stack([marker, span[:, 1] + 1], dim=1)  # its markers, mention and closing marker
        index = (torch.where(tail_is_object, tail_marker, head_marker) - n_text).clamp(min=0)
        has_object = tail_is_object | (head_marker >= n_text)
        found = self.objects.reference(
            words[pair_row], attention_mask.bool()[pair_row], block, regions[pair_row], object_mask[pair_row], index,
        )  # (P, Dt)
        return found.float() * has_object.unsqueeze(-1).float()

    def _with_objects(
        self, input_ids: Tensor, attention_mask: Tensor, object_boxes: Tensor, object_mask: Tensor, object_text: Tensor,
        object_text_ids: Tensor, object_text_mask: Tensor, image: "ImageTokens", image_index: Optional[Tensor],
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """The text encoder over the text and, after it, one token per object of the
        sequence's image (see ObjectEncoder): the text sees only the text (its states
        are those of a pass without objects), an object token sees the text and
        itself. RETURNS: the states (B, L + O, Dt), which are real (B, L + O), and the
        objects' pooled regions (B, O, Dt)."""
        embed = self.text_model.get_input_embeddings()
        words = embed(input_ids)  # (B, L, Dw)
        names = masked_mean(embed(object_text_ids), object_text_mask)[object_text]  # (B, O, Dw)
        objects, regions = self.objects(object_boxes, object_mask, names, image.per_image, image_index, image.grid)  # (B, O, Dw), (B, O, Dt)
        n_text, n_objects = input_ids.shape[1], object_boxes.shape[1]
        text_keys = attention_mask.bool().unsqueeze(1)  # (B, 1, L)
        rows_text = torch.cat([text_keys.expand(-1, n_text, -1), text_keys.new_zeros(text_keys.shape[0], n_text, n_objects)], dim=2)
        own = torch.eye(n_objects, dtype=torch.bool, device=input_ids.device).unsqueeze(0)  # (1, O, O)
        rows_objects = torch.cat([text_keys.expand(-1, n_objects, -1) & object_mask.unsqueeze(2), own.expand(text_keys.shape[0], -1, -1)], dim=2)
        mask = torch.cat([rows_text, rows_objects], dim=1)  # (B, L + O, L + O)
        limit = self.text_model.config.max_position_embeddings - 1
        positions = torch.cat([torch.arange(n_text, device=input_ids.device), torch.full((n_objects,), min(n_text, limit), device=input_ids.device)])
        states = self.text_model(
            inputs_embeds=torch.cat([words, objects.to(words.dtype)], dim=1),
            attention_mask=mask.long(),
            position_ids=positions.unsqueeze(0).expand(input_ids.shape[0], -1),
            token_type_ids=torch.zeros(input_ids.shape[0], n_text + n_objects, dtype=torch.long, device=input_ids.device),
        ).last_hidden_state  # (B, L + O, Dt)
        return states, torch.cat([attention_mask.bool(), object_mask], dim=1), regions

    def pretrained(self, text_model: nn.Module, **inputs: Tensor) -> PairVectors:
        """The marked texts through `text_model` (see PairEncoder.pretrained); an
        object side is the mean state of its words."""
        attention_mask, pair_row = inputs["attention_mask"], inputs["pair_row"]
        states = text_model(input_ids=inputs["input_ids"], attention_mask=attention_mask).last_hidden_state  # (B, L, Dt)
        anchor = masked_mean(states, attention_mask)[pair_row]  # (P, Dt)
        if inputs.get("object_boxes") is not None:
            mask = inputs["object_text_mask"]
            words = masked_mean(text_model(input_ids=inputs["object_text_ids"], attention_mask=mask).last_hidden_state, mask)
            states = torch.cat([states, words[inputs["object_text"]]], dim=1)  # (B, L + O, Dt)
        entities = (span_mean(states, pair_row, inputs["head_span"]), span_mean(states, pair_row, inputs["tail_span"]))
        return PairVectors(F.normalize(anchor.float(), dim=-1), *entities)


class LevitatedMarkers(PairEncoder):
    """One sequence per doc window for all (or as many as fit of) its pairs: the
    text, then a head and a tail marker token per pair at the position ids of the
    mentions' first wordpieces. A marker's input is the marker character's embedding
    plus the mean embedding of the entity type's and of the mention's wordpieces. The
    attention mask keeps the text from seeing any marker and lets a pair's markers see
    the text and each other. The query pools the fused text (the same for all pairs of
    a sequence); the residual reads the fused marker states.

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
        text_mask: Tensor,
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
    ) -> PairVectors:
        """input_ids, position_ids (B, L); attention_mask (B, L, L) bool; text_mask
        (B, L) the text's positions; marker_type (B, L) the type of each marker token
        (-1: text or padding); type_ids, type_mask (Ty, K) the type names'
        wordpieces; pair_row (P,) the sequence of each pair; head_marker, tail_marker
        (P,) its marker positions; head_span, tail_span (P, 2) its mentions'
        wordpieces in the text; pixels (I, 3, H, W) and image_index (B,), or None."""
        words, states = self._states(
            self.text_model, input_ids, position_ids, attention_mask, marker_type, type_ids, type_mask, pair_row,
            head_marker, tail_marker, head_span, tail_span,
        )  # (B, L, Dw), (B, L, Dt)
        image, keep, grid, _ = self.images(pixels, image_index)
        fused = self.fuse(states, attention_mask, image, keep, dropout)  # (B, L, Dt)
        anchor = masked_mean(fused, text_mask)[pair_row]  # (P, Dt)
        entities = (span_mean(fused, pair_row, head_span), span_mean(fused, pair_row, tail_span))
        mentions = None
        if self.grounding is not None:
            mentions = (mention_vectors(words, pair_row, head_span), mention_vectors(words, pair_row, tail_span))
        pair_image = (image[pair_row], keep[pair_row], grid) if image is not None else None
        states = (fused[pair_row, head_marker], fused[pair_row, tail_marker])
        return self.pair_vectors(anchor, states, entities, dropout, mentions, pair_image)

    @staticmethod
    def _states(
        text_model: nn.Module, input_ids: Tensor, position_ids: Tensor, attention_mask: Tensor, marker_type: Tensor,
        type_ids: Tensor, type_mask: Tensor, pair_row: Tensor, head_marker: Tensor, tail_marker: Tensor,
        head_span: Tensor, tail_span: Tensor,
    ) -> Tuple[Tensor, Tensor]:
        """The word embeddings (B, L, Dw) and the states (B, L, Dt) of the passes: a
        marker's input is its character's embedding plus its type's and its
        mention's mean word embeddings."""
        embed = text_model.get_input_embeddings()
        words = embed(input_ids)  # (B, L, Dw)
        typed = type_vectors(embed, type_ids, type_mask)[marker_type.clamp(min=0)]  # (B, L, Dw)
        typed = typed * (marker_type >= 0).unsqueeze(-1).to(words.dtype)
        mention = torch.zeros_like(words).index_put(
            (torch.cat([pair_row, pair_row]), torch.cat([head_marker, tail_marker])),
            span_mean(words, torch.cat([pair_row, pair_row]), torch.cat([head_span, tail_span])),
        )  # (B, L, Dw): each marker gets its mention's mean word embedding
        # token types given: a pass may be longer than the position table (its
        # markers reuse the text's positions), and BERT's default buffer is not
        states = text_model(
            inputs_embeds=words + typed + mention,
            position_ids=position_ids,
            token_type_ids=torch.zeros_like(input_ids),
            attention_mask=attention_mask.long(),
        ).last_hidden_state  # (B, L, Dt)
        return words, states

    def pretrained(self, text_model: nn.Module, **inputs: Tensor) -> PairVectors:
        """The passes through `text_model` (see PairEncoder.pretrained): the query is
        the text's mean state (the text sees no marker), the same for all pairs of a
        pass; the entities are the mean states of the mentions."""
        names = ("input_ids", "position_ids", "attention_mask", "marker_type", "type_ids", "type_mask", "pair_row")
        pair_row = inputs["pair_row"]
        _, states = self._states(
            text_model, *(inputs[name] for name in names),
            *(inputs[name] for name in ("head_marker", "tail_marker", "head_span", "tail_span")),
        )
        anchor = masked_mean(states, inputs["text_mask"])[pair_row]  # (P, Dt)
        entities = (span_mean(states, pair_row, inputs["head_span"]), span_mean(states, pair_row, inputs["tail_span"]))
        return PairVectors(F.normalize(anchor.float(), dim=-1), *entities)


class EntityPooling(PairEncoder):
    """Entity states from a shared transformer's token states (a spaCy `transformer`
    component through its listener). Each entity slot is the layer-normed mean state
    of its mention plus its type (the mean word embedding of the type name's
    wordpieces, projected). Per doc, [entities ; tokens ; image] are fused once. The
    query pools the doc's fused tokens; the residual reads the fused head and tail
    entity slots; the entity vectors are the mentions' mean token states.

    width (int): The token-state width Dt.
    type_embeddings (nn.Embedding): Word embeddings for the type names (those of the
        description encoder).

    Its token states come from the shared transformer, which trains, so it has no
    pretrained pass of its own (`routes_new` is False): new relations are scored by
    the trained model.
    """

    routes_new = False

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
    ) -> PairVectors:
        """states (B, N, Dt) and states_mask (B, N) bool: the docs' token states;
        entity_row, entity_slot (E,): each entity's doc and slot (< n_slots) in it;
        entity_span (E, 2): its first and last token; entity_type (E,) into type_ids,
        type_mask (Ty, K); head_entity, tail_entity (P,) into the entities; pixels
        (I, 3, H, W) and image_index (B,), or None."""
        types = type_vectors(self.type_embeddings, type_ids, type_mask).to(states.dtype)  # (Ty, Dw)
        pooled = span_mean(states, entity_row, entity_span)  # (E, Dt)
        normed = mention_vectors(states, entity_row, entity_span)  # (E, Dt), layer-normed
        entities = normed + self.type_proj(types)[entity_type]  # (E, Dt)
        slots = entities.new_zeros(states.shape[0], n_slots, states.shape[2])  # (B, S, Dt)
        slots = slots.index_put((entity_row, entity_slot), entities)
        slot_mask = torch.zeros(states.shape[0], n_slots, dtype=torch.bool, device=states.device)
        slot_mask[entity_row, entity_slot] = True
        image, keep, grid, _ = self.images(pixels, image_index)
        sequence = torch.cat([slots, states], dim=1)  # (B, S + N, Dt)
        fused = self.fuse(sequence, torch.cat([slot_mask, states_mask], dim=1), image, keep, dropout)
        heads, tails = entity_row[head_entity], entity_row[tail_entity]
        anchor = masked_mean(fused[:, n_slots:], states_mask)[heads]  # (P, Dt)
        pair_states = (fused[heads, entity_slot[head_entity]], fused[tails, entity_slot[tail_entity]])
        pair_entities = (pooled[head_entity], pooled[tail_entity])
        pair_image = (image[heads], keep[heads], grid) if image is not None else None
        mentions = (normed[head_entity], normed[tail_entity]) if self.grounding is not None else None
        return self.pair_vectors(anchor, pair_states, pair_entities, dropout, mentions, pair_image)
