"""Image tokens: a timm backbone's features as tokens of the text width.

Shapes: I images, T tokens per image, Dv backbone width, Dt text width.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

# (prefix tokens, grid rows, grid columns) of an image's tokens
Grid = Tuple[int, int, int]


class ImageTokenizer(nn.Module):
    """A timm backbone (created with num_classes=0) whose tokens are projected to the
    text width, normalised and tagged with a learned modality vector.

    backbone (nn.Module): The timm model.
    width (int): The text width Dt.
    """

    def __init__(self, backbone: nn.Module, width: int):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Linear(backbone.num_features, width)
        self.norm = nn.LayerNorm(width)
        self.modality = nn.Parameter(torch.zeros(width))

    def forward(self, pixels: Tensor) -> Tuple[Tensor, Optional[Grid]]:
        """pixels (I, 3, H, W). RETURNS: tokens (I, T, Dt), and the patch grid of
        the tokens (None if they form no grid)."""
        feats = self.backbone.forward_features(pixels)
        grid = token_grid(self.backbone, feats)
        if feats.dim() == 4:  # a CNN feature map (I, Dv, h, w) -> (I, h*w, Dv)
            feats = feats.flatten(2).transpose(1, 2)
        return self.norm(self.proj(feats)) + self.modality, grid


def token_grid(backbone: nn.Module, feats: Tensor) -> Optional[Grid]:
    """(prefix tokens, rows, columns) of backbone features: a CNN map's own shape, or
    a ViT's patch grid after its class/register tokens; None if they form no grid.

    feats (Tensor): (I, Dv, h, w) or (I, T, Dv).
    """
    if feats.dim() == 4:
        return 0, feats.shape[2], feats.shape[3]
    n_prefix = int(getattr(backbone, "num_prefix_tokens", 0))
    n_patches = feats.shape[1] - n_prefix
    grid = getattr(getattr(backbone, "patch_embed", None), "grid_size", None)
    if grid is not None and grid[0] * grid[1] == n_patches:
        return n_prefix, int(grid[0]), int(grid[1])
    side = int(round(math.sqrt(n_patches)))
    return (n_prefix, side, side) if side * side == n_patches else None


def token_locations(grid: Grid, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Grid location of each image token, rows and columns scaled to [-1, 1] (prefix
    tokens: 0), and which tokens are patches.

    RETURNS (Tuple[Tensor, Tensor]): locations (T, 2) and is_patch (T,) bool.
    """
    n_prefix, rows, cols = grid
    row = torch.linspace(-1.0, 1.0, rows, device=device) if rows > 1 else torch.zeros(1, device=device)
    col = torch.linspace(-1.0, 1.0, cols, device=device) if cols > 1 else torch.zeros(1, device=device)
    patches = torch.stack(torch.meshgrid(row, col, indexing="ij"), dim=-1).reshape(rows * cols, 2)
    locations = torch.cat([patches.new_zeros(n_prefix, 2), patches])  # (T, 2)
    is_patch = torch.arange(n_prefix + rows * cols, device=device) >= n_prefix  # (T,)
    return locations, is_patch
