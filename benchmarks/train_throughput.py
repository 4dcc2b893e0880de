"""Training throughput of roc_relations: entity pairs per second through
`nlp.update` (forward, loss, backward and optimizer step) on real training docs.

    python benchmarks/train_throughput.py configs/mnre_minilm.cfg corpus/mnre/train.spacy
    python benchmarks/train_throughput.py configs/mnre_minilm.cfg corpus/mnre/train.spacy \
        --gpu-id 0 --components.roc_relations.model.head classifier

The pipeline is built from the config, with config overrides given as extra options
exactly as in `spacy train` (spaCy's own parser reads them), and
initialized on the first docs; the first --warmup updates are not timed. Runs on CPU,
or on GPU with --gpu-id (bf16 autocast there if the config says bf16 = true). Prints
one table row per run.
"""
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import typer
from spacy.training import Example
from spacy.cli._util import parse_config_overrides
from thinc.api import Config, require_gpu

from spacy_roc.corpus import RelationCorpus


def load_examples(nlp: spacy.Language, path: Path, n_docs: int, images_dir: Optional[Path]) -> List[Example]:
    corpus = RelationCorpus(path, images_dir=images_dir, gold_pairs=True, limit=n_docs, use_images=images_dir is not None)
    return list(corpus(nlp))


def measure(nlp: spacy.Language, examples: List[Example], batch_size: int, warmup: int) -> Dict[str, float]:
    """Time nlp.update over the examples in batches of batch_size docs."""
    optimizer = nlp.create_optimizer()
    batches = [examples[i : i + batch_size] for i in range(0, len(examples), batch_size)]
    for batch in batches[:warmup]:
        nlp.update(batch, sgd=optimizer)
    timed = batches[warmup:]
    n_pairs = sum(len(eg.reference._.relations) for batch in timed for eg in batch)
    _sync()
    start = time.perf_counter()
    for batch in timed:
        nlp.update(batch, sgd=optimizer)
    _sync()
    seconds = time.perf_counter() - start
    return {"steps": len(timed), "pairs": n_pairs, "seconds": seconds}


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config"),
    train_path: Path = typer.Argument(..., exists=True, help="Training .spacy file (gold relations)"),
    n_docs: int = typer.Option(256, help="Docs to read (the first ones)"),
    batch_size: int = typer.Option(16, help="Docs per update (the config's batcher size by default in training)"),
    warmup: int = typer.Option(2, help="Untimed updates first"),
    images_dir: Optional[Path] = typer.Option(None, help="Image folder; without it the docs train text-only"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for CPU"),
) -> None:
    """Print training pairs/s for a config on real training docs. Extra options
    --section.key value override the config, as in `spacy train`."""
    if gpu_id >= 0:
        require_gpu(gpu_id)
    config = Config().from_disk(config_path, overrides=parse_config_overrides(ctx.args))
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = load_examples(nlp, train_path, n_docs, images_dir)
    nlp.initialize(lambda: examples)  # descriptions: the config's [initialize] section
    result = measure(nlp, examples, batch_size, warmup)
    model_cfg = config["components"]["roc_relations"]["model"]
    device = f"gpu:{gpu_id}" if gpu_id >= 0 else "cpu"
    header = f"{'config':<20}{'head':<11}{'device':<8}{'batch':>6}{'steps':>6}{'pairs':>7}{'s/step':>8}{'pairs/s':>9}"
    print(header)
    print("-" * len(header))
    print(
        f"{config_path.stem:<20}{model_cfg.get('head', 'retrieval'):<11}{device:<8}{batch_size:>6}"
        f"{result['steps']:>6}{result['pairs']:>7}{result['seconds'] / max(1, result['steps']):>8.3f}"
        f"{result['pairs'] / result['seconds']:>9.1f}"
    )


if __name__ == "__main__":
    app()
