"""Shared fixtures: a tiny random BERT saved as a local folder, a tiny timm ViT, and
small multimodal examples. Everything is built from config, offline."""
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from spacy_roc.extensions import make_record

WORDS = """anna ben carl dora drew painted owns likes the a red blue green circle square
triangle is left right of above below gift for and with near picture shows this that
head tail entity shape person relation no there between to in on by was has been made
owner owned friend friends lives works at city company member colour color image""".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MARKERS = ["@", "*", "#", "^", ".", ",", "'", "-"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A local folder with a tiny random BERT (config, weights, tokenizer)."""
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
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    return path


def model_config(bert_dir: Path, **overrides: Any) -> Dict[str, Any]:
    """Config of a tiny ROC model: local tiny BERT + timm test_vit at 32 px."""
    config = {
        "@architectures": "spacy_roc.ROCModel.v1",
        "fusion_layers": 1,
        "dropout": 0.0,
        "bf16": False,
        "temperature": 0.1,
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


def make_doc(nlp, text: str, ents: List[tuple], relations: List[tuple], image=None) -> Doc:
    """ents: (start, end, label); relations: (head_idx, tail_idx, label) over ents."""
    doc = nlp.make_doc(text)
    spans = [Span(doc, s, e, label=lab) for s, e, lab in ents]
    doc.ents = spans
    doc._.image = image
    doc._.relations = [
        make_record((spans[h].start, spans[h].end), (spans[t].start, spans[t].end), lab)
        for h, t, lab in relations
    ]
    return doc


def to_example(nlp, reference: Doc) -> Example:
    predicted = nlp.make_doc(reference.text)
    predicted.ents = [Span(predicted, e.start, e.end, label=e.label_) for e in reference.ents]
    predicted._.image = reference._.image
    return Example(predicted, reference)


DESCRIPTIONS = {
    "None": ["there is no relation between the head and the tail"],
    "drew": ["the head person drew the tail shape", "the tail shape was drawn by the head person"],
    "owns": ["the head person owns the tail shape", "the tail shape is owned by the head person"],
}


@pytest.fixture
def text_examples(tiny_bert_dir):
    """Examples whose relation is readable from the text."""
    nlp = spacy.blank("en")
    red = solid_image((255, 0, 0))
    data = [
        ("anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")]),
        ("ben owns the blue square", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "owns"), (1, 0, "None")]),
        ("carl drew the green triangle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")]),
        ("dora owns the red square", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "owns"), (1, 0, "None")]),
    ]
    docs = [make_doc(nlp, text, ents, rels, image=red) for text, ents, rels in data]
    return [to_example(nlp, doc) for doc in docs]
