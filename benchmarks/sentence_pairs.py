"""Candidate pairs of a long document: all ordered pairs against pairs within a
sentence (spacy_roc.sentence_pairs.v1), on a news-like text of several sentences
with 20 entities.

    python benchmarks/sentence_pairs.py --preset minilm
    python benchmarks/sentence_pairs.py --preset tiny --docs 2

A `sentencizer` sets the sentence boundaries before roc_relations (inline markers:
one pass per pair). For each candidate function, the pairs scored per doc and the
ms per doc of `nlp.pipe` (after a warm-up doc), text-only. Presets as in
pair_scaling.py. CPU, or GPU with --gpu-id.
"""
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import typer
from spacy.tokens import Doc, Span

from pair_scaling import build_nlp, text_model_dir

SENTENCES = [
    ("{0} met {1} in {2} on Monday .", ("PERSON", "PERSON", "GPE")),
    ("{0} , the chief executive of {1} , said the deal with {2} was close .", ("PERSON", "ORG", "ORG")),
    ("Talks in {0} , {1} and {2} went on for a week .", ("GPE", "GPE", "GPE")),
    ("{0} thanked {1} and {2} for their help .", ("PERSON", "PERSON", "PERSON")),
    ("Shares of {0} rose after {1} spoke in {2} .", ("ORG", "PERSON", "GPE")),
    ("{0} will visit {1} next month , {2} said .", ("PERSON", "GPE", "ORG")),
    ("{0} and {1} did not comment .", ("ORG", "PERSON")),
]
NAMES = {
    "PERSON": ["Alice", "Bob", "Carla", "Dev", "Eva", "Farid", "Gina", "Hugo", "Ines"],
    "ORG": ["Acme", "Globex", "Initech", "Umbrella", "Hooli"],
    "GPE": ["Paris", "Berlin", "Lagos", "Lima", "Oslo"],
}


def news_doc(nlp: Any) -> Doc:
    """Seven sentences with 20 entities (each name a one-token entity)."""
    words, ents, used = [], [], {label: 0 for label in NAMES}
    for template, labels in SENTENCES:
        for token in template.split():
            if token.startswith("{"):
                label = labels[int(token[1])]
                ents.append((len(words), label))
                words.append(NAMES[label][used[label] % len(NAMES[label])])
                used[label] += 1
            else:
                words.append(token)
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, i, i + 1, label=label) for i, label in ents]
    return doc


app = typer.Typer(add_completion=False)


@app.command()
def main(
    preset: str = typer.Option("minilm", help="tiny, minilm or base (see pair_scaling.py)"),
    docs: int = typer.Option(3, help="Docs timed per candidate function"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for CPU"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON object per row"),
) -> None:
    """Print the pairs scored and the ms per doc of each candidate function."""
    from spacy.util import registry
    from thinc.api import require_gpu

    if gpu_id >= 0:
        require_gpu(gpu_id)
    with tempfile.TemporaryDirectory() as root:
        nlp = build_nlp("inline", preset, text_model_dir(preset, Path(root)), bf16=gpu_id >= 0)
    nlp.add_pipe("sentencizer", first=True)
    pipe = nlp.get_pipe("roc_relations")
    functions = {
        "all_pairs": registry.misc.get("spacy_roc.all_pairs.v1")(restrict_types=False),
        "sentence_pairs window=0": registry.misc.get("spacy_roc.sentence_pairs.v1")(window=0, restrict_types=False),
        "sentence_pairs window=1": registry.misc.get("spacy_roc.sentence_pairs.v1")(window=1, restrict_types=False),
    }
    text = news_doc(nlp)
    rows: List[Dict[str, Any]] = []
    for name, function in functions.items():
        pipe.candidates = function
        nlp(text.copy())  # warm-up
        start = time.perf_counter()
        annotated = [nlp(text.copy()) for _ in range(docs)]
        seconds = time.perf_counter() - start
        rows.append({
            "candidates": name, "entities": len(text.ents), "sentences": len(list(annotated[0].sents)),
            "pairs": len(annotated[0]._.relations), "ms_per_doc": 1000 * seconds / docs,
        })
    header = f"{'candidates':<26}{'entities':>9}{'sentences':>10}{'pairs':>7}{'ms/doc':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['candidates']:<26}{row['entities']:>9}{row['sentences']:>10}{row['pairs']:>7}{row['ms_per_doc']:>10.1f}")
    if as_json:
        for row in rows:
            print(json.dumps(row))


if __name__ == "__main__":
    app()
