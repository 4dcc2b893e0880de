"""Inference throughput of roc_relations: end-to-end `nlp.pipe` against the bare
encoder forward pass on the same inputs, measured in one run.

    python benchmarks/throughput.py --preset tiny
    python benchmarks/throughput.py --preset minilm-vit-small --n-docs 64

"end-to-end" covers everything the component does per batch: candidate pairs, image
decoding and timm preprocessing, typed markers and tokenization, the forward pass,
softmax and writing doc._.relations. "encoder" times only the torch forward pass on
inputs collated beforehand. Runs on CPU, and also on GPU when torch sees one
(--gpu-id, default 0 when available). Prints a table.
"""
import time
import warnings
from typing import Any, Dict, List, Optional

import numpy
import spacy
import typer
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_roc  # noqa: F401
from spacy_roc.model.roc_model import _inputs, convert_inputs, label_vectors

TINY_TEXT = {
    "@architectures": "spacy_roc.HFTextEncoder.v1",
    "name": {"@misc": "spacy_roc.gt_minilm_path.v1"},
    "pretrained": False,
    "max_length": 64,
    "config_overrides": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
}
TINY_IMAGE = {
    "@architectures": "spacy_roc.TimmImageEncoder.v1",
    "name": "test_vit",
    "pretrained": False,
    "model_kwargs": {"img_size": 32},
}
MINILM_TEXT = {
    "@architectures": "spacy_roc.HFTextEncoder.v1",
    "name": {"@misc": "spacy_roc.gt_minilm_path.v1"},
    "pretrained": True,
    "max_length": 64,
}
VIT_SMALL = {
    "@architectures": "spacy_roc.TimmImageEncoder.v1",
    "name": "vit_small_patch16_224",
    "pretrained": False,
}
PRESETS: Dict[str, Dict[str, Any]] = {
    "tiny": {"text_encoder": TINY_TEXT, "image_encoder": TINY_IMAGE, "fusion_layers": 1},
    "minilm-vit-small": {"text_encoder": MINILM_TEXT, "image_encoder": VIT_SMALL, "fusion_layers": 2},
}
WORDS = "the red circle is left of a blue square near anna who drew it for ben in paris".split()
LABELS = ["None", "left_of", "drawn_by", "gift_for"]


def build_nlp(preset: str) -> spacy.Language:
    """A pipeline with the preset's encoders, initialized on a few fake examples."""
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_roc.ROCModel.v2", "pair_encoder": {"@architectures": "spacy_roc.InlineMarkers.v1"}, **PRESETS[preset]}
    nlp.add_pipe("roc_relations", config={"model": model, "top_k": 2})
    docs = make_docs(nlp, 4, n_entities=3, image_size=32, seed=1)
    for doc in docs:
        ents = list(doc.ents)
        doc._.relations = [
            {"head": [h.start, h.end], "tail": [t.start, t.end], "label": LABELS[i % len(LABELS)]}
            for i, (h, t) in enumerate(zip(ents, ents[1:]))
        ]
    descriptions = {label: [f"the head is {label.replace('_', ' ')} the tail"] for label in LABELS}
    nlp.get_pipe("roc_relations").initialize(lambda: [Example(d, d) for d in docs], nlp=nlp, descriptions=descriptions)
    nlp.get_pipe("roc_relations")._record_trained()  # as a trained model: its relations through the trained pass
    return nlp


def make_docs(nlp: spacy.Language, n_docs: int, n_entities: int, image_size: int, seed: int) -> List[Doc]:
    """Random docs of 24 words with n_entities two-word entities and an RGB image."""
    rng = numpy.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=max(24, 3 * n_entities))]
        doc = Doc(nlp.vocab, words=words)
        starts = sorted(rng.choice(range(0, len(words) - 1, 3), size=n_entities, replace=False))
        doc.ents = [Span(doc, int(s), int(s) + 2, label="ENT") for s in starts]
        doc._.image = rng.integers(0, 256, size=(image_size, image_size, 3), dtype=numpy.uint8)
        docs.append(doc)
    return docs


