"""Entity grounding: where in the image the head and the tail of a pair are.

Shapes: P pairs, B sequences, L positions, T image tokens, Dw mention width, Dt
image-token width, Do pair-vector width.
"""
import math
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import Errors
from .image import Grid, token_locations


class EntityGrounding(nn.Module):
    """Each mention of a pair (its mention vector: the mean of its layer-normed input
    word embeddings, what it says without position or context) attends over the image
    patches with its own query and key projections; the attended grid locations of
    head and tail (rows and columns in [-1, 1]) and their difference are projected to
    the pair-vector width, to be added to the pair's query (the projection starts at
    zero). The locations are fixed coordinates, so only "which patch is this
    mention" has to be learnt.

    word_width (int): The width Dw of the mention vectors.
    width (int): The image-token width Dt.
    output_width (int): The pair-vector width Do.
    """

    def __init__(self, word_width: int, width: int, output_width: int):
        super().__init__()
        self.query = nn.Linear(word_width, width)
        self.key = nn.Linear(width, width)
        self.proj = nn.Linear(6, output_width)
        # starts at zero: an untrained model's query is the pretrained text's
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(
        self, head: Tensor, tail: Tensor, image: Optional[Tensor], keep: Optional[Tensor], grid: Optional[Grid]
    ) -> Tensor:
        """head, tail (P, Dw): the mention vectors (see mention_vectors); image
        (P, T, Dt) and keep (P, T) bool (pairs with an image), or None for a batch
        without images; grid: the image tokens' patch grid. RETURNS (Tensor): (P, Do)."""
        if image is None:  # found nowhere: the projection of zero locations
            return self.proj.bias.expand(head.shape[0], -1)
        if grid is None:
            raise ValueError(Errors.ROC_E033.format(n_tokens=image.shape[1]))
        locations, is_patch = token_locations(grid, head.device)  # (T, 2), (T,)
        keep = keep & is_patch.unsqueeze(0)  # (P, T)
        keys = self.key(image.to(head.dtype))  # (P, T, Dt)
        found = keep.any(dim=1, keepdim=True).to(head.dtype)  # (P, 1)
        places = []
        for mention in (head, tail):
            query = self.query(mention)  # (P, Dt)
            scores = (keys @ query.unsqueeze(-1)).squeeze(-1) / math.sqrt(keys.shape[-1])  # (P, T)
            # finite fill: a pair without image gets uniform weights (then zeroed by
            # `found`), not NaN
            attn = scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)
            places.append(attn @ locations.to(attn.dtype) * found)  # (P, 2)
        head_place, tail_place = places
        return self.proj(torch.cat([head_place, tail_place, head_place - tail_place], dim=-1))  # (P, Do)


def mention_vectors(states: Tensor, rows: Tensor, spans: Tensor) -> Tensor:
    """The mean of the layer-normed states of each mention: for entity grounding, a
    mention's input word embeddings (what it says, without position or context).

    states (Tensor): (B, L, D) per sequence. rows (Tensor): (P,) the sequence of each
        mention. spans (Tensor): (P, 2) its first and last position, inclusive.
    RETURNS (Tensor): (P, D).
    """
    normed = F.layer_norm(states, states.shape[-1:])
    totals = F.pad(normed.cumsum(dim=1), (0, 0, 1, 0))  # (B, L + 1, D), totals[:, i] = sum of the first i
    summed = totals[rows, spans[:, 1] + 1] - totals[rows, spans[:, 0]]  # (P, D)
    return summed / (spans[:, 1] - spans[:, 0] + 1).clamp(min=1).unsqueeze(-1).to(summed.dtype)
