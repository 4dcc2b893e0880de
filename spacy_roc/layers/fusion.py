"""Fusion of text (or entity and marker) tokens with image tokens.

Shapes: B sequences, N tokens, Dt width.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class FusionLayer(nn.Module):
    """A pre-LN transformer layer. The output projections of both residual branches
    start at zero, so a new layer is the identity and does not scramble a pretrained
    encoder's states before it has learnt anything. The dropout rate is given per call
    (spaCy's `drop`).

    width (int): The token width Dt.
    n_heads (int): Attention heads.
    """

    def __init__(self, width: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        nn.init.xavier_uniform_(self.qkv.weight)  # as torch's MultiheadAttention
        nn.init.zeros_(self.qkv.bias)
        for branch_out in (self.out, self.fc2):
            nn.init.zeros_(branch_out.weight)
            nn.init.zeros_(branch_out.bias)

    def forward(self, tokens: Tensor, mask: Tensor, dropout: float = 0.0) -> Tensor:
        """tokens (B, N, Dt); mask (B, N) bool, the tokens every token attends to, or
        (B, N, N) bool, which tokens (columns) each token (row) attends to.
        RETURNS (Tensor): (B, N, Dt)."""
        batch, n, width = tokens.shape
        drop = dropout if self.training else 0.0
        qkv = self.qkv(self.norm1(tokens)).view(batch, n, 3, self.n_heads, width // self.n_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, Dh)
        attn_mask = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None]  # (B, 1, 1|N, N)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=drop)
        attended = attended.transpose(1, 2).reshape(batch, n, width)  # (B, N, Dt)
        tokens = tokens + F.dropout(self.out(attended), drop, self.training)
        hidden = F.dropout(F.gelu(self.fc1(self.norm2(tokens))), drop, self.training)
        return tokens + F.dropout(self.fc2(hidden), drop, self.training)


class Fusion(nn.Module):
    """A stack of FusionLayers (none: the identity).

    width (int): The token width Dt.
    n_heads (int): Attention heads.
    n_layers (int): Layers.
    """

    def __init__(self, width: int, n_heads: int, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(FusionLayer(width, n_heads) for _ in range(n_layers))

    def forward(self, tokens: Tensor, mask: Tensor, dropout: float = 0.0) -> Tensor:
        """tokens (B, N, Dt); mask (B, N) or (B, N, N) bool. RETURNS (Tensor): (B, N, Dt)."""
        for layer in self.layers:
            tokens = layer(tokens, mask, dropout)
        return tokens

    def __len__(self) -> int:
        return len(self.layers)

    def zero_init_outputs(self) -> List[nn.Linear]:
        """The output projections of every residual branch (they start at zero)."""
        return [linear for layer in self.layers for linear in (layer.out, layer.fc2)]


def with_image(
    tokens: Tensor, mask: Tensor, image: Optional[Tensor], image_keep: Optional[Tensor]
) -> Tuple[Tensor, Tensor]:
    """Append image tokens to each sequence. tokens (B, N, Dt) and mask (B, N) or
    (B, N, N); image (B, T, Dt) and image_keep (B, T) bool, or None. Every token
    attends to the sequence's image tokens; image tokens attend to what the first
    token of the sequence attends to (the text) and to the image.
    RETURNS: tokens (B, N + T, Dt) and mask (B, N + T) or (B, N + T, N + T)."""
    if image is None:
        return tokens, mask
    tokens = torch.cat([tokens, image.to(tokens.dtype)], dim=1)
    if mask.dim() == 2:
        return tokens, torch.cat([mask, image_keep], dim=1)
    n_image = image.shape[1]
    rows = torch.cat([mask, image_keep.unsqueeze(1).expand(-1, mask.shape[1], -1)], dim=2)  # (B, N, N + T)
    image_rows = torch.cat([mask[:, :1], image_keep.unsqueeze(1)], dim=2).expand(-1, n_image, -1)  # (B, T, N + T)
    return tokens, torch.cat([rows, image_rows], dim=1)
