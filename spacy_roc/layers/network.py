"""Pure PyTorch modules of the ROC model. No spaCy or thinc imports.

Shapes: P pairs, L wordpieces per pair, I distinct images, T image tokens per image,
D descriptions, Ld wordpieces per description, R relations, Dt text width, Dv image
width, Do output width.
"""
import math
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import Errors


class ImageTokenizer(nn.Module):
    """A timm backbone whose patch tokens are projected to the text width.

    backbone (nn.Module): A timm model created with num_classes=0.
    width (int): The text width Dt.
    n_positions (int): With n_positions > 0, a learned position embedding, one
        vector per image token (T must equal n_positions), is added after the
        projection. It starts at unit scale, like the projected content, so the fusion
        layers can read where a token is from the first step. A ViT trained from
        scratch has its own position embeddings, but they start at std 0.02, far
        below the patch content, which stalls the learning of spatial relations.
        0: no extra position embedding.

    After each forward pass, `grid` holds (prefix tokens, grid rows, grid columns) of
    the tokens it returned (see token_locations), or None if they form no grid.
    """

    def __init__(self, backbone: nn.Module, width: int, n_positions: int = 0):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Linear(backbone.num_features, width)
        self.norm = nn.LayerNorm(width)
        self.modality = nn.Parameter(torch.zeros(width))
        self.positions = nn.Parameter(torch.randn(n_positions, width)) if n_positions > 0 else None
        self.grid: Optional[Tuple[int, int, int]] = None

    def forward(self, pixels: Tensor) -> Tensor:
        # pixels: (I, 3, H, W)
        feats = self.backbone.forward_features(pixels)
        self.grid = _token_grid(self.backbone, feats)
        feats = _as_tokens(feats)  # (I, T, Dv)
        # (I, T, Dv) -> (I, T, Dt)
        tokens = self.norm(self.proj(feats)) + self.modality
        if self.positions is None:
            return tokens
        if tokens.shape[1] != self.positions.shape[0]:
            raise ValueError(
                Errors.ROC_E032.format(n_tokens=tokens.shape[1], n_positions=self.positions.shape[0])
            )
        return tokens + self.positions  # (I, T, Dt)


def _as_tokens(feats: Tensor) -> Tensor:
    """Backbone features as a token sequence. RETURNS (Tensor): (I, T, Dv)."""
    if feats.dim() == 4:  # CNN feature map (I, Dv, h, w) -> (I, h*w, Dv)
        feats = feats.flatten(2).transpose(1, 2)
    return feats


def _token_grid(backbone: nn.Module, feats: Tensor) -> Optional[Tuple[int, int, int]]:
    """(prefix tokens, grid rows, grid columns) of backbone features: a CNN map's own
    shape, or a ViT's patch grid after its class/register tokens; None if the tokens
    form no grid."""
    if feats.dim() == 4:  # (I, Dv, h, w)
        return 0, feats.shape[2], feats.shape[3]
    n_prefix = int(getattr(backbone, "num_prefix_tokens", 0))
    n_patches = feats.shape[1] - n_prefix
    grid = getattr(getattr(backbone, "patch_embed", None), "grid_size", None)
    if grid is not None and grid[0] * grid[1] == n_patches:
        return n_prefix, int(grid[0]), int(grid[1])
    side = int(round(math.sqrt(n_patches)))
    return (n_prefix, side, side) if side * side == n_patches else None


def token_locations(grid: Tuple[int, int, int], device: torch.device) -> Tuple[Tensor, Tensor]:
    """Grid location of each image token, rows and columns scaled to [-1, 1] (prefix
    tokens: 0), and which tokens are patches.
    RETURNS (Tuple[Tensor, Tensor]): locations (T, 2) and is_patch (T,) bool."""
    n_prefix, rows, cols = grid
    row = torch.linspace(-1.0, 1.0, rows, device=device) if rows > 1 else torch.zeros(1, device=device)
    col = torch.linspace(-1.0, 1.0, cols, device=device) if cols > 1 else torch.zeros(1, device=device)
    patches = torch.stack(torch.meshgrid(row, col, indexing="ij"), dim=-1).reshape(rows * cols, 2)
    locations = torch.cat([patches.new_zeros(n_prefix, 2), patches])  # (T, 2)
    is_patch = torch.arange(n_prefix + rows * cols, device=device) >= n_prefix  # (T,)
    return locations, is_patch


