"""Shared fixtures and helpers (one copy each): a tiny random BERT saved as a local
folder, the tiny timm ViT, one corpus, the one session-scoped trained pipeline, and
what the test modules share to build docs, write files and compare records.
Everything is built from config, offline."""
import io
import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import pytest
import spacy
import srsly
from PIL import Image
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from spacy_roc.extensions import RELATIONS_KEY, make_record, record_key, validate_record
from spacy_roc.formats.docbin import read_docbin

WORDS = """anna ben carl dora drew painted owns likes the a red blue green circle square
triangle is left right of above below gift for and with near picture shows this that
head tail entity shape person relation no there between to in on by was has been made
owner owned friend friends lives works at city company member colour color image""".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MARKERS = ["@", "*", "#", "^", ".", ",", "'", "-"]
BLANK = spacy.blank("en")

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)
PERSON_SHAPE = [(0, 1, "PERSON"), (2, 5, "SHAPE")]
TWO_SHAPES = [(0, 3, "SHAPE"), (5, 8, "SHAPE")]
# (text, entities (start, end, label), relations (head index, tail index, label), image)
# over the entities; every other ordered pair is "None". The last two docs differ
# only in their image, which decides their relation; the third-last has overlapping
# mentions.
CORPUS = [
    ("anna drew the red circle", PERSON_SHAPE, [(0, 1, "drew")], RED),
    ("ben owns the blue square", PERSON_SHAPE, [(0, 1, "owns")], BLUE),
    ("carl drew the green triangle", PERSON_SHAPE, [(0, 1, "drew")], GREEN),
    ("dora owns the red square", PERSON_SHAPE, [(0, 1, "owns")], RED),
    ("anna drew the red circle", PERSON_SHAPE + [(3, 5, "SHAPE")], [(0, 1, "drew"), (0, 2, "drew")], GREEN),
    ("the red circle is near the blue square", TWO_SHAPES, [(0, 1, "above")], RED),
    ("the red circle is near the blue square", TWO_SHAPES, [(0, 1, "left_of")], BLUE),
]
DESCRIPTIONS = {
    "None": ["there is no relation between the head and the tail"],
    "drew": ["the head person drew the tail shape", "the tail shape was drawn by the head person"],
    "owns": ["the head person owns the tail shape", "the tail shape is owned by the head person"],
    "above": ["the head shape is above the tail shape"],
    "left_of": ["the head shape is left of the tail shape"],
}
# The pair encoders' configs besides the inline markers (the default of model_config)
LEVITATED = {"@architectures": "spacy_roc.LevitatedMarkers.v2", "max_length": 512}
ENTITY_POOLING = {"@architectures": "spacy_roc.EntityPooling.v1"}
LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "upstream": "*",
    "pooling": {"@layers": "reduce_mean.v1"},
}
NO_HF_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread for the whole session: on small CPU machines torch's
    thread pool contends with other processes (and with numpy's) and makes the tiny
    models tens of times slower. Subprocesses are not affected."""
    import torch

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A local folder with a tiny random BERT (config, weights, tokenizer)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny_bert")
    vocab = SPECIAL + MARKERS + sorted(set(WORDS))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    return path


# -- pipelines ------------------------------------------------------------------------


def model_config(bert_dir: Path, **overrides: Any) -> Dict[str, Any]:
    """Config of a tiny ROC model: local tiny BERT + timm test_vit at 32 px."""
    config = {
        "@architectures": "spacy_roc.ROCModel.v2",
        "fusion_layers": 1,
        "bf16": False,
        "temperature": 0.1,
        "pair_encoder": {"@architectures": "spacy_roc.InlineMarkers.v1"},
        "text_encoder": {
            "@architectures": "spacy_roc.HFTextEncoder.v1",
            "name": str(bert_dir),
            "max_length": 48,
            "pretrained": True,
        },
        "image_encoder": {
            "@architectures": "spacy_roc.TimmImageEncoder.v1",
            "name": "test_vit",
            "pretrained": False,
            "model_kwargs": {"img_size": 32},
        },
    }
    config.update(overrides)
    return config


def make_nlp(bert_dir: Path, spans_key: Optional[str] = None, **model_overrides: Any):
    """A blank pipeline with a tiny roc_relations component (not initialized) whose
    candidates are all pairs, whatever their types."""
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "roc_relations",
        config={
            "model": model_config(bert_dir, **model_overrides),
            "spans_key": spans_key,
            "candidates": {"@misc": "spacy_roc.all_pairs.v1", "restrict_types": False},
        },
    )
    return nlp


def listener_nlp(bert_dir: Path, **model_overrides: Any):
    """transformer (the tiny BERT) + roc_relations listening to it (EntityPooling),
    entities in doc.spans["entities"] (not initialized)."""
    nlp = spacy.blank("en")
    trf = {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(bert_dir),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24},
        "tokenizer_config": {"use_fast": True},
    }
    nlp.add_pipe("transformer", config={"model": trf})
    model = model_config(bert_dir, pair_encoder=ENTITY_POOLING, text_encoder=LISTENER, **model_overrides)
    model["relation_encoder"] = model_config(bert_dir)["text_encoder"]
    candidates = {"@misc": "spacy_roc.all_pairs.v1", "restrict_types": False}
    nlp.add_pipe("roc_relations", config={"model": model, "spans_key": "entities", "candidates": candidates})
    return nlp


def initialize_quietly(nlp, examples: Sequence[Example], descriptions: Optional[Any] = None) -> None:
    """nlp.initialize on the examples (with the descriptions, if given), without the
    warnings about labels that have no description."""
    if descriptions is not None:
        nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": descriptions}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: examples)


def train(nlp, examples, n_steps: int, learn_rate: float = 0.003, **update_kwargs) -> Dict[str, float]:
    optimizer = Adam(learn_rate)
    losses: Dict[str, float] = {}
    for _ in range(n_steps):
        losses = nlp.update(examples, sgd=optimizer, **update_kwargs)
    return losses


def overfit(nlp, n_steps: int = 100) -> List[Example]:
    """Initialize nlp on CORPUS with DESCRIPTIONS and train it until it predicts the
    gold relations (checked). RETURNS: the examples."""
    fix_random_seed(0)
    examples = corpus_examples()
    initialize_quietly(nlp, examples, DESCRIPTIONS)
    train(nlp, examples, n_steps=n_steps)
    predicted = relation_labels([nlp(doc) for doc in fresh_docs(examples)])
    assert predicted == gold_relations(examples), predicted
    return examples


def perturb(nlp, seed: int = 0, scale: float = 0.2) -> None:
    """Give the layers that start at zero (the residual head's output, the fusion
    branches, grounding) random weights, in place of training, and record the
    relations as trained (as `update` does): the model's predictions then depend on
    the markers, the image and grounding, as a trained model's do."""
    import torch

    pipe = nlp.get_pipe("roc_relations")
    pipe._record_trained()
    network = pipe.model.get_ref("network").shims[0]._model
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in network.pairs.zero_init_outputs():
            for param in layer.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * scale)


