"""Training throughput of roc_relations: entity pairs per second through
`nlp.update` (forward, loss, backward and optimizer step) on real training docs, for
the retrieval head (ROC) and the classifier ablation in the same run, and the ratio
of their seconds per step.

    python benchmarks/train_throughput.py configs/mnre_minilm.cfg corpus/mnre/train.spacy
    python benchmarks/train_throughput.py configs/mnre_minilm.cfg corpus/mnre/train.spacy \
        --gpu-id 0 --head retrieval

The pipelines are built from the config, with config overrides given as extra options
exactly as in `spacy train` (spaCy's own parser reads them), and initialized on the
first docs; the first --warmup updates are not timed, then the heads take turns, one
timed pass over the batches each, --repeats times (the best pass counts). Runs on
CPU, or on GPU with --gpu-id (bf16 autocast there if the config says bf16 = true).
Prints one table row per head, and the ratio.
"""
import time
from pathlib import Path
from typing import Any, List, Optional

import spacy
import typer
from spacy.training import Example
from spacy.cli._util import parse_config_overrides
from thinc.api import Config, require_gpu

from spacy_roc.formats.corpus import RelationCorpus


def load_examples(nlp: spacy.Language, path: Path, n_docs: int, images_dir: Optional[Path]) -> List[Example]:
    corpus = RelationCorpus(path, images_dir=images_dir, gold_pairs=True, limit=n_docs, use_images=images_dir is not None)
    return list(corpus(nlp))


def timed_pass(nlp: spacy.Language, optimizer: Any, batches: List[List[Example]]) -> float:
    """Seconds for nlp.update over the batches."""
    _sync()
    start = time.perf_counter()
    for batch in batches:
        nlp.update(batch, sgd=optimizer)
    _sync()
    return time.perf_counter() - start


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
    repeats: int = typer.Option(1, help="Timed passes per head (the best counts)"),
    head: List[str] = typer.Option(["retrieval", "classifier"], help="Heads to time"),
    images_dir: Optional[Path] = typer.Option(None, help="Image folder; without it the docs train text-only"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for CPU"),
) -> None:
    """Print training pairs/s of each head for a config on real training docs, and
    the ratio of their seconds per step. Extra options --section.key value override
    the config, as in `spacy train`."""
    if gpu_id >= 0:
        require_gpu(gpu_id)
    overrides = parse_config_overrides(ctx.args)
    runs = {}
    for name in head:
        config = Config().from_disk(config_path, overrides={**overrides, "components.roc_relations.model.head": name})
        nlp = spacy.util.load_model_from_config(config, auto_fill=True)
        examples = load_examples(nlp, train_path, n_docs, images_dir)
        nlp.initialize(lambda: examples)  # descriptions: the config's [initialize] section
        batches = [examples[i : i + batch_size] for i in range(0, len(examples), batch_size)]
        optimizer = nlp.create_optimizer()
        timed_pass(nlp, optimizer, batches[:warmup])
        runs[name] = (nlp, optimizer, batches[warmup:])
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (nlp, optimizer, batches) in runs.items():
            seconds[name].append(timed_pass(nlp, optimizer, batches))
    device = f"gpu:{gpu_id}" if gpu_id >= 0 else "cpu"
    header = f"{'config':<22}{'head':<11}{'device':<8}{'batch':>6}{'steps':>6}{'pairs':>7}{'s/step':>8}{'pairs/s':>9}"
    print(header)
    print("-" * len(header))
    per_step = {}
    for name, (_, _, batches) in runs.items():
        n_pairs = sum(len(eg.reference._.relations) for batch in batches for eg in batch)
        best = min(seconds[name])
        per_step[name] = best / max(1, len(batches))
        print(
            f"{config_path.stem:<22}{name:<11}{device:<8}{batch_size:>6}{len(batches):>6}{n_pairs:>7}"
            f"{per_step[name]:>8.3f}{n_pairs / best:>9.1f}"
        )
    if {"retrieval", "classifier"} <= set(per_step):
        print(f"retrieval / classifier s/step: {per_step['retrieval'] / per_step['classifier']:.2f}")


if __name__ == "__main__":
    app()
