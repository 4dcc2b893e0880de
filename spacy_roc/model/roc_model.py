"""The thinc layer of ROC: `spacy_roc.ROCModel.v2`.

Model[RelationBatch, Floats2d]: docs with their candidate pairs, images and relation
set go in; logits (n_pairs, n_relations) come out.

    [listener] -> featurizer -> network (a PyTorchWrapper_v3, see shim.py)

- The featurizer (`featurize.py`) turns the batch into the pair encoder's typed
  arrays; the wrapper's `convert_inputs` only moves them to torch and to the device.
- The network (`spacy_roc.layers.network.ROCNetwork`), wrapped by `shim.py` (thinc's
  PyTorchWrapper_v3 with an optimizer step in place), holds the pair encoder and the
  frozen label encoder; it carries its Hugging Face tokenizers and timm data config,
  and `serialize_network` saves each Hugging Face model with its tokenizer, the timm
  name, kwargs and data config, and the weights, so a saved pipeline is rebuilt
  offline.
- With a shared spaCy transformer, the text encoder is its listener: its token states
  are the featurizer's input, and their gradient goes back to the transformer.
- The relations' label vectors come from the frozen label encoder; they are cached per
  relation set (`attrs["labels"]`), since training never changes them. Relations new
  to the model are scored by the network's pretrained pass (see ROCNetwork).
- Nothing is loaded at construction; `init` loads the pretrained encoders.
"""
import contextlib
import copy
import os
import random
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from functools import partial
from io import BytesIO
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, get_torch_default_device, torch2xp, xp2torch
from thinc.types import Floats2d

from ..errors import Errors, Warnings, warn
from ..inputs import RelationBatch, RelationSet
from .encoders import EntityGroundingLayer, HFTextEncoder, TimmImageEncoder, hf_from_msg, hf_to_msg, make_image_transform, timm_model_from_saved
from .featurize import Features, Inputs, LabelArrays, build_featurizer, label_arrays
from .markers import PairTokenizer, type_name
from .pair_encoders import ModuleParts, PairEncoder
from .shim import torch_wrapper

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
    """What builds the torch network: the settings of `spacy_roc.ROCModel.v2` (the
    one copy of them) and its sub-layers. `text_encoder` is None with a shared
    transformer (the listener gives the token states)."""

    pair_encoder: PairEncoder
    text_encoder: Optional[HFTextEncoder]
    image_encoder: Optional[TimmImageEncoder]
    relation_encoder: Optional[HFTextEncoder]
    grounding: bool
    head: str
    fusion_layers: int
    type_weight: float
    temperature: float
    bf16: bool

    @property
    def label_max_length(self) -> int:
        return (self.relation_encoder or self.text_encoder).max_length


