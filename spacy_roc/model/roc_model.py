"""The thinc layer of ROC: `spacy_roc.ROCModel.v1`.

Model[RelationBatch, Floats2d]: docs with their candidate pairs, images and relation
set go in; logits (n_pairs, n_relations) come out.

- The torch network (`spacy_roc.layers.network.ROCNetwork`) is wrapped with thinc's
  `PyTorchWrapper_v3`. Its `convert_inputs` builds the tensors (through the pair
  encoder, `pair_encoders.py`); its `serialize_model` / `deserialize_model` store the
  Hugging Face configs, the timm name and kwargs, and the weights, so a saved
  pipeline is rebuilt offline.
- The tokenizers and the image transform (`Preprocessor`) are `attrs["inputs"]` of
  the wrapper, set in `init` and saved with the model (tokenizer files, timm data
  config) through thinc's `serialize_attr`.
- With a shared spaCy transformer, the text encoder is its listener (a thinc layer
  before the wrapper): its token states are the wrapper's input, and their gradient
  goes back to the transformer.
- Nothing is loaded at construction; `init` loads the pretrained encoders.
- At inference the pairs are scored in chunks of at most `max_pairs_per_batch`,
  against relation prototypes cached per relation set (`attrs["prototypes"]`);
  whoever changes the weights clears them (`clear_prototypes`).
"""
import contextlib
import os
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import srsly
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, get_torch_default_device, torch2xp, xp2torch
from thinc.types import Floats2d

from .encoders import EntityGroundingLayer, HFTextEncoder, TimmImageEncoder, hf_model_from_config, timm_model_from_saved
from ..errors import Errors, Warnings, warn
from ..inputs import RelationBatch, RelationSet
from .pair_encoders import EntityPoolingLayer, FlatPairs, PairEncoderLayer, Unit
from .featurize import Preprocessor

HEADS = ("retrieval", "classifier")


def _single_torch_thread_in_child() -> None:
    """A forked worker (`nlp.pipe(n_process=...)`) inherits the parent's OpenMP
    state but not its threads, and torch's first parallel region then hangs. Run
    torch single-threaded in forked children; they parallelise across processes."""
    import torch

    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_single_torch_thread_in_child)


@dataclass(frozen=True)
class NetworkSpec:
    """What builds the torch network: the settings of `spacy_roc.ROCModel.v1` (the
    one copy of them) and its sub-layers. `text_encoder` is None with a shared
    transformer (the listener gives the token states)."""

    pair_encoder: PairEncoderLayer
    text_encoder: Optional[HFTextEncoder]
    image_encoder: Optional[TimmImageEncoder]
    relation_encoder: Optional[HFTextEncoder]
    grounding: bool
    head: str
    fusion_layers: int
    temperature: float
    bf16: bool


