"""Inference cost of relations between a text entity and the objects of the image
(MORE-style pairs) against the number of objects per image.

    python benchmarks/object_cost.py --preset tiny
    python benchmarks/object_cost.py --preset minilm --json

Docs of 64 words with one entity and an image with 1, 2, 5 or 10 objects (boxes)
go through `nlp.pipe` with the inline-markers encoder: every (entity, object) pair is
scored. The image is encoded once per doc, and the entity's marked text once, however
many objects there are; an object is a token after the text, pooled from the image's
patch grid (torchvision's roi_align). The table gives ms per doc, the ratio to one
object, the image-encoder passes and the text sequences per doc (counted by forward
hooks), and, for comparison with encoding each object's crop again (MOREformer's
way), the ms of encoding that many extra images with the same image encoder.
Presets as in pair_scaling.py. CPU, or GPU with --gpu-id.
"""
import json
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy
import typer
from spacy.tokens import Doc, Span

from pair_scaling import PRESETS, build_nlp, text_model_dir


def object_docs(nlp: Any, n_docs: int, n_objects: int, image_size: int, seed: int) -> List[Doc]:
    """Docs of 64 words, one PERSON entity, and an image with n_objects boxes."""
    rng = numpy.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        words = [str(w) for w in rng.choice("the red one is left of a blue square near anna who drew it".split(), size=64)]
        doc = Doc(nlp.vocab, words=words)
        doc.ents = [Span(doc, 10, 11, label="PERSON")]
        corners = rng.uniform(0.0, 0.5, size=(n_objects, 2))
        doc._.objects = [{"box": [float(x), float(y), float(x) + 0.4, float(y) + 0.4]} for x, y in corners]
        doc._.image = rng.integers(0, 255, size=(image_size, image_size, 3), dtype="uint8")
        docs.append(doc)
    return docs


def count_calls(module: Any) -> Dict[str, int]:
    """A forward hook that counts calls and the batch size of each."""
    counts = {"calls": 0, "rows": 0}

    def hook(_module: Any, args: Any, kwargs: Any, _output: Any) -> None:
        first = args[0] if args else next(iter(v for v in kwargs.values() if hasattr(v, "shape")))
        counts["calls"] += 1
        counts["rows"] += int(first.shape[0])

    module.register_forward_hook(hook, with_kwargs=True)
    return counts


app = typer.Typer(add_completion=False)


@app.command()
def main(
    preset: str = typer.Option("tiny", help="tiny, minilm or base (see pair_scaling.py)"),
    objects: List[int] = typer.Option([1, 2, 5, 10], "--objects", help="Objects per image"),
    docs: int = typer.Option(16, help="Docs per setting"),
    batch_size: int = typer.Option(8, help="Docs per nlp.pipe batch"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for CPU"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON object per row"),
) -> None:
    """Print ms per doc against objects per image, with the passes per doc."""
    import tempfile

    import torch
    from thinc.api import require_gpu

    if gpu_id >= 0:
        require_gpu(gpu_id)
    with tempfile.TemporaryDirectory() as root:
        nlp = build_nlp("inline", preset, text_model_dir(preset, Path(root)), bf16=gpu_id >= 0)
    pipe = nlp.get_pipe("roc_relations")
    network = pipe.model.get_ref("network").shims[0]._model
    image_calls = count_calls(network.pairs.image)
    text_calls = count_calls(network.pairs.text_model)
    size = PRESETS[preset]["image_size"]
    rows = []
    for n_objects in objects:
        sample = object_docs(nlp, docs, n_objects, size, seed=n_objects)
        list(nlp.pipe([d.copy() for d in sample[:batch_size]], batch_size=batch_size))  # warm-up
        for counts in (image_calls, text_calls):
            counts.update(calls=0, rows=0)
        start = time.perf_counter()
        annotated = list(nlp.pipe([d.copy() for d in sample], batch_size=batch_size))
        seconds = time.perf_counter() - start
        assert all(len(doc._.relations) == n_objects for doc in annotated)
        pixels = torch.rand(n_objects * docs, 3, size, size, device=next(network.parameters()).device)
        with torch.no_grad():
            start = time.perf_counter()
            for chunk in pixels.split(batch_size):
                network.pairs.image.backbone.forward_features(chunk)
            crops = time.perf_counter() - start
        rows.append({
            "preset": preset, "objects": n_objects, "ms_per_doc": 1000 * seconds / docs,
            "image_passes_per_doc": image_calls["rows"] / docs, "text_sequences_per_doc": text_calls["rows"] / docs,
            "crop_encoding_ms_per_doc": 1000 * crops / docs,
        })
    base = rows[0]["ms_per_doc"]
    header = f"{'objects':>8}{'ms/doc':>10}{'x 1 object':>12}{'images/doc':>12}{'texts/doc':>11}{'crops ms/doc':>14}"
    print(header)
    print("-" * len(header))
    for row in rows:
        row["ratio"] = row["ms_per_doc"] / base
        print(
            f"{row['objects']:>8}{row['ms_per_doc']:>10.1f}{row['ratio']:>12.2f}{row['image_passes_per_doc']:>12.2f}"
            f"{row['text_sequences_per_doc']:>11.2f}{row['crop_encoding_ms_per_doc']:>14.1f}"
        )
    if as_json:
        for row in rows:
            print(json.dumps(row))


if __name__ == "__main__":
    app()