def time_pipeline(nlp: spacy.Language, docs: List[Doc], batch_size: int) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe((d.copy() for d in docs), batch_size=batch_size):
        pass
    _sync()
    return time.perf_counter() - start


def time_encoder(nlp: spacy.Language, docs: List[Doc], batch_size: int) -> float:
    """Time the torch forward pass only, on inputs featurized and converted in advance."""
    pipe = nlp.get_pipe("roc_relations")
    featurizer, network = pipe.model.get_ref("featurizer"), pipe.model.get_ref("network")
    _inputs(pipe.model)
    inputs = []
    for i in range(0, len(docs), batch_size):
        batch = pipe._batch(docs[i : i + batch_size])
        labels = label_vectors(pipe.model, batch.relations)
        chunks, _ = featurizer((batch, None), False)
        inputs.extend(convert_inputs(network, (chunk, labels), False)[0] for chunk in chunks)
    _sync()
    start = time.perf_counter()
    for args in inputs:
        network.shims[0].predict(args)
    _sync()
    return time.perf_counter() - start


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure(preset: str, device: str, n_docs: int, n_entities: int, image_size: int, batch_size: int, repeats: int) -> Dict[str, Any]:
    nlp = build_nlp(preset)
    docs = make_docs(nlp, n_docs, n_entities, image_size, seed=0)
    n_pairs = nlp.get_pipe("roc_relations")._batch(docs).n_pairs
    time_pipeline(nlp, docs[:batch_size], batch_size)  # warm-up
    pipe_s = min(time_pipeline(nlp, docs, batch_size) for _ in range(repeats))
    enc_s = min(time_encoder(nlp, docs, batch_size) for _ in range(repeats))
    return {
        "preset": preset,
        "device": device,
        "docs": n_docs,
        "pairs": n_pairs,
        "pipe_pairs_s": n_pairs / pipe_s,
        "pipe_docs_s": n_docs / pipe_s,
        "enc_pairs_s": n_pairs / enc_s,
        "enc_share": enc_s / pipe_s,
    }


def print_table(rows: List[Dict[str, Any]]) -> None:
    header = f"{'preset':<18}{'device':<8}{'docs':>6}{'pairs':>7}{'pipe pairs/s':>14}{'pipe docs/s':>13}{'encoder pairs/s':>17}{'encoder share':>15}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['preset']:<18}{r['device']:<8}{r['docs']:>6}{r['pairs']:>7}{r['pipe_pairs_s']:>14.1f}"
            f"{r['pipe_docs_s']:>13.1f}{r['enc_pairs_s']:>17.1f}{r['enc_share']:>15.0%}"
        )


def main(
    preset: List[str] = typer.Option(["tiny"], "--preset", help=f"One or more of {list(PRESETS)}"),
    n_docs: int = typer.Option(128, help="Number of docs"),
    n_entities: int = typer.Option(4, help="Entities per doc (pairs = n * (n - 1))"),
    image_size: int = typer.Option(224, help="Side of the random RGB images"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    repeats: int = typer.Option(2, help="Timed repeats (the best is reported)"),
    gpu_id: Optional[int] = typer.Option(None, help="GPU to use as well (default: 0 if CUDA is available)"),
) -> None:
    import torch

    warnings.filterwarnings("ignore", message=r"\[ROC_W003\]")
    torch.manual_seed(0)
    rows = [measure(p, "cpu", n_docs, n_entities, image_size, batch_size, repeats) for p in preset]
    if gpu_id is None and torch.cuda.is_available():
        gpu_id = 0
    if gpu_id is not None:
        spacy.require_gpu(gpu_id)
        rows += [measure(p, f"cuda:{gpu_id}", n_docs, n_entities, image_size, batch_size, repeats) for p in preset]
    print_table(rows)


if __name__ == "__main__":
    typer.run(main)
