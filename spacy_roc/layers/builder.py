"""Assemble a ROCNetwork from loaded encoders and the model settings."""
from typing import Any, Dict, Optional

from torch import nn

from ..errors import Errors, Warnings, warn
from .network import ImageTokenizer, RelationEncoder, ROCNetwork


def build_network(
    cfg: Dict[str, Any],
    text_model: nn.Module,
    image_model: Optional[nn.Module],
    relation_model: Optional[nn.Module],
) -> ROCNetwork:
    """Build the torch network. Widths come from the encoders' own configs.

    cfg (Dict[str, Any]): The model settings (see spacy_roc.ROCModel.v1).
    text_model (nn.Module): Hugging Face encoder of the marked pair text.
    image_model (Optional[nn.Module]): timm backbone, or None for text-only.
    relation_model (Optional[nn.Module]): Separate description encoder, or None to
        share the text encoder.
    RETURNS (ROCNetwork): The network.
    """
    width = text_model.config.hidden_size
    hidden_width = cfg.get("hidden_width") or width
    output_width = cfg.get("output_width") or width
    heads = cfg.get("fusion_heads") or text_model.config.num_attention_heads
    if cfg["head"] not in ("retrieval", "classifier"):
        raise ValueError(Errors.ROC_E017.format(value=cfg["head"]))
    if cfg["fusion_layers"] <= 0 and image_model is not None:
        warn(Warnings.ROC_W006)
        image_model = None
    image = None
    if image_model is not None:
        # n_image_positions: set at initialize when image_positions is on, saved in cfg
        image = ImageTokenizer(image_model, width, int(cfg.get("n_image_positions") or 0))
    relation = None
    if cfg["head"] == "retrieval":
        relation = RelationEncoder(relation_model or text_model, output_width)
    return ROCNetwork(
        text_model,
        image,
        relation,
        n_labels=int(cfg.get("n_labels") or 0),
        fusion_layers=cfg["fusion_layers"],
        fusion_heads=heads,
        hidden_width=hidden_width,
        output_width=output_width,
        dropout=cfg["dropout"],
        temperature=cfg["temperature"],
        learn_scale=cfg["learn_scale"],
        bf16=cfg["bf16"],
        pair_pooling=cfg.get("pair_pooling", "marker"),
        fusion_attention=cfg.get("fusion_attention", "full"),
        embedding_skip=bool(cfg.get("embedding_skip", False)),
        entity_grounding=bool(cfg.get("entity_grounding", False)),
    )