@registry.architectures("spacy_roc.ROCModel.v2")
def build_roc_model(
    text_encoder: Union[HFTextEncoder, Model],
    pair_encoder: PairEncoder,
    image_encoder: Optional[TimmImageEncoder] = None,
    relation_encoder: Optional[HFTextEncoder] = None,
    grounding: Optional[EntityGroundingLayer] = None,
    head: str = "retrieval",
    fusion_layers: int = 2,
    type_weight: float = 0.2,
    temperature: float = 0.05,
    bf16: bool = True,
    max_pairs_per_batch: int = 256,
    sample_descriptions: bool = True,
) -> Model[RelationBatch, Floats2d]:
    """Build the ROC model from its sub-layers. Nothing is downloaded here.

    text_encoder (Union[HFTextEncoder, Model]): Encoder of the pair texts
        (spacy_roc.HFTextEncoder.v1), or the listener of a shared spaCy transformer
        (spacy-transformers.TransformerListener.v1, with spacy_roc.EntityPooling.v1).
    pair_encoder (PairEncoder): How a pair's text reaches the fusion layers:
        spacy_roc.InlineMarkers.v1 (one pass per pair), spacy_roc.LevitatedMarkers.v2
        (one pass per doc) or spacy_roc.EntityPooling.v1 (a shared transformer).
    image_encoder (Optional[TimmImageEncoder]): Image encoder, or None (text-only).
    relation_encoder (Optional[HFTextEncoder]): The frozen encoder of the label
        texts; None: a frozen copy of the text encoder as it is before training
        (required with a shared transformer: name its model).
    grounding (Optional[EntityGroundingLayer]): Entity grounding
        (spacy_roc.EntityGrounding.v1), or None. Needs an image encoder.
    head (str): "retrieval" (ROC) or "classifier" (the ablation).
    fusion_layers (int): Transformer layers over [text ; image]; 0: the image is not
        used (ROC_W006 if an image encoder is given).
    type_weight (float): The weight a of each entity-type match: a pair's score is
        (1 - 2a) context + a head type + a tail type (see the README).
    temperature (float): Initial temperature; the learnt scale starts at 1 / temperature.
    bf16 (bool): bfloat16 autocast on CUDA (ignored on CPU).
    max_pairs_per_batch (int): Pairs per forward pass (bounds memory; the component
        splits training batches by it too).
    sample_descriptions (bool): A training step matches each relation by one of its
        texts (name, description, alias), drawn at random, instead of their mean.
    RETURNS (Model[RelationBatch, Floats2d]): Logits per pair and relation.
    """
    if head not in HEADS:
        raise ValueError(Errors.ROC_E017.format(value=head))
    if not 0.0 <= type_weight < 0.5:
        raise ValueError(Errors.ROC_E041.format(value=type_weight))
    listener = text_encoder if isinstance(text_encoder, Model) else None
    if (listener is not None) != pair_encoder.uses_listener or (listener and not relation_encoder):
        raise ValueError(Errors.ROC_E037.format(encoder=type(pair_encoder).__name__))
    if image_encoder is not None and fusion_layers <= 0:
        warn(Warnings.ROC_W006)
        image_encoder = None
    if grounding is not None and image_encoder is None:
        raise ValueError(Errors.ROC_E035)
    spec = NetworkSpec(
        pair_encoder, None if listener else text_encoder, image_encoder, relation_encoder,
        grounding is not None, head, max(0, fusion_layers), type_weight, temperature, bf16,
    )
    network = torch_wrapper(
        convert_inputs, convert_outputs, partial(serialize_network, spec), partial(deserialize_network, spec)
    )
    network.attrs["dropout_rate"] = 0.0
    featurizer = build_featurizer(pair_encoder, max_pairs_per_batch)
    attrs = {
        "spec": spec,
        "head": head,
        "uses_images": image_encoder is not None,
        "max_pairs_per_batch": max_pairs_per_batch,
        "split_training": listener is None,
        "routes_new": head == "retrieval" and not pair_encoder.uses_listener,
        "sample": sample_descriptions,
        "labels": LabelCache(),
    }
    layers = ([listener] if listener is not None else []) + [featurizer, network]
    refs = {"network": network, "featurizer": featurizer, "listener": listener}
    return Model("roc_model", forward, init=init, layers=layers, refs=refs, attrs=attrs)


def init(model: Model, X: Optional[RelationBatch] = None, Y: Any = None) -> None:
    """Load the pretrained encoders and build the network. The number of labels (the
    classifier's outputs) comes from the sample batch X."""
    spec: NetworkSpec = model.attrs["spec"]
    text_tokenizer, text_model, width = None, None, _listener_width(model)
    if spec.text_encoder is not None:
        text_tokenizer, text_model = spec.text_encoder.load()
        width = text_model.config.hidden_size
    if spec.relation_encoder is not None:
        label_tokenizer, label_model = spec.relation_encoder.load()
    else:  # the text encoder as it is now, before training, frozen
        label_tokenizer, label_model = text_tokenizer, copy.deepcopy(text_model)
    backbone, data_config = spec.image_encoder.load() if spec.image_encoder is not None else (None, None)
    n_labels = len(X.relations) if X is not None else 0
    network = build_network(spec, text_model, label_model, backbone, width, n_labels)
    network.tokenizers = {"pairs": text_tokenizer, "labels": label_tokenizer}
    network.data_config = data_config
    model.get_ref("network").shims[0]._model = network.to(get_torch_default_device())
    _inputs(model)  # checks the markers against the tokenizer now (ROC_E020, ROC_E034)


def build_network(spec: NetworkSpec, text_model: Any, label_model: Any, backbone: Any, width: int, n_labels: int) -> Any:
    """The torch network of a spec, from loaded (or rebuilt) encoders."""
    from torch import nn

    from ..layers.fusion import Fusion
    from ..layers.grounding import EntityGrounding
    from ..layers.image import ImageTokenizer
    from ..layers.network import ROCNetwork, n_fusion_heads
    from ..layers.objects import ObjectEncoder

    image = ImageTokenizer(backbone, width) if backbone is not None else None
    fusion = Fusion(width, n_fusion_heads(text_model or label_model, width), spec.fusion_layers)
    grounding = None
    if spec.grounding and image is not None:
        word_width = text_model.get_input_embeddings().embedding_dim if text_model is not None else width
        grounding = EntityGrounding(word_width, width, width)
    objects = None
    if spec.pair_encoder.takes_objects:
        objects = ObjectEncoder(width, text_model.get_input_embeddings().embedding_dim)
    pairs = spec.pair_encoder.build(ModuleParts(text_model, label_model, width, image, fusion, grounding, objects))
    classifier = nn.Linear(width, n_labels) if spec.head == "classifier" else None
    return ROCNetwork(pairs, _label_encoder(label_model), classifier, spec.type_weight, spec.temperature, spec.bf16)


