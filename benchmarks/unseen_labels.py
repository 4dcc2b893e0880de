"""What entity labels the model never saw in training cost: a trained pipeline
evaluated on its dev data with the entities relabelled as a spaCy `ner` would label
them, with the component's rule for unseen labels and without it.

    python benchmarks/unseen_labels.py training/mnre_minilm/levitated_seed0/model-best corpus/mnre/dev.spacy

MNRE's converter labels every entity "ENTITY", so an MNRE model has seen one type.
The relabellings: "prefix" gives each entity the type its gold relations name
(/per/... PERSON, /org/... ORG, /loc/... GPE, /misc/... MISC; an entity in no
relation other than None: MISC), the labels a good NER would give; "random" draws one
of those four per entity (seeded). For each, the micro-F1 (benchmark protocol, gold
pairs) with the rule (a label never seen is shown as the model's one type) and
without it (the label shown as it is, as the code before the rule did), beside the
original labels. Prints a table; with --json one JSON line per row.
"""
import json
import random
from pathlib import Path
from typing import Dict, List, Tuple

import spacy
import typer
from spacy.tokens import Span
from spacy.training import Example

from spacy_roc.commands.evaluate import evaluate_pipeline, find_relation_pipe
from spacy_roc.formats.corpus import RelationCorpus

PREFIX_TYPES = {"per": "PERSON", "org": "ORG", "loc": "GPE", "misc": "MISC"}
SPACY_TYPES = ("PERSON", "ORG", "GPE", "MISC")


def relabelled(examples: List[Example], spans_key: str, mode: str, seed: int = 0) -> List[Example]:
    """Copies of the examples whose predicted entities carry other labels (see the
    module docstring); the gold records are unchanged."""
    rng = random.Random(seed)
    result = []
    for eg in examples:
        types: Dict[Tuple[int, int], str] = {}
        for record in eg.reference._.relations:
            parts = record["label"].strip("/").split("/")
            if len(parts) == 3:
                types.setdefault(tuple(record["head"]), PREFIX_TYPES.get(parts[0], "MISC"))
                types.setdefault(tuple(record["tail"]), PREFIX_TYPES.get(parts[1], "MISC"))
        predicted = eg.predicted.copy()
        spans = []
        for span in predicted.spans[spans_key]:
            label = types.get((span.start, span.end), "MISC") if mode == "prefix" else rng.choice(SPACY_TYPES)
            spans.append(Span(predicted, span.start, span.end, label=label))
        predicted.spans[spans_key] = spans
        result.append(Example(predicted, eg.reference))
    return result


app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., help="A trained pipeline"),
    data: Path = typer.Argument(..., help="Its dev .spacy corpus (gold pairs)"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON line per row"),
) -> None:
    """Print micro-F1 with the original labels, and relabelled with and without the
    unseen-label rule."""
    nlp = spacy.load(model)
    pipe = find_relation_pipe(nlp)
    examples = list(RelationCorpus(data, gold_pairs=True, use_images=False)(nlp))
    known = list(pipe.cfg.get("entity_types") or [])
    rows = []
    scores, _ = evaluate_pipeline(nlp, examples)
    rows.append({"labels": "as in training", "rule": "-", "f1": scores["rel_micro_f"]})
    for mode in ("prefix", "random"):
        data_copy = relabelled(examples, pipe.spans_key, mode)
        for rule in (True, False):
            pipe.cfg["entity_types"] = known if rule else []
            scores, _ = evaluate_pipeline(nlp, data_copy)
            rows.append({"labels": mode, "rule": "shown as a training type" if rule else "shown as they are", "f1": scores["rel_micro_f"]})
    pipe.cfg["entity_types"] = known
    print(f"model trained with entity types {known}")
    print(f"{'labels':<16}{'unseen labels':<28}{'micro-F1':>9}")
    for row in rows:
        print(f"{row['labels']:<16}{row['rule']:<28}{100 * row['f1']:>9.2f}")
    if as_json:
        for row in rows:
            print(json.dumps(row))


if __name__ == "__main__":
    app()