@registry.architectures("spacy_roc.ROCModel.v1")
def build_roc_model(
    text_encoder: Union[HFTextEncoder, Model],
    pair_encoder: PairEncoderLayer,
    image_encoder: Optional[TimmImageEncoder] = None,
    relation_encoder: Optional[HFTextEncoder] = None,
    grounding: Optional[EntityGroundingLayer] = None,
    head: str = "retrieval",
    fusion_layers: int = 2,
    temperature: float = 0.05,
    bf16: bool = True,
    max_pairs_per_batch: int = 256,
    sample_descriptions: bool = True,
) -> Model[RelationBatch, Floats2d]:
    """Build the ROC model from its sub-layers. Nothing is downloaded here.

    text_encoder (Union[HFTextEncoder, Model]): Encoder of the pair texts
        (spacy_roc.HFTextEncoder.v1), or the listener of a shared spaCy transformer
        (spacy-transformers.TransformerListener.v1, with spacy_roc.EntityPooling.v1).
    pair_encoder (PairEncoderLayer): How a pair's text reaches the fusion layers:
        spacy_roc.InlineMarkers.v1 (one pass per pair), spacy_roc.LevitatedMarkers.v1
        (one pass per doc) or spacy_roc.EntityPooling.v1 (a shared transformer).
    image_encoder (Optional[TimmImageEncoder]): Image encoder, or None (text-only).
    relation_encoder (Optional[HFTextEncoder]): Separate description encoder, or None
        to share the text encoder (required with a shared transformer).
    grounding (Optional[EntityGroundingLayer]): Entity grounding
        (spacy_roc.EntityGrounding.v1), or None. Needs an image encoder.
    head (str): "retrieval" (ROC) or "classifier" (the ablation).
    fusion_layers (int): Transformer layers over [text ; image]; 0: the image is not
        used (ROC_W006 if an image encoder is given).
    temperature (float): Initial temperature; the learnt scale starts at 1 / temperature.
    bf16 (bool): bfloat16 autocast on CUDA (ignored on CPU).
    max_pairs_per_batch (int): Pairs per forward pass at inference (bounds memory).
    sample_descriptions (bool): A training step encodes one description per
        relation, drawn at random, instead of all of them (see the README, "Memory
        and speed": on for MNRE, off for the demo).
    RETURNS (Model[RelationBatch, Floats2d]): Logits per pair and relation.
    """
    if head not in HEADS:
        raise ValueError(Errors.ROC_E017.format(value=head))
    listener = text_encoder if isinstance(text_encoder, Model) else None
    if (listener is not None) != isinstance(pair_encoder, EntityPoolingLayer) or (listener and not relation_encoder):
        raise ValueError(Errors.ROC_E037.format(encoder=type(pair_encoder).__name__))
    if image_encoder is not None and fusion_layers <= 0:
        warn(Warnings.ROC_W006)
        image_encoder = None
    if grounding is not None and image_encoder is None:
        raise ValueError(Errors.ROC_E035)
    spec = NetworkSpec(
        pair_encoder, None if listener else text_encoder, image_encoder, relation_encoder,
        grounding is not None, head, max(0, fusion_layers), temperature, bf16,
    )
    network = PyTorchWrapper_v3(
        None,
        convert_inputs=convert_inputs,
        convert_outputs=convert_outputs,
        serialize_model=partial(serialize_network, spec),
        deserialize_model=partial(deserialize_network, spec),
    )
    network.attrs.update(
        {"inputs": Preprocessor(), "dropout_rate": 0.0, "pair_encoder": pair_encoder, "sample": sample_descriptions}
    )
    attrs = {
        "spec": spec,
        "head": head,
        "uses_images": image_encoder is not None,
        "max_pairs_per_batch": max_pairs_per_batch,
        "prototypes": PrototypeCache(),
    }
    layers = [listener, network] if listener is not None else [network]
    refs = {"network": network, "listener": listener}
    return Model("roc_model", forward, init=init, layers=layers, refs=refs, attrs=attrs)


def init(model: Model, X: Optional[RelationBatch] = None, Y: Any = None) -> None:
    """Load the pretrained encoders and build the network. The number of labels (the
    classifier's outputs) comes from the sample batch X."""
    from ..layers.network import build_network

    spec: NetworkSpec = model.attrs["spec"]
    text_tokenizer, text_model, width, max_length = None, None, _listener_width(model), 0
    if spec.text_encoder is not None:
        text_tokenizer, text_model = spec.text_encoder.load()
        width, max_length = text_model.config.hidden_size, spec.text_encoder.max_length
    desc_tokenizer, relation_model = text_tokenizer, None
    if spec.relation_encoder is not None:
        desc_tokenizer, relation_model = spec.relation_encoder.load()
    backbone, data_config = spec.image_encoder.load() if spec.image_encoder is not None else (None, None)
    n_labels = len(X.relations) if X is not None else 0
    settings = _network_settings(spec, width)
    network = build_network(spec.pair_encoder.kind, text_model, backbone, relation_model, n_labels=n_labels, **settings)
    wrapper = model.get_ref("network")
    wrapper.shims[0]._model = network.to(get_torch_default_device())
    desc_max_length = (spec.relation_encoder or spec.text_encoder).max_length
    wrapper.attrs["inputs"] = Preprocessor(text_tokenizer, max_length, desc_tokenizer, desc_max_length, data_config)
    clear_prototypes(model)


def _listener_width(model: Model) -> int:
    """The width of the shared transformer's token states (0 without one); its
    listener knows it once the transformer component is initialized."""
    listener = _listener(model)
    if listener is None:
        return 0
    for node in listener.walk():
        if node.has_dim("nO"):
            return node.get_dim("nO")
    raise ValueError(Errors.ROC_E038)


def _listener(model: Model) -> Optional[Model]:
    """The shared transformer's listener, or None."""
    return model.get_ref("listener") if model.has_ref("listener") else None


def is_initialized(model: Model) -> bool:
    """Whether the model's encoders are loaded (by init, or from a saved pipeline)."""
    return model.get_ref("network").attrs["inputs"].loaded


def get_network(model: Model) -> Any:
    """The torch network (spacy_roc.layers.network.ROCNetwork), or None before init."""
    return model.get_ref("network").shims[0]._model