@pytest.fixture(scope="session")
def trained(tiny_bert_dir, tmp_path_factory):
    """The one trained pipeline of the suite: the tiny inline-markers model overfit on
    CORPUS (text relations, image-decided relations, overlapping mentions) until it
    predicts the gold relations, and saved to disk. RETURNS: (nlp, examples, path).
    Tests that change the pipeline load their own copy from `path`."""
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    examples = overfit(nlp)
    path = tmp_path_factory.mktemp("trained") / "pipeline"
    nlp.to_disk(path)
    return nlp, examples, path


# -- docs and examples ----------------------------------------------------------------


def solid_image(rgb, size: int = 32) -> numpy.ndarray:
    image = numpy.zeros((size, size, 3), dtype="uint8")
    image[:, :] = rgb
    return image


def encode_image(image: Image.Image, fmt: str = "PNG", **kwargs: Any) -> bytes:
    """A PIL image as encoded bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def make_doc(nlp, text: str, ents: List[tuple], relations: List[tuple], image=None, all_pairs: bool = False) -> Doc:
    """ents: (start, end, label); relations: (head_idx, tail_idx, label) over ents.
    The entities go to doc.spans["entities"], and to doc.ents when they do not
    overlap. all_pairs: also a "None" record for every other ordered pair."""
    doc = nlp.make_doc(text)
    spans = [Span(doc, s, e, label=lab) for s, e, lab in ents]
    doc.spans["entities"] = spans
    if len(spacy.util.filter_spans(spans)) == len(spans):
        doc.ents = spans
    doc._.image = image
    labels = {(h, t): lab for h, t, lab in relations}
    if all_pairs:
        keys = [(h, t) for h in range(len(spans)) for t in range(len(spans)) if h != t]
        labels = {key: labels.get(key, "None") for key in keys}
    doc._.relations = [
        make_record((spans[h].start, spans[h].end), (spans[t].start, spans[t].end), lab) for (h, t), lab in labels.items()
    ]
    return doc


def to_example(nlp, reference: Doc) -> Example:
    """An Example whose predicted doc has the reference's text, entities, span
    groups, image and objects, and no relations."""
    predicted = nlp.make_doc(reference.text)
    predicted.ents = [Span(predicted, e.start, e.end, label=e.label_) for e in reference.ents]
    for key, group in reference.spans.items():
        predicted.spans[key] = [Span(predicted, s.start, s.end, label=s.label_) for s in group]
    predicted._.image = reference._.image
    predicted._.objects = reference._.objects
    return Example(predicted, reference)


def corpus_examples(rows: Sequence[Tuple] = tuple(CORPUS), image_size: int = 32) -> List[Example]:
    """Examples of CORPUS rows (or others of the same shape), gold for every ordered
    pair of entities."""
    docs = [make_doc(BLANK, t, e, r, image=solid_image(rgb, image_size), all_pairs=True) for t, e, r, rgb in rows]
    return [to_example(BLANK, doc) for doc in docs]


def fresh_docs(examples: Sequence[Example]) -> List[Doc]:
    return [eg.predicted.copy() for eg in examples]


def read_docs(path: Path) -> List[Doc]:
    """The docs of a .spacy file, with a blank English vocab."""
    return read_docbin(path, BLANK.vocab)


def write_jsonl(path: Path, lines: Sequence[Union[Dict[str, Any], str, bytes]]) -> Path:
    """Write lines to a JSONL file: dicts as JSON, strings and bytes as they are.
    Parent folders are created. RETURNS: the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        for line in lines:
            data = line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode("utf8")
            file.write(data + b"\n")
    return path