def _label_encoder(label_model: Any) -> Any:
    from ..layers.network import LabelEncoder

    return LabelEncoder(label_model)


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
    return get_network(model) is not None


def get_network(model: Model) -> Any:
    """The torch network (spacy_roc.layers.network.ROCNetwork), or None before init."""
    return model.get_ref("network").shims[0]._model


def _inputs(model: Model) -> Inputs:
    """The featurizer's tokenizers and image transform, made from the current
    network's (after init, or after a saved network was loaded)."""
    featurizer = model.get_ref("featurizer")
    network = get_network(model)
    if featurizer.attrs["inputs_of"] is network:
        return featurizer.attrs["inputs"]
    spec: NetworkSpec = model.attrs["spec"]
    pairs = network.tokenizers["pairs"]
    inputs = Inputs(
        PairTokenizer(pairs, spec.text_encoder.max_length) if pairs is not None else None,
        network.tokenizers["labels"],
        spec.label_max_length,
        make_image_transform(network.data_config) if network.data_config else None,
    )
    featurizer.attrs.update({"inputs": inputs, "inputs_of": network})
    return inputs


def forward(model: Model, batch: RelationBatch, is_train: bool) -> Tuple[Floats2d, Callable]:
    if not is_initialized(model):
        raise ValueError(Errors.ROC_E001)
    if batch.n_pairs == 0:
        return model.ops.alloc2f(0, len(batch.relations)), lambda d_logits: batch
    network, featurizer, listener = model.get_ref("network"), model.get_ref("featurizer"), _listener(model)
    _inputs(model)
    states, backprop_states = listener(batch.docs, is_train) if listener is not None else (None, None)
    chunks, backprop_features = featurizer((batch, states), is_train)
    labels = label_vectors(model, batch.relations, sample=is_train and model.attrs["sample"], draw=batch.draw)
    if not is_train:
        logits = [network.predict((chunk, labels)) for chunk in chunks]
        return model.ops.xp.concatenate(logits, axis=0), lambda d_logits: batch
    logits, backprop_network = network((chunks[0], labels), is_train=True)

    def backprop(d_logits: Floats2d) -> RelationBatch:
        _, d_states = backprop_features([backprop_network(d_logits)])
        if backprop_states is not None:
            backprop_states(d_states)
        return batch

    return logits, backprop


class LabelCache:
    """The label-text vectors of one relation set and network. The label encoder is
    frozen, so only a new relation set or a new network (a loaded one) changes them."""

    def __init__(self) -> None:
        self.key: Optional[Tuple[Tuple[Any, ...], Any]] = None
        self.value: Any = None

    def clear(self) -> None:
        self.key, self.value = None, None


def clear_labels(model: Model) -> None:
    """Forget the cached label vectors."""
    model.attrs["labels"].clear()


