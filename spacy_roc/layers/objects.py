"""Objects of an image as slots beside a pair's text: what the image shows inside each
object's box, where the box is, and what the object is called.

Shapes: B sequences, O object slots, I distinct images, T image tokens, Dt width.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.ops import roi_align

from .image import Grid


class ObjectEncoder(nn.Module):
    """An object token is the image encoder's patch tokens pooled inside its box
    (torchvision's `roi_align` over the patch grid: the image is encoded once, however
    many objects it has), projected, plus an embedding of the box (its corners and
    size), plus the mean word embedding of its words (caption, else name): an input
    embedding of the text encoder.

    width (int): The width Dt of the image tokens.
    word_width (int): The text encoder's word-embedding width Dw.
    """

    def __init__(self, width: int, word_width: int):
        super().__init__()
        self.region = nn.Linear(width, word_width)
        self.box = nn.Sequential(nn.Linear(6, word_width), nn.GELU(), nn.Linear(word_width, word_width))
        self.norm = nn.LayerNorm(word_width)
        self.reference = ObjectReference(word_width, width, width)

    def forward(
        self,
        boxes: Tensor,
        mask: Tensor,
        words: Tensor,
        per_image: Optional[Tensor],
        image_index: Optional[Tensor],
        grid: Optional[Grid],
    ) -> Tuple[Tensor, Tensor]:
        """boxes (B, O, 4) normalised corners and mask (B, O) bool: the objects of each
        sequence's image; words (B, O, Dw) the mean word embedding of each one's words;
        per_image (I, T, Dt) the image tokens and image_index (B,) the image of each
        sequence (-1: none), or None; grid: the tokens' patch grid.
        RETURNS (Tuple[Tensor, Tensor]): the object tokens (B, O, Dw), and the pooled
        regions (B, O, Dt) (zero without image)."""
        x0, y0, x1, y1 = boxes.unbind(-1)
        geometry = torch.stack([x0, y0, x1, y1, x1 - x0, y1 - y0], dim=-1)  # (B, O, 6)
        regions = self.regions(boxes, mask, per_image, image_index, grid)  # (B, O, Dt)
        tokens = words + self.box(geometry.to(words.dtype)) + self.region(regions.to(words.dtype))
        return self.norm(tokens) * mask.unsqueeze(-1).to(tokens.dtype), regions

    def regions(self, boxes: Tensor, mask: Tensor, per_image: Optional[Tensor], image_index: Optional[Tensor], grid: Optional[Grid]) -> Tensor:
        """The pooled patch tokens of each object (zero without image; see pooled).
        RETURNS (Tensor): (B, O, Dt)."""
        if per_image is None or grid is None:
            return boxes.new_zeros(*mask.shape, self.region.in_features)
        return self.pooled(boxes, mask, per_image, image_index, grid)

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


class ObjectReference(nn.Module):
    """Which of its image's objects a text entity refers to ("Anna painted the red
    one"): the words around the entity (the layer-normed input embeddings of the text,
    weighted by exp(-distance / tau) from its start marker: what it says near it,
    without context) attend over the objects' pooled regions with their own query and
    key projections; the weight on the pair's object, and its log, are projected to
    the pair-vector width, to be added to the pair's query. The objects compete for
    the reference through the softmax. The projection does not start at zero, so that
    the query and key projections learn from the first step: an object pair has no
    pretrained score to keep (new relations score it by the pretrained pass). As entity
    grounding does for mentions, it reads words, not contextual states: with encoders
    trained from scratch, the fusion layers and the residual head did not learn which
    object a sentence names (see docs/objects.md).

    word_width (int): The width Dw of the word embeddings.
    width (int): The width Dt of the pooled regions.
    output_width (int): The pair-vector width Do.
    """

    def __init__(self, word_width: int, width: int, output_width: int):
        super().__init__()
        self.query = nn.Linear(word_width, width)
        self.key = nn.Linear(width, width)
        self.log_tau = nn.Parameter(torch.full((1,), math.log(3.0)))
        # not from zero: the query and key projections learn only through it
        self.proj = nn.Linear(2, output_width)

    def forward(self, words: Tensor, text_mask: Tensor, block: Tensor, regions: Tensor, mask: Tensor, index: Tensor) -> Tensor:
        """words (P, L, Dw) and text_mask (P, L): the text of each pair's sequence;
        block (P, 2): the first and last position of the text side's marked block
        (markers and mention), whose words are left out; regions (P, O, Dt) and mask
        (P, O): the objects of the pair's image; index (P,): the pair's object.
        RETURNS (Tensor): (P, Do)."""
        positions = torch.arange(words.shape[1], device=words.device).unsqueeze(0)  # (1, L)
        first, last = block[:, :1], block[:, 1:]
        distance = torch.maximum(first - positions, positions - last).clamp(min=0)  # (P, L): 0 inside the block
        near = -distance.to(words.dtype) / self.log_tau.exp()
        keep = text_mask & (distance > 0)
        near = near.masked_fill(~keep, torch.finfo(near.dtype).min).softmax(dim=-1)
        said = (near.unsqueeze(-1) * F.layer_norm(words, words.shape[-1:])).sum(1)  # (P, Dw)
        keys = self.key(regions.to(said.dtype))  # (P, O, Dt)
        scores = (keys @ self.query(said).unsqueeze(-1)).squeeze(-1) / math.sqrt(keys.shape[-1])  # (P, O)
        attn = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(dim=-1)
        weight = attn[torch.arange(len(index), device=index.device), index]  # (P,)
        return self.proj(torch.stack([weight, weight.clamp(min=1e-6).log()], dim=-1))  # (P, Do)