@dataclass
class Chunk:
    """Input of the wrapped network: units of a batch's pairs, the batch's
    transformed images, the shared transformer's token states (or None), and the
    relations: their descriptions are encoded (training) unless their prototypes are
    given (inference) or the head is a classifier."""

    batch: RelationBatch
    pairs: FlatPairs
    units: List[Unit]
    pixels: Any
    states: Optional[List[Floats2d]]
    retrieval: bool
    prototypes: Any = None


def forward(model: Model, batch: RelationBatch, is_train: bool) -> Tuple[Floats2d, Callable]:
    if not is_initialized(model):
        raise ValueError(Errors.ROC_E001)
    network, listener = model.get_ref("network"), _listener(model)
    pairs = batch.flat_pairs()
    if not pairs:
        return model.ops.alloc2f(0, len(batch.relations)), lambda d_logits: batch
    prep: Preprocessor = network.attrs["inputs"]
    states, backprop_states = listener(batch.docs, is_train) if listener is not None else (None, None)
    units = model.attrs["spec"].pair_encoder.plan(prep, batch, pairs)
    pixels = prep.pixels(batch.images)
    retrieval = model.attrs["head"] == "retrieval"
    # at inference, the cached prototypes; in training, encoded with gradients
    prototypes = _prototypes(model, batch.relations) if retrieval and not is_train else None
    if is_train:
        logits, backprop_network = network(Chunk(batch, pairs, units, pixels, states, retrieval, prototypes), is_train=True)

        def backprop(d_logits: Floats2d) -> RelationBatch:
            d_states = backprop_network(d_logits)
            if backprop_states is not None:
                backprop_states(d_states)
            return batch

        return logits, backprop
    chunks = [Chunk(batch, pairs, part, pixels, states, retrieval, prototypes) for part in _chunks(units, model.attrs["max_pairs_per_batch"])]
    logits = model.ops.xp.concatenate([network.predict(chunk) for chunk in chunks], axis=0)
    return logits, lambda d_logits: batch


def _chunks(units: List[Unit], max_pairs: int) -> Iterator[List[Unit]]:
    """Consecutive units with at most max_pairs pairs together (at least one unit)."""
    chunk: List[Unit] = []
    for unit in units:
        if chunk and sum(u.end - u.start for u in chunk) + unit.end - unit.start > max_pairs:
            yield chunk
            chunk = []
        chunk.append(unit)
    yield chunk


def convert_inputs(model: Model, chunk: Chunk, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    """The network's keyword tensors for a chunk, on its device, and the backprop to
    the shared transformer's token states (their gradients per doc)."""
    prep: Preprocessor = model.attrs["inputs"]
    device = model.shims[0].device
    states = None
    if chunk.states is not None:
        states = [xp2torch(model.ops.asarray(s), device=device) for s in chunk.states]
    encoder = model.attrs["pair_encoder"]
    pairs, sequence_docs = encoder.tensors(prep, chunk.batch, chunk.pairs, chunk.units, states)
    pairs.update(prep.image_tensors(chunk.batch, sequence_docs, chunk.pixels))
    kwargs: Dict[str, Any] = {"pairs": _on_device(pairs, device)}
    if "states" in pairs and is_train:
        kwargs["pairs"]["states"].requires_grad_(True)
    if chunk.prototypes is not None:
        kwargs["prototypes"] = chunk.prototypes
    elif chunk.retrieval:
        sample = is_train and model.attrs["sample"]
        kwargs.update(_on_device(prep.description_tensors(chunk.batch.relations, sample=sample), device))
    kwargs["dropout"] = float(model.attrs["dropout_rate"]) if is_train else 0.0

    def backprop(d_inputs: ArgsKwargs) -> Optional[List[Floats2d]]:
        if chunk.states is None:
            return None
        grad = d_inputs.kwargs["pairs"]["states"]
        d_states = [model.ops.alloc2f(*s.shape) for s in chunk.states]
        for row, doc_i in enumerate(sequence_docs):
            d_states[doc_i] = model.ops.asarray2f(torch2xp(grad[row, : len(chunk.states[doc_i])]))
        return d_states

    return ArgsKwargs(args=(), kwargs=kwargs), backprop


def convert_outputs(model: Model, chunk_logits: Tuple[Chunk, Any], is_train: bool) -> Tuple[Floats2d, Callable]:
    """Logits as an array of the model's ops; gradients back as a torch tensor."""
    _, logits = chunk_logits

    def backprop(d_logits: Floats2d) -> ArgsKwargs:
        grad = xp2torch(d_logits, device=logits.device).to(logits.dtype)
        return ArgsKwargs(args=(logits,), kwargs={"grad_tensors": (grad,)})

    return model.ops.asarray2f(torch2xp(logits.detach().float())), backprop


class PrototypeCache:
    """The relation prototypes of one relation set and network, at inference.
    Cleared whenever the weights change (`clear_prototypes`)."""

    def __init__(self) -> None:
        self.key: Optional[Tuple[RelationSet, int]] = None
        self.value: Any = None

    def clear(self) -> None:
        self.key, self.value = None, None


def clear_prototypes(model: Model) -> None:
    """Forget the cached relation prototypes: call after the weights change."""
    model.attrs["prototypes"].clear()


def _prototypes(model: Model, relations: RelationSet) -> Any:
    """The prototypes (R, Do) of a relation set, cached."""
    import torch

    network = get_network(model)
    cache: PrototypeCache = model.attrs["prototypes"]
    key = (relations, id(network))  # a network loaded anew has other weights
    if cache.key != key:
        wrapper = model.get_ref("network")
        tensors = wrapper.attrs["inputs"].description_tensors(relations)
        was_training = network.training
        network.eval()
        with torch.no_grad():
            cache.value = network.encode_relations(**_on_device(tensors, wrapper.shims[0].device))
        network.train(was_training)
        cache.key = key
    return cache.value


def _on_device(tensors: Dict[str, Any], device: Any) -> Dict[str, Any]:
    import torch

    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tensors.items()}


