"""Shared fixtures: a tiny random BERT saved as a local folder, a tiny timm ViT, one
corpus factory and one session-scoped trained pipeline. Everything is built from
config, offline."""
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from spacy_roc.extensions import make_record

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


def solid_image(rgb, size: int = 32) -> numpy.ndarray:
    image = numpy.zeros((size, size, 3), dtype="uint8")
    image[:, :] = rgb
    return image


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
    groups and image, and no relations."""
    predicted = nlp.make_doc(reference.text)
    predicted.ents = [Span(predicted, e.start, e.end, label=e.label_) for e in reference.ents]
    for key, group in reference.spans.items():
        predicted.spans[key] = [Span(predicted, s.start, s.end, label=s.label_) for s in group]
    predicted._.image = reference._.image
    return Example(predicted, reference)


def corpus_examples(rows: Sequence[Tuple] = tuple(CORPUS), image_size: int = 32) -> List[Example]:
    """Examples of CORPUS rows (or others of the same shape), gold for every ordered
    pair of entities."""
    docs = [make_doc(BLANK, t, e, r, image=solid_image(rgb, image_size), all_pairs=True) for t, e, r, rgb in rows]
    return [to_example(BLANK, doc) for doc in docs]


def fresh_docs(examples: Sequence[Example]) -> List[Doc]:
    return [eg.predicted.copy() for eg in examples]


def relation_labels(docs: Sequence[Doc]) -> Dict[tuple, str]:
    """{(doc index, head, tail): label} of the listed relations."""
    return {(i, tuple(r["head"]), tuple(r["tail"])): r["label"] for i, doc in enumerate(docs) for r in doc._.relations}


def gold_relations(examples: Sequence[Example], none_label: str = "None") -> Dict[tuple, str]:
    return {key: label for key, label in relation_labels([eg.reference for eg in examples]).items() if label != none_label}


def initialize_quietly(nlp, examples: Sequence[Example]) -> None:
    """nlp.initialize on the examples, without the warnings about labels that have no
    description."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: examples)


def train(nlp, examples, n_steps: int, learn_rate: float = 0.003, **update_kwargs) -> Dict[str, float]:
    optimizer = Adam(learn_rate)
    losses: Dict[str, float] = {}
    for _ in range(n_steps):
        losses = nlp.update(examples, sgd=optimizer, **update_kwargs)
    return losses


@pytest.fixture(scope="session")
def trained(tiny_bert_dir, tmp_path_factory):
    """The one trained pipeline of the suite: the tiny model trained on CORPUS (text
    relations, image-decided relations, overlapping mentions) and saved to disk.
    RETURNS: (nlp, examples, path). Tests that change the pipeline load their own
    copy from `path`."""
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": DESCRIPTIONS}
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    losses = train(nlp, examples, n_steps=100)
    assert losses["roc_relations"] < 0.05, losses
    path = tmp_path_factory.mktemp("trained") / "pipeline"
    nlp.to_disk(path)
    return nlp, examples, path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module that asks for it (`pytestmark =
    pytest.mark.usefixtures("one_torch_thread")`): on small CPU machines torch's
    thread pool contends with other processes and makes tiny models many times slower."""
    import torch

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)