# -- relations ------------------------------------------------------------------------


def relation_labels(docs: Sequence[Doc]) -> Dict[tuple, str]:
    """{(doc index, head, tail): label} of the listed relations."""
    return {(i, tuple(r["head"]), tuple(r["tail"])): r["label"] for i, doc in enumerate(docs) for r in doc._.relations}


def gold_relations(examples: Sequence[Example], none_label: str = "None") -> Dict[tuple, str]:
    return {key: label for key, label in relation_labels([eg.reference for eg in examples]).items() if label != none_label}


def assert_same_relations(docs_a: Sequence[Doc], docs_b: Sequence[Doc]) -> None:
    """The same records in the same order: pairs, labels and runner-up labels equal,
    scores equal up to float noise (batches of other sizes pad differently)."""
    assert len(docs_a) == len(docs_b)
    for a, b in zip(docs_a, docs_b):
        assert [(r["head"], r["tail"], r["label"]) for r in a._.relations] == [
            (r["head"], r["tail"], r["label"]) for r in b._.relations
        ]
        for ra, rb in zip(a._.relations, b._.relations):
            assert ra["score"] == pytest.approx(rb["score"], abs=1e-5)
            assert [x[0] for x in ra["alternatives"]] == [x[0] for x in rb["alternatives"]]


def assert_valid_records(doc: Doc, none_label: str = "None", threshold: float = 0.0, n_labels: Optional[int] = None, top_k: Optional[int] = None) -> None:
    """doc._.relations is a list of valid, JSON- and msgpack-safe records: offsets
    inside the doc, one record per pair, scores in [0, 1] at least the threshold,
    runner-ups distinct from the label and scoring at most as much."""
    records = doc._.relations
    assert isinstance(records, list)
    assert json.loads(json.dumps(records, allow_nan=False)) == records
    assert srsly.msgpack_loads(srsly.msgpack_dumps(records)) == records
    keys = [record_key(r) for r in records]
    assert len(keys) == len(set(keys))
    for record in records:
        assert set(record) == {"head", "tail", "label", "score", "alternatives"}
        validate_record(doc, record)  # offsets inside the doc, head != tail
        assert isinstance(record["score"], float) and 0.0 <= record["score"] <= 1.0
        assert record["score"] >= threshold and record["label"] != none_label
        runner_ups = [label for label, _ in record["alternatives"]]
        assert record["label"] not in runner_ups and len(runner_ups) == len(set(runner_ups))
        for label, score in record["alternatives"]:
            assert isinstance(label, str) and isinstance(score, float)
            assert 0.0 <= score <= record["score"] + 1e-6
        if n_labels is not None and top_k is not None:
            assert len(record["alternatives"]) == min(top_k, n_labels - 1)


@contextmanager
def list_every_pair(pipe) -> Iterator[None]:
    """Make the component list every candidate pair: with a no-relation label that is
    not in its relation set, no prediction is left out."""
    saved = pipe.none_label
    pipe.none_label = "__no_such_label__"
    try:
        yield
    finally:
        pipe.none_label = saved


def snapshot(doc: Doc) -> Dict[str, Any]:
    """Everything on a doc except doc._.relations, image by identity and content."""
    image = doc._.image
    if isinstance(image, numpy.ndarray):
        content = (image.shape, str(image.dtype), image.tobytes())
    elif isinstance(image, Image.Image):
        content = (image.mode, image.size, image.tobytes())
    else:
        content = image
    return {
        "tokens": [(t.text, t.whitespace_) for t in doc],
        "ents": [(e.start, e.end, e.label_) for e in doc.ents],
        "spans": {k: [(s.start, s.end, s.label_) for s in g] for k, g in doc.spans.items()},
        "image": (id(image), type(image), content),
        "pairs": doc._.relation_pairs,
        "user_data": sorted(str(k) for k in doc.user_data if k != RELATIONS_KEY),
    }


def expected_statuses(pred: Sequence[Dict[str, Any]], gold: Sequence[Dict[str, Any]]) -> Tuple[List[str], List[str]]:
    """The status of each predicted record (match, wrong-label, extra) and of each
    gold record (match, wrong-label, missed), computed here independently of
    spacy_roc.alignment."""
    gold_labels = {record_key(r): r["label"] for r in gold}
    pred_labels = {record_key(r): r["label"] for r in pred}

    def status(record, others, absent):
        other = others.get(record_key(record))
        return absent if other is None else ("match" if other == record["label"] else "wrong-label")

    return [status(r, gold_labels, "extra") for r in pred], [status(r, pred_labels, "missed") for r in gold]
