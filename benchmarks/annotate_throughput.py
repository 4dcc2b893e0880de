"""Throughput and memory of `python -m spacy_roc annotate` (local backend) against bare
`nlp.pipe` on the same demo docs.

    python benchmarks/annotate_throughput.py training/demo/model-best
    python benchmarks/annotate_throughput.py training/demo/model-best --n-docs 200 --rss-docs 100,400

The demo test split is generated into a temporary folder (`spacy_roc.demo.generate_demo`,
24 px images as in project.yml) and written as annotate's JSONL input (character
offsets, image paths relative to the file). "nlp.pipe" times the pipeline on docs built
beforehand with the same entities, pairs and image paths; "annotate" times the whole
command on the file: reading, parsing and checking each line (its image is decoded once
more by the check), nlp.pipe, and writing the output. Both run in this process on the
same loaded pipeline, alternately, and the best of --repeats runs is reported.

Peak RSS: `annotate` runs on the first N lines, for each N of --rss-docs, each in a
fresh process (`python -m spacy_roc annotate ...`), measured with
`resource.getrusage(RUSAGE_CHILDREN)` in a wrapper process of its own. Streaming means
the peak does not grow with N.

Targets (on a quiet machine): annotate within 10% of nlp.pipe's docs/s; peak RSS flat
from 500 to 2,000 docs. Run with OPENBLAS_NUM_THREADS=1 on small CPU machines.
"""
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict, List

import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc

from spacy_roc.commands.annotate import annotate_local
from spacy_roc.commands.demo import generate_demo
from spacy_roc.formats.codec import SPANS_KEY, doc_from_json, entities_to_json
from spacy_roc.formats.docbin import read_docbin

# Runs argv[1:] as a child process and prints the child's peak RSS in KiB (Linux).
RSS_WRAPPER = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def write_inputs(folder: Path, n_docs: int, image_size: int) -> List[dict]:
    """Generate the demo test split in folder and return its docs as annotate lines
    (image paths relative to folder)."""
    generate_demo(folder, n_train=0, n_dev=0, n_test=n_docs, image_size=image_size, seed=0)
    lines = []
    for doc in read_docbin(folder / "test.spacy"):
        lines.append({"text": doc.text, "entities": entities_to_json(doc, SPANS_KEY), "image": f"images/{doc._.image}"})
    return lines


def write_jsonl(path: Path, lines: List[dict]) -> Path:
    with path.open("w", encoding="utf8") as file:
        for line in lines:
            file.write(json.dumps(line) + "\n")
    return path


def bare_docs(nlp: Language, lines: List[dict], folder: Path) -> List[Doc]:
    """The docs annotate builds from the lines (codec.doc_from_json), built beforehand
    for bare nlp.pipe."""
    return [doc_from_json(nlp, line, SPANS_KEY, folder) for line in lines]


def time_runs(nlp: Language, docs: List[Doc], source: Path, output: Path, batch_size: int, repeats: int) -> Dict[str, float]:
    """Best seconds of bare nlp.pipe and of annotate over alternate repeats."""
    best = {"nlp.pipe": float("inf"), "annotate": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in nlp.pipe(docs, batch_size=batch_size):
            pass
        best["nlp.pipe"] = min(best["nlp.pipe"], time.perf_counter() - start)
        start = time.perf_counter()
        annotate_local(nlp, source, output, batch_size=batch_size, progress=False)
        best["annotate"] = min(best["annotate"], time.perf_counter() - start)
    return best


def peak_rss_mib(model: str, source: Path, output: Path, batch_size: int) -> float:
    """Peak RSS of one `annotate` run in a fresh process, in MiB."""
    command = [sys.executable, "-m", "spacy_roc", "annotate", model, str(source), str(output), "--no-progress", "--batch-size", str(batch_size)]
    result = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *command], check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024


def main(
    model: str = typer.Argument(..., help="A trained demo pipeline (folder or package)"),
    n_docs: int = typer.Option(500, "--n-docs", help="Docs timed"),
    rss_docs: str = typer.Option("500,2000", "--rss-docs", help="Comma-separated doc counts of the RSS runs"),
    batch_size: int = typer.Option(64, "--batch-size", help="Docs per batch"),
    repeats: int = typer.Option(2, "--repeats", help="Timed repeats (the best is reported)"),
    image_size: int = typer.Option(24, "--image-size", help="Side of the demo images"),
) -> None:
    warnings.filterwarnings("ignore", message=r"\[ROC_W00[12]\]")
    sizes = [int(n) for n in rss_docs.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = write_inputs(folder, max([n_docs, *sizes]), image_size)
        nlp = spacy.load(model)
        source = write_jsonl(folder / "timed.jsonl", lines[:n_docs])
        docs = bare_docs(nlp, lines[:n_docs], folder)
        list(nlp.pipe(docs[:batch_size], batch_size=batch_size))  # warm up
        best = time_runs(nlp, docs, source, folder / "out.jsonl", batch_size, repeats)
        rates = {name: n_docs / seconds for name, seconds in best.items()}
        print(f"{'':<10}{'docs/s':>10}\n{'nlp.pipe':<10}{rates['nlp.pipe']:>10.1f}\n{'annotate':<10}{rates['annotate']:>10.1f}")
        print(f"annotate overhead: {100 * (best['annotate'] / best['nlp.pipe'] - 1):+.1f}% time ({n_docs} docs, batch size {batch_size})")
        peaks = [peak_rss_mib(model, write_jsonl(folder / f"rss_{n}.jsonl", lines[:n]), folder / f"rss_{n}.out.jsonl", batch_size) for n in sizes]
        for n, peak in zip(sizes, peaks):
            print(f"peak RSS of annotate, {n:>6} docs: {peak:8.1f} MiB")
        if len(peaks) > 1:
            print(f"peak RSS growth {sizes[0]} -> {sizes[-1]} docs: {peaks[-1] - peaks[0]:+.1f} MiB")


if __name__ == "__main__":
    typer.run(main)
