"""The thinc shim that owns the ROC torch network, its tokenizers and preprocessing.

Like spacy-transformers' HFShim, it stores only names and settings until
``initialize``; its bytes hold the Hugging Face config and tokenizer files, the timm
name and data config, and the weights, so a saved pipeline is rebuilt with
``AutoModel.from_config`` and ``timm.create_model(pretrained=False)``, offline.
"""
import contextlib
import os
from io import BytesIO
from typing import Any, Dict, Iterator, Optional

import srsly
from thinc.api import get_torch_default_device, xp2torch
from thinc.shims import PyTorchShim

from ..encoders import HFTextEncoder, TimmImageEncoder, make_image_transform
from ..markers import HEAD_MARKERS, TAIL_MARKERS, PairTokenizer


def _single_torch_thread_in_child() -> None:
    """A forked worker (`nlp.pipe(n_process=...)`) inherits the parent's OpenMP
    state but not its threads, and torch's first parallel region then hangs. Run
    torch single-threaded in forked children; they parallelise across processes."""
    import torch

    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_single_torch_thread_in_child)


def _count_image_tokens(image_model: Any, data_config: Dict[str, Any]) -> int:
    """Image tokens per image at the data config's input size; stored in the config at
    initialize, so a saved pipeline is rebuilt without a dry run."""
    from .network import count_image_tokens

    return count_image_tokens(image_model, tuple(data_config["input_size"]))


def _assign(params: Dict[str, Any], values: Dict[str, Any]) -> None:
    """Copy values into torch parameters in place, by parameter name."""
    import torch

    with torch.no_grad():
        for name, param in params.items():
            param.copy_(values[name])


class ROCShim(PyTorchShim):
    """PyTorchShim over a ROCNetwork (None until initialized).

    cfg (Dict[str, Any]): Network settings (head, widths, fusion, scale, ...).
    """

    def __init__(self, cfg: Dict[str, Any]):
        super().__init__(None, config=dict(cfg))
        self.encoders: Dict[str, Any] = {}
        self.pair_tokenizer: Optional[PairTokenizer] = None
        self.desc_tokenizer: Any = None
        self.image_transform: Any = None
        self.desc_cache: Dict[object, Dict[str, Any]] = {}

    @property
    def network(self) -> Any:
        return self._model

    def load_pretrained(
        self,
        text: HFTextEncoder,
        image: Optional[TimmImageEncoder],
        relation: Optional[HFTextEncoder],
        n_labels: int,
    ) -> None:
        """Load the encoders (hub name or local files) and build the network."""
        text_tok, text_model = text.load()
        state: Dict[str, Any] = {"text": text.save_state(text_tok, text_model)}
        parts: Dict[str, Any] = {"text": (text_tok, text_model), "relation": None, "image": None}
        if relation is not None:
            parts["relation"] = relation.load()
            state["relation"] = relation.save_state(*parts["relation"])
        if image is not None:
            parts["image"] = image.load()
            state["image"] = image.save_state(*parts["image"])
            if self.cfg.get("image_positions"):
                self.cfg["n_image_positions"] = _count_image_tokens(*parts["image"])
        self.cfg["n_labels"] = n_labels
        self._assemble(state, parts)

    def _assemble(self, state: Dict[str, Any], parts: Dict[str, Any]) -> None:
        from .builder import build_network

        self.encoders = state
        text_tok, text_model = parts["text"]
        rel = parts["relation"]
        image_model, data_config = parts["image"] if parts["image"] else (None, None)
        self.pair_tokenizer = PairTokenizer(
            text_tok,
            self.cfg["max_length"],
            self.cfg.get("head_markers", HEAD_MARKERS),  # pipelines saved before the option
            self.cfg.get("tail_markers", TAIL_MARKERS),
        )
        self.desc_tokenizer = rel[0] if rel else text_tok
        self.image_transform = make_image_transform(data_config) if data_config else None
        rel_model = rel[1] if rel else None
        network = build_network(self.cfg, text_model, image_model, rel_model)
        self._model = network.to(get_torch_default_device())
        self.desc_cache.clear()

    def finish_update(self, optimizer: Any) -> None:
        super().finish_update(optimizer)
        self._model.clear_cache()

    @contextlib.contextmanager
    def use_params(self, params: Dict[Any, Any]) -> Iterator[None]:
        """Use other values of the network's parameters inside the context, e.g. the
        optimizer's averages (`use_averages = true`), which `spacy train` evaluates
        and saves. The optimizer keys each parameter by (shim id, parameter name).
        PyTorchShim.use_params looks for "pytorch_{id}_{name}" keys instead, so it
        never finds them and would leave the weights as they are.

        params (Dict[Any, Any]): Parameter arrays by (shim id, parameter name).
        """
        if self._model is None:
            yield
            return
        swap = {name: param for name, param in self._model.named_parameters() if (self.id, name) in params}
        if not swap:
            with super().use_params(params):
                yield
            return
        given = {name: xp2torch(params[(self.id, name)], device=param.device) for name, param in swap.items()}
        backup = {name: param.detach().clone() for name, param in swap.items()}
        _assign(swap, given)
        self._model.clear_cache()
        try:
            yield
        finally:
            _assign(swap, backup)
            self._model.clear_cache()

    def to_bytes(self) -> bytes:
        if self._model is None:
            return srsly.msgpack_dumps({"config": self.cfg, "initialized": False})
        import torch

        buffer = BytesIO()
        torch.save(self._model.state_dict(), buffer)
        msg = {"config": self.cfg, "initialized": True, "encoders": self.encoders, "state": buffer.getvalue()}
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> "ROCShim":
        import torch

        msg = srsly.msgpack_loads(bytes_data)
        self.cfg = msg["config"]
        if not msg["initialized"]:
            return self
        state = msg["encoders"]
        parts = {
            "text": HFTextEncoder.from_saved(state["text"]),
            "relation": HFTextEncoder.from_saved(state["relation"]) if "relation" in state else None,
            "image": TimmImageEncoder.from_saved(state["image"]) if "image" in state else None,
        }
        self._assemble(state, parts)
        device = get_torch_default_device()
        weights = torch.load(BytesIO(msg["state"]), map_location=device, weights_only=True)
        self._model.load_state_dict(weights)
        self._grad_scaler.to_(device)
        return self