class EntityGrounding(nn.Module):
    """Where each entity of a pair is in the image: the head and tail mentions (the
    mean of their token vectors) attend over the image patches, and the attended grid
    locations (and their difference) are projected to the pair-vector width and added
    to the pair vector. The locations are fixed coordinates, so the pair vector carries
    a spatial signal from the first step and only the mention-to-patch attention has
    to be learnt; being added after the pair MLP, the signal is not drowned by the
    text features the MLP learns first.

    word_width (int): The width Dw of the mention vectors (the text encoder's input
        word embeddings).
    width (int): The image-token width Dt.
    output_width (int): The pair-vector width Do.
    """

    def __init__(self, word_width: int, width: int, output_width: int):
        super().__init__()
        self.query = nn.Linear(word_width, width)
        self.key = nn.Linear(width, width)
        self.proj = nn.Linear(6, output_width)

    def forward(
        self, text: Tensor, head_block: Tensor, tail_block: Tensor, image: Tensor, keep: Tensor, locations: Tensor
    ) -> Tensor:
        # text: (P, L, Dw); head_block, tail_block: (P, 2); image: (P, T, Dt);
        # keep: (P, T) bool, patches of pairs with an image; locations: (T, 2)
        keys = self.key(image)  # (P, T, Dt)
        found = keep.any(dim=1, keepdim=True).to(text.dtype)  # (P, 1)
        places = []
        for block in (head_block, tail_block):
            query = self.query(_block_mean(text, block))  # (P, Dw) -> (P, Dt)
            scores = (keys @ query.unsqueeze(-1)).squeeze(-1) / math.sqrt(keys.shape[-1])  # (P, T)
            # finite fill: a pair without image gets uniform weights (then zeroed by
            # `found`), not NaN
            attn = scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)  # (P, T)
            places.append(attn @ locations.to(attn.dtype) * found)  # (P, 2)
        head, tail = places
        return self.proj(torch.cat([head, tail, head - tail], dim=-1))  # (P, Do)

    def nowhere(self, n_pairs: int) -> Tensor:
        """The vector of pairs without an image (both entities found nowhere: the
        projection of zero locations). RETURNS (Tensor): (P, Do)."""
        return self.proj.bias.expand(n_pairs, -1)


def count_image_tokens(backbone: nn.Module, input_size: Tuple[int, int, int]) -> int:
    """Number of tokens T the backbone gives for one image of input_size (C, H, W),
    from a dry run in eval mode (so batch-norm statistics are not touched)."""
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        feats = _as_tokens(backbone.forward_features(torch.zeros(1, *input_size)))
    backbone.train(was_training)
    return feats.shape[1]


class PairHead(nn.Module):
    """MLP over the fused states at the head and tail start markers (and, with
    pooling "marker_mention", the mean fused state of each marked mention).

    width (int): The fused width Dt.
    hidden_width (int): The MLP hidden width.
    output_width (int): The output width Do.
    dropout (float): Dropout rate.
    pooling (str): "marker" or "marker_mention".
    """

    def __init__(self, width: int, hidden_width: int, output_width: int, dropout: float, pooling: str = "marker"):
        super().__init__()
        self.pooling = pooling
        n_inputs = 2 if pooling == "marker" else 4
        self.mlp = nn.Sequential(
            nn.Linear(n_inputs * width, hidden_width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_width, output_width),
        )

    def forward(self, states: Tensor, head_block: Tensor, tail_block: Tensor) -> Tensor:
        # states: (P, L', Dt); head_block, tail_block: (P, 2) start/end marker positions
        rows = torch.arange(states.shape[0], device=states.device)
        parts = [states[rows, head_block[:, 0]], states[rows, tail_block[:, 0]]]
        if self.pooling == "marker_mention":
            parts += [_block_mean(states, head_block), _block_mean(states, tail_block)]
        # (P, 2 Dt) or (P, 4 Dt) -> (P, Do)
        return self.mlp(torch.cat(parts, dim=-1))


def _block_mean(states: Tensor, block: Tensor) -> Tensor:
    """Mean of states[p, start:end + 1] per row. RETURNS (Tensor): (P, Dt)."""
    positions = torch.arange(states.shape[1], device=states.device).unsqueeze(0)  # (1, L')
    mask = (positions >= block[:, :1]) & (positions <= block[:, 1:])  # (P, L')
    mask = mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class RelationEncoder(nn.Module):
    """Encodes descriptions and averages them into one prototype per relation.

    text_model (nn.Module): A Hugging Face encoder (possibly shared with the pairs).
    output_width (int): The output width Do.
    """

    def __init__(self, text_model: nn.Module, output_width: int):
        super().__init__()
        self.text_model = text_model
        self.proj = nn.Linear(text_model.config.hidden_size, output_width)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, label_ids: Tensor, n_labels: int) -> Tensor:
        # input_ids, attention_mask: (D, Ld); label_ids: (D,)
        states = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (D, Dt)
        desc = F.normalize(self.proj(pooled).float(), dim=-1)  # (D, Do)
        protos = desc.new_zeros(n_labels, desc.shape[1]).index_add(0, label_ids, desc)
        return F.normalize(protos, dim=-1)  # (R, Do)