def label_vectors(model: Model, relations: RelationSet, sample: bool = False, draw: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """The relations' label vectors (see spacy_roc.layers.network.retrieval_scores):
    relation (R, Dt) the normalised mean of each relation's text vectors, or with
    `sample` one of its texts drawn at random (seeded by `draw`, if given);
    head_type, tail_type (R, Dt); typed (R,); new (R,), the relations the network
    scores with its pretrained encoder. None with the classifier head."""
    if model.attrs["head"] != "retrieval":
        return None
    from ..layers.network import group_vectors

    texts, arrays = _text_vectors(model, relations)
    parts = {name: xp2torch(getattr(arrays, name), device=texts.device) for name in ("text_relation", "text_part")}
    n = len(relations)
    if sample:
        rng = random.Random(draw) if draw is not None else random
        rows = [rng.choice(r) for r in _rows_by_relation(arrays)]
        relation = texts[xp2torch(model.ops.xp.asarray(rows), device=texts.device)]
    else:
        own = parts["text_part"] == 0
        relation = group_vectors(texts[own], parts["text_relation"][own], n)
    heads, tails = parts["text_part"] == 1, parts["text_part"] == 2
    return {
        "relation": relation,
        "head_type": group_vectors(texts[heads], parts["text_relation"][heads], n),
        "tail_type": group_vectors(texts[tails], parts["text_relation"][tails], n),
        "typed": xp2torch(arrays.typed, device=texts.device),
        "new": xp2torch(model.ops.xp.asarray(relations.new_mask, dtype=bool), device=texts.device),
    }


def _rows_by_relation(arrays: LabelArrays) -> List[List[int]]:
    """The rows of each relation's own texts (name, descriptions, aliases)."""
    rows: List[List[int]] = [[] for _ in range(int(arrays.text_relation.max()) + 1)]
    for row, (owner, part) in enumerate(zip(arrays.text_relation.tolist(), arrays.text_part.tolist())):
        if part == 0:
            rows[owner].append(row)
    return rows


def _text_vectors(model: Model, relations: RelationSet) -> Tuple[Any, LabelArrays]:
    """The unit vectors (T, Dt) of every label text of a relation set, cached."""
    network = get_network(model)
    cache: LabelCache = model.attrs["labels"]
    if cache.key is None or cache.key[1] is not network or cache.key[0] != relations.relations:
        inputs = _inputs(model)
        arrays = label_arrays(inputs.label_tokenizer, relations, inputs.label_max_length)
        device = model.get_ref("network").shims[0].device
        ids, mask = (xp2torch(getattr(arrays, name), device=device) for name in ("text_ids", "text_mask"))
        cache.key, cache.value = (relations.relations, network), (network.encode_texts(ids, mask), arrays)
    return cache.value


def nearest_types(model: Model, labels: Sequence[str], known: Sequence[str]) -> Dict[str, str]:
    """For each entity label, the known one (a label seen in training) whose type
    name (e.g. "person" for PERSON) the frozen label encoder puts nearest (cosine).
    RETURNS (Dict[str, str]): {label: known label}."""
    if not labels or not known:
        return {}
    inputs = _inputs(model)
    names = [type_name(label) or label for label in (*labels, *known)]
    encoded = inputs.label_tokenizer(names, padding=True, truncation=True, max_length=inputs.label_max_length, return_tensors="np")
    device = model.get_ref("network").shims[0].device
    ids, mask = (xp2torch(encoded[key].astype("int64"), device=device) for key in ("input_ids", "attention_mask"))
    vectors = get_network(model).encode_texts(ids, mask)  # (labels + known, Dt), unit length
    similarity = vectors[: len(labels)] @ vectors[len(labels) :].t()  # (labels, known)
    return {label: known[int(i)] for label, i in zip(labels, similarity.argmax(dim=1).tolist())}


def convert_inputs(model: Model, X: Tuple[Features, Optional[Dict[str, Any]]], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    """The network's keyword tensors: the chunk's arrays moved to torch on the
    network's device, the label vectors (already there), the dropout rate; and the
    backprop to a shared transformer's token states."""
    features, labels = X
    device = model.shims[0].device
    pairs = {}
    for name, value in features.arrays().items():
        if isinstance(value, int):
            pairs[name] = value
        else:
            pairs[name] = xp2torch(model.ops.xp.asarray(value) if name == "states" else value, device=device, requires_grad=is_train and name == "states")
    kwargs = {"pairs": pairs, "labels": labels, "dropout": float(model.attrs["dropout_rate"]) if is_train else 0.0}

    def backprop(d_inputs: ArgsKwargs) -> Optional[Any]:
        if "states" not in pairs:
            return None
        return model.ops.asarray3f(torch2xp(d_inputs.kwargs["pairs"]["states"]))

    return ArgsKwargs(args=(), kwargs=kwargs), backprop


def convert_outputs(model: Model, inputs_logits: Tuple[Any, Any], is_train: bool) -> Tuple[Floats2d, Callable]:
    """Logits as an array of the model's ops; gradients back as a torch tensor."""
    _, logits = inputs_logits

    def backprop(d_logits: Floats2d) -> ArgsKwargs:
        grad = xp2torch(d_logits, device=logits.device).to(logits.dtype)
        return ArgsKwargs(args=(logits,), kwargs={"grad_tensors": (grad,)})

    return model.ops.asarray2f(torch2xp(logits.detach().float())), backprop


@contextlib.contextmanager
def use_params(model: Model, params: Dict[Any, Any]) -> Iterator[None]:
    """Use other values of the network's weights inside the context, e.g. the
    optimizer's averages (`use_averages = true`), which `spacy train` evaluates and
    saves. thinc's optimizer keys each torch parameter by (shim id, name), but
    PyTorchShim.use_params looks for "pytorch_{id}_{name}" keys, so it would never
    find them and the weights would stay as they are.

    params (Dict[Any, Any]): Parameter arrays by (shim id, parameter name).
    """
    shim = model.get_ref("network").shims[0]
    network = get_network(model)
    named = dict(network.named_parameters()) if network is not None else {}
    given = {name: xp2torch(params[(shim.id, name)], device=p.device) for name, p in named.items() if (shim.id, name) in params}
    if not given:
        with model.use_params(params):
            yield
        return
    with _swapped(network, given):
        yield


@contextlib.contextmanager
def _swapped(network: Any, values: Dict[str, Any]) -> Iterator[None]:
    """The network with some of its parameters replaced inside the context."""
    import torch

    named = dict(network.named_parameters())
    backup = {name: named[name].detach().clone() for name in values}

    def assign(source: Dict[str, Any]) -> None:
        with torch.no_grad():
            for name, value in source.items():
                named[name].copy_(value)

    assign(values)
    try:
        yield
    finally:
        assign(backup)


# The file of the network's weights while a component is saved to or loaded from a
# folder (see weights_file): torch writes them there tensor by tensor, rather than
# as one more copy of all of them inside the model's bytes.
_WEIGHTS_FILE: ContextVar[Optional[Path]] = ContextVar("roc_weights_file", default=None)


@contextlib.contextmanager
def weights_file(path: Path) -> Iterator[None]:
    """Inside the context, `serialize_network` writes the weights to `path` and
    leaves them out of the bytes, and `deserialize_network` reads bytes saved so
    from `path` (bytes with the weights inside are read as before)."""
    token = _WEIGHTS_FILE.set(Path(path))
    try:
        yield
    finally:
        _WEIGHTS_FILE.reset(token)


def serialize_network(spec: NetworkSpec, network: Any) -> bytes:
    """The network's bytes: each Hugging Face model with its tokenizer, the timm
    name, kwargs and data config, the width, the number of labels and the weights
    (or that it is not initialized). Inside `weights_file` the weights go to that
    file instead."""
    if network is None:
        return srsly.msgpack_dumps({"initialized": False})
    import torch

    path = _WEIGHTS_FILE.get()
    if path is not None:
        torch.save(network.state_dict(), path)
        weights = None
    else:
        buffer = BytesIO()
        torch.save(network.state_dict(), buffer)
        weights = buffer.getvalue()
    text_model = getattr(network.pairs, "text_model", None)
    image = None
    if network.pairs.image is not None:
        image = {"name": spec.image_encoder.name, "model_kwargs": dict(spec.image_encoder.model_kwargs)}
    msg = {
        "initialized": True,
        "text": hf_to_msg(text_model, network.tokenizers["pairs"]) if text_model is not None else None,
        "labels": hf_to_msg(network.labels.text_model, network.tokenizers["labels"]),
        "image": image,
        "data_config": network.data_config,
        "width": network.pairs.residual.output.out_features,
        "n_labels": network.classifier.out_features if network.classifier is not None else 0,
        "weights": weights,
    }
    return srsly.msgpack_dumps(msg)


def deserialize_network(spec: NetworkSpec, current: Any, data: bytes, device: Any) -> Any:
    """Rebuild the network from `serialize_network` bytes, offline."""
    msg = srsly.msgpack_loads(data)
    if not msg["initialized"]:
        return None
    import torch

    text_tokenizer, text_model = hf_from_msg(msg["text"]) if msg["text"] is not None else (None, None)
    label_tokenizer, label_model = hf_from_msg(msg["labels"])
    backbone = timm_model_from_saved(**msg["image"]) if msg["image"] is not None else None
    network = build_network(spec, text_model, label_model, backbone, msg["width"], msg["n_labels"])
    if msg["weights"] is not None:
        state = torch.load(BytesIO(msg["weights"]), map_location=device, weights_only=True)
    else:
        path = _WEIGHTS_FILE.get()
        if path is None or not path.exists():
            raise ValueError(Errors.ROC_E051.format(path=path))
        state = torch.load(path, map_location=device, weights_only=True, mmap=True)
    missing, unexpected = network.load_state_dict(state, strict=False)
    if unexpected or any(not name.startswith("pairs.objects.") for name in missing):
        raise ValueError(Errors.ROC_E048.format(missing=missing[:5], unexpected=unexpected[:5]))
    network.tokenizers = {"pairs": text_tokenizer, "labels": label_tokenizer}
    network.data_config = msg["data_config"]
    return network.to(device)
