"""Objects of an image as slots beside a pair's text: what the image shows inside each
object's box, where the box is, and what the object is called.

Shapes: B sequences, O object slots, I distinct images, T image tokens, Dt width.
"""
from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from .image import Grid


class ObjectEncoder(nn.Module):
    """An object slot is the image encoder's patch tokens pooled inside its box
    (torchvision's `roi_align` over the patch grid: the image is encoded once, however
    many objects it has), projected, plus an embedding of the box (its corners and
    size), plus the mean state of its words (caption, else name) through the text
    encoder.

    width (int): The width Dt of the text states and image tokens.
    """

    def __init__(self, width: int):
        super().__init__()
        self.region = nn.Linear(width, width)
        self.box = nn.Sequential(nn.Linear(6, width), nn.GELU(), nn.Linear(width, width))
        self.norm = nn.LayerNorm(width)

    def forward(
        self,
        boxes: Tensor,
        mask: Tensor,
        words: Tensor,
        per_image: Optional[Tensor],
        image_index: Optional[Tensor],
        grid: Optional[Grid],
    ) -> Tensor:
        """boxes (B, O, 4) normalised corners and mask (B, O) bool: the objects of each
        sequence's image; words (B, O, Dt) their words' states; per_image (I, T, Dt)
        the image tokens and image_index (B,) the image of each sequence (-1: none), or
        None; grid: the tokens' patch grid. RETURNS (Tensor): (B, O, Dt)."""
        x0, y0, x1, y1 = boxes.unbind(-1)
        geometry = torch.stack([x0, y0, x1, y1, x1 - x0, y1 - y0], dim=-1)  # (B, O, 6)
        slots = words + self.box(geometry.to(words.dtype))
        if per_image is not None and grid is not None:
            slots = slots + self.region(self.pooled(boxes, mask, per_image, image_index, grid).to(words.dtype))
        return self.norm(slots) * mask.unsqueeze(-1).to(slots.dtype)

    @staticmethod
    def pooled(boxes: Tensor, mask: Tensor, per_image: Tensor, image_index: Tensor, grid: Grid) -> Tensor:
        """The patch tokens inside each box: roi_align over each image's patch grid.
        RETURNS (Tensor): (B, O, Dt); zero where a sequence has no image."""
        n_prefix, rows, cols = grid
        patches = per_image[:, n_prefix:].transpose(1, 2).reshape(per_image.shape[0], -1, rows, cols)  # (I, Dt, rows, cols)
        has_image = (image_index >= 0).unsqueeze(1) & mask  # (B, O)
        seq, slot = has_image.nonzero(as_tuple=True)
        out = boxes.new_zeros(*mask.shape, per_image.shape[-1])
        if len(seq) == 0:
            return out
        scale = boxes.new_tensor([cols, rows, cols, rows])
        regions = torch.cat([image_index[seq].unsqueeze(1).to(boxes.dtype), boxes[seq, slot] * scale], dim=1)  # (K, 5)
        pooled = roi_align(patches.float(), regions.float(), output_size=1, spatial_scale=1.0, sampling_ratio=2, aligned=True)
        out[seq, slot] = pooled.flatten(1).to(out.dtype)  # (K, Dt)
        return out