class ROCNetwork(nn.Module):
    """Multimodal entity-pair encoder plus retrieval (or classifier) head.

    text_model (nn.Module): Hugging Face encoder for the marked text.
    image_tokenizer (Optional[ImageTokenizer]): Image patch tokens, or None (text only).
    relation_encoder (Optional[RelationEncoder]): Description encoder; None for the
        classifier head.
    n_labels (int): Number of relations (used by the classifier head only).
    fusion_layers (int): Transformer layers over [text tokens ; image tokens]. They
        start as the identity (zeroed residual outputs), so the image enters gradually.
    fusion_heads (int): Attention heads of the fusion layers.
    hidden_width (int): Pair MLP hidden width.
    output_width (int): Pair and relation vector width Do.
    dropout (float): Dropout in the fusion layers and the pair MLP.
    temperature (float): Initial softmax temperature (scale = 1 / temperature).
    learn_scale (bool): Whether the scale is learnt.
    bf16 (bool): Run under bfloat16 autocast on CUDA.
    pair_pooling (str): "marker" or "marker_mention" (see PairHead).
    fusion_attention (str): "full" self-attention over [text ; image], or "cross":
        text tokens attend only to themselves and the image tokens.
    embedding_skip (bool): Add the text encoder's embedding-layer output to its last
        hidden states, so each wordpiece's own identity reaches the fusion layers
        next to its contextual state.
    entity_grounding (bool): Add to the pair vector where the head and tail are in
        the image (see EntityGrounding). Needs an image tokenizer.
    """

    def __init__(
        self,
        text_model: nn.Module,
        image_tokenizer: Optional[ImageTokenizer],
        relation_encoder: Optional[RelationEncoder],
        n_labels: int,
        fusion_layers: int,
        fusion_heads: int,
        hidden_width: int,
        output_width: int,
        dropout: float,
        temperature: float,
        learn_scale: bool,
        bf16: bool,
        pair_pooling: str = "marker",
        fusion_attention: str = "full",
        embedding_skip: bool = False,
        entity_grounding: bool = False,
    ):
        super().__init__()
        width = text_model.config.hidden_size
        self.text_model = text_model
        self.image_tokenizer = image_tokenizer
        self.fusion = self._make_fusion(width, fusion_layers, fusion_heads, dropout)
        self.fusion_attention = fusion_attention
        self.embedding_skip = embedding_skip
        self.grounding = None
        if entity_grounding and image_tokenizer is not None:
            self.grounding = EntityGrounding(text_model.get_input_embeddings().embedding_dim, width, output_width)
        self.pair_head = PairHead(width, hidden_width, output_width, dropout, pair_pooling)
        self.relation_encoder = relation_encoder
        self.classifier = None if relation_encoder is not None else nn.Linear(output_width, n_labels)
        log_scale = torch.full((1,), math.log(1.0 / temperature))  # (1,): thinc optimizers need >= 1 dim
        self.log_scale = nn.Parameter(log_scale, requires_grad=learn_scale)
        self.bf16 = bf16
        self._prototype_cache: Dict[object, Tensor] = {}

    @staticmethod
    def _make_fusion(width: int, n_layers: int, n_heads: int, dropout: float) -> Optional[nn.Module]:
        if n_layers <= 0:
            return None
        layer = nn.TransformerEncoderLayer(
            width, n_heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # Zero the output projection of both residual branches: the new layers start
        # as the identity, so they do not scramble a pretrained text encoder's states
        # before they have learnt anything (pre-LN, so the residual stream is untouched).
        for branch_out in (layer.self_attn.out_proj, layer.linear2):
            nn.init.zeros_(branch_out.weight)
            nn.init.zeros_(branch_out.bias)
        return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def clear_cache(self) -> None:
        """Forget cached relation prototypes (after a weight update)."""
        self._prototype_cache.clear()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        head_block: Tensor,
        tail_block: Tensor,
        pixels: Optional[Tensor] = None,
        image_index: Optional[Tensor] = None,
        desc_ids: Optional[Tensor] = None,
        desc_mask: Optional[Tensor] = None,
        desc_labels: Optional[Tensor] = None,
        n_labels: int = 0,
        relation_key: Optional[object] = None,
    ) -> Tensor:
        """Score entity pairs against relations. RETURNS (Tensor): logits (P, R)."""
        use_bf16 = self.bf16 and input_ids.is_cuda
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            pairs = self.encode_pairs(input_ids, attention_mask, head_block, tail_block, pixels, image_index)
            if self.classifier is not None:
                return self.classifier(pairs).float()  # (P, R)
            protos = self.prototypes(desc_ids, desc_mask, desc_labels, n_labels, relation_key)
        pairs = F.normalize(pairs.float(), dim=-1)  # (P, Do)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        return scale * pairs @ protos.t()  # (P, R)

    def encode_pairs(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        head_block: Tensor,
        tail_block: Tensor,
        pixels: Optional[Tensor],
        image_index: Optional[Tensor],
    ) -> Tensor:
        """Encode marked texts fused with their images. RETURNS (Tensor): (P, Do)."""
        text = self._encode_text(input_ids, attention_mask)  # (P, L, Dt)
        if self.fusion is None:
            return self.pair_head(text, head_block, tail_block)
        tokens, keep, n_image = text, attention_mask.bool(), 0
        image_tokens = image_keep = None
        if pixels is not None and self.image_tokenizer is not None:
            image_tokens, image_keep = self._pair_images(pixels, image_index)
            tokens = torch.cat([text, image_tokens.to(text.dtype)], dim=1)  # (P, L + T, Dt)
            keep = torch.cat([keep, image_keep], dim=1)
            n_image = image_tokens.shape[1]
        mask = self._fusion_mask(text.shape[1], n_image, text.device)
        fused = self.fusion(tokens, mask=mask, src_key_padding_mask=~keep)
        pairs = self.pair_head(fused, head_block, tail_block)  # (P, Do)
        if self.grounding is not None:
            pairs = pairs + self._ground(input_ids, head_block, tail_block, image_tokens, image_keep)
        return pairs

    def _ground(
        self,
        input_ids: Tensor,
        head_block: Tensor,
        tail_block: Tensor,
        image_tokens: Optional[Tensor],
        image_keep: Optional[Tensor],
    ) -> Tensor:
        """Entity grounding vector; without images, that of "found nowhere". The
        mentions are read from the text encoder's (layer-normed) input word
        embeddings: what a mention says, without the position embeddings and context
        mixing that, in an encoder trained from scratch, swamp its words.
        RETURNS (Tensor): (P, Do)."""
        if image_tokens is None:
            return self.grounding.nowhere(input_ids.shape[0])
        grid = self.image_tokenizer.grid
        if grid is None:
            raise ValueError(Errors.ROC_E033.format(n_tokens=image_tokens.shape[1]))
        locations, is_patch = token_locations(grid, input_ids.device)  # (T, 2), (T,)
        words = self.text_model.get_input_embeddings()(input_ids)  # (P, L, Dw)
        text = F.layer_norm(words, words.shape[-1:])
        keep = image_keep & is_patch.unsqueeze(0)  # (P, T)
        return self.grounding(text, head_block, tail_block, image_tokens.to(text.dtype), keep, locations)

    def _encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The text encoder's last hidden states, plus (with embedding_skip) its
        embedding-layer output. RETURNS (Tensor): (P, L, Dt)."""
        out = self.text_model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.embedding_skip
        )
        if not self.embedding_skip:
            return out.last_hidden_state
        return out.last_hidden_state + out.hidden_states[0]

    def _fusion_mask(self, n_text: int, n_image: int, device: torch.device) -> Optional[Tensor]:
        """With fusion_attention "cross", text tokens attend to themselves and the image
        tokens only (the text encoder already mixed the text); image tokens attend to
        everything. RETURNS (Optional[Tensor]): (L + T, L + T) bool, True = blocked."""
        if self.fusion_attention == "full" or n_image == 0:
            return None
        size = n_text + n_image
        blocked = torch.zeros(size, size, dtype=torch.bool, device=device)
        blocked[:n_text, :n_text] = ~torch.eye(n_text, dtype=torch.bool, device=device)
        return blocked

    def _pair_images(self, pixels: Tensor, image_index: Tensor) -> Tuple[Tensor, Tensor]:
        # Each distinct image is encoded once and shared by all pairs of its doc.
        per_image = self.image_tokenizer(pixels)  # (I, T, Dt)
        has_image = image_index >= 0  # (P,)
        tokens = per_image[image_index.clamp(min=0)]  # (P, T, Dt)
        keep = has_image.unsqueeze(1).expand(-1, tokens.shape[1])  # (P, T)
        return tokens, keep

    def prototypes(
        self, desc_ids: Tensor, desc_mask: Tensor, desc_labels: Tensor, n_labels: int, key: Optional[object]
    ) -> Tensor:
        """Relation prototypes, cached at inference by `key`. RETURNS (Tensor): (R, Do)."""
        if self.training or torch.is_grad_enabled() or key is None:
            return self.relation_encoder(desc_ids, desc_mask, desc_labels, n_labels)
        if key not in self._prototype_cache:
            self._prototype_cache.clear()
            self._prototype_cache[key] = self.relation_encoder(desc_ids, desc_mask, desc_labels, n_labels)
        return self._prototype_cache[key]