@contextlib.contextmanager
def use_params(model: Model, params: Dict[Any, Any]) -> Iterator[None]:
    """Use other values of the network's weights inside the context, e.g. the
    optimizer's averages (`use_averages = true`), which `spacy train` evaluates and
    saves. thinc's optimizer keys each torch parameter by (shim id, name), but
    PyTorchShim.use_params looks for "pytorch_{id}_{name}" keys, so it would never
    find them and the weights would stay as they are.

    params (Dict[Any, Any]): Parameter arrays by (shim id, parameter name).
    """
    import torch

    shim = model.get_ref("network").shims[0]
    network = get_network(model)
    named = dict(network.named_parameters()) if network is not None else {}
    swap = {name: param for name, param in named.items() if (shim.id, name) in params}
    if not swap:
        with model.use_params(params):
            yield
        return
    backup = {name: param.detach().clone() for name, param in swap.items()}
    given = {name: xp2torch(params[(shim.id, name)], device=param.device) for name, param in swap.items()}

    def assign(values: Dict[str, Any]) -> None:
        with torch.no_grad():
            for name, param in swap.items():
                param.copy_(values[name])
        clear_prototypes(model)

    assign(given)
    try:
        yield
    finally:
        assign(backup)


def _network_settings(spec: NetworkSpec, width: int) -> Dict[str, Any]:
    return {
        "width": width,
        "head": spec.head,
        "fusion_layers": spec.fusion_layers,
        "grounding": spec.grounding,
        "temperature": spec.temperature,
        "bf16": spec.bf16,
    }


def serialize_network(spec: NetworkSpec, network: Any) -> bytes:
    """The network's bytes: the Hugging Face configs, the timm name and kwargs, the
    width, the number of labels and the weights (or that it is not initialized)."""
    if network is None:
        return srsly.msgpack_dumps({"initialized": False})
    import torch

    weights = BytesIO()
    torch.save(network.state_dict(), weights)
    pairs = network.pairs
    image = None
    if pairs.image is not None:
        image = {"name": spec.image_encoder.name, "model_kwargs": dict(spec.image_encoder.model_kwargs)}
    msg = {
        "initialized": True,
        "text": network.configs.get("text"),
        "relation": network.configs.get("relation"),
        "image": image,
        "width": pairs.pair_head.hidden.in_features // 2,
        "n_labels": network.classifier.out_features if network.classifier is not None else 0,
        "weights": weights.getvalue(),
    }
    return srsly.msgpack_dumps(msg)


def deserialize_network(spec: NetworkSpec, current: Any, data: bytes, device: Any) -> Any:
    """Rebuild the network from `serialize_network` bytes, offline."""
    msg = srsly.msgpack_loads(data)
    if not msg["initialized"]:
        return None
    import torch

    from ..layers.network import build_network

    text_model = hf_model_from_config(msg["text"]) if msg["text"] is not None else None
    relation_model = hf_model_from_config(msg["relation"]) if msg["relation"] is not None else None
    backbone = timm_model_from_saved(**msg["image"]) if msg["image"] is not None else None
    settings = _network_settings(spec, msg["width"])
    network = build_network(spec.pair_encoder.kind, text_model, backbone, relation_model, n_labels=msg["n_labels"], **settings)
    network.load_state_dict(torch.load(BytesIO(msg["weights"]), map_location=device, weights_only=True))
    return network.to(device)
