"""Command-line interface of spacy-roc: ``python -m spacy_roc COMMAND``.

The typer app ``app`` holds the top-level commands; ``convert_app`` groups the corpus
converters (``python -m spacy_roc convert mnre ...``). Heavy modules are imported inside
the commands, so ``--help`` stays fast and torch is never imported here.

String choices are ``Enum`` parameters, checked by typer; the commands pass their
``.value`` on. Errors a command expects (coded ``ValueError``s, ``OSError``s) end it
through ``_fails_as``: a message and exit code 1, no traceback.
"""
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Type

import typer
from wasabi import msg


class OnError(str, Enum):
    """What a converter does with a malformed line: stop, or skip and report it
    (formats.mnre.ON_ERROR, formats.prodigy.ON_ERROR)."""

    raise_ = "raise"
    skip = "skip"


class Backend(str, Enum):
    """Where annotate runs: nlp.pipe here, or a Ray Data actor pool (annotate.BACKENDS)."""

    local = "local"
    ray = "ray"


class DemoTask(str, Enum):
    """The demo's task (demo.TASKS)."""

    relations = "relations"
    objects = "objects"


class Variant(str, Enum):
    """A description set: all, the first per label, or the label names only
    (descriptions.VARIANTS)."""

    full = "full"
    one = "one"
    names = "names"


@contextmanager
def _fails_as(title: str, errors: Tuple[Type[Exception], ...] = (ValueError, OSError)) -> Iterator[None]:
    """End a command whose code raises one of `errors` with a failure message and
    exit code 1. A context manager, or a decorator under ``@app.command``.

    title (str): The message's title, e.g. "Conversion failed".
    errors (Tuple[Type[Exception], ...]): The exceptions the command expects.
    """
    try:
        yield
    except errors as err:
        msg.fail(title, str(err), exits=1)

app = typer.Typer(
    name="spacy_roc",
    help="spacy-roc: multimodal relation extraction by retrieval.",
    no_args_is_help=True,
    add_completion=False,
)
convert_app = typer.Typer(help="Convert corpora to .spacy files.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")
export_app = typer.Typer(help="Export a pipeline's predictions for annotation tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")
descriptions_app = typer.Typer(help="Write and expand relation descriptions.", no_args_is_help=True)
app.add_typer(descriptions_app, name="descriptions")


@convert_app.command("mnre")
def convert_mnre_cli(
    input_path: Path = typer.Argument(
        ..., help="MNRE text file, e.g. mnre_train.txt", exists=True, dir_okay=False
    ),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    images_dir: Optional[Path] = typer.Option(
        None, "--images-dir", help="Images folder, to count missing images", file_okay=False
    ),
    on_error: OnError = typer.Option(
        OnError.raise_, "--on-error", help="Malformed lines: 'raise' or 'skip' (and report)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Convert an MNRE text file to .spacy (one doc per sentence)."""
    from ..formats.mnre import convert_mnre

    with _fails_as("Conversion failed"), warnings.catch_warnings():
        # The summary below reports skipped lines and missing images.
        warnings.simplefilter("ignore", UserWarning)
        stats = convert_mnre(input_path, output_path, images_dir, on_error.value, progress)
    _print_mnre_summary(stats, output_path)


def _print_mnre_summary(stats: Dict[str, Any], output_path: Path) -> None:
    """Print the stats of an MNRE conversion."""
    n_docs, n_instances = stats["n_docs"], stats["n_instances"]
    msg.good(f"Wrote {n_docs} docs ({n_instances} relation instances) to {output_path}")
    rows = [
        ("lines", stats["n_lines"]),
        ("instances", stats["n_instances"]),
        ("docs (sentences)", stats["n_docs"]),
        ("mentions", stats["n_mentions"]),
        ("docs with overlapping mentions", stats["n_overlapping_docs"]),
        ("labels", len(stats["labels"])),
    ]
    if stats["n_missing_images"] is not None:
        rows.append(("missing images", stats["n_missing_images"]))
    msg.table(rows, aligns=("l", "r"))
    if stats["n_missing_images"]:
        msg.warn(f"{stats['n_missing_images']} image file(s) missing; those docs are text-only")
    _warn_skipped(stats["errors"])


def _warn_skipped(errors: Any, shown: int = 20) -> None:
    """Warn about the lines a converter skipped: the first `shown`, then a count."""
    for line_no, message in errors[:shown]:
        msg.warn(f"Skipped line {line_no}: {message}")
    if len(errors) > shown:
        msg.warn(f"... and {len(errors) - shown} more skipped line(s)")


def _print_table(table: str, output_path: Optional[Path]) -> None:
    """Print a Markdown table, and write it to output_path if one is given."""
    print(table)
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(table, encoding="utf8")
        msg.good(f"Wrote the table to {output_path}")


@app.command("demo")
def demo_cli(
    output_dir: Path = typer.Argument(..., help="Output folder", file_okay=False),
    n_train: int = typer.Option(600, "--n-train", min=0, help="Training docs"),
    n_dev: int = typer.Option(150, "--n-dev", min=0, help="Development docs"),
    n_test: int = typer.Option(150, "--n-test", min=0, help="Test docs"),
    image_size: int = typer.Option(32, "--image-size", min=12, help="Image side in pixels"),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)"),
    task: DemoTask = typer.Option(DemoTask.relations, "--task", help="relations: between text entities; objects: between a person and an object of the image (MORE-style)"),
) -> None:
    """Generate the synthetic demo dataset (shape images, image- and text-only relations)."""
    from .demo import generate_demo

    counts = generate_demo(output_dir, n_train, n_dev, n_test, image_size, seed, task.value)
    msg.good(f"Wrote the demo dataset to {output_dir}")
    msg.table([(key, value) for key, value in counts.items()], aligns=("l", "r"))


@app.command("evaluate")
def evaluate_cli(
    model: str = typer.Argument(..., help="Pipeline to evaluate: a folder or a package name"),
    data_path: Path = typer.Argument(..., help="A .spacy file or a folder of them", exists=True),
    output_dir: Path = typer.Argument(..., help="Report folder (created if needed)", file_okay=False),
    images_dir: Optional[Path] = typer.Option(
        None, "--images-dir", help="Folder for relative image paths (if absent: text-only, with a warning)", file_okay=False
    ),
    text_only_too: bool = typer.Option(
        False, "--text-only-too", help="Also evaluate with the images withheld, and compare"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to use; -1 for CPU"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Docs per batch"),
) -> None:
    """Evaluate a pipeline's relations: metrics JSON, per-label table, confusion PNG.

    Use this, not `spacy evaluate`: spaCy's corpus reader drops the entities, the
    images and the gold pairs that the roc_relations component needs.
    """
    from .evaluate import evaluate_to_dir

    with _fails_as("Evaluation failed"):
        scores = evaluate_to_dir(
            model,
            data_path,
            output_dir,
            images_dir=images_dir,
            text_only_too=text_only_too,
            gpu_id=gpu_id,
            batch_size=batch_size,
        )
    _print_scores(scores)
    msg.good(f"Wrote the report to {output_dir}")


def _print_scores(scores: Dict[str, Any]) -> None:
    """Print Acc/P/R/F1 (with image, and text-only if computed) as a table."""
    from ..scorer import SUMMARY_KEYS

    runs = [("with image" if scores.get("images_used", True) else "text-only", scores)]
    if scores.get("text_only") is not None:
        runs.append(("text-only", scores["text_only"]))

    def cell(value: Any) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    rows = [(title, *(cell(run.get(key)) for _, run in runs)) for title, key in SUMMARY_KEYS]
    header = ("", *(name for name, _ in runs))
    msg.table(rows, header=header, aligns=("l", *("r" for _ in runs)), divider=True)
    speed = scores.get("docs_per_second")
    n_docs, n_pairs = scores.get("n_docs"), scores.get("n_pairs")
    msg.text(f"{n_docs} docs, {n_pairs} pairs" + (f", {speed:.1f} docs/s" if speed else ""))


@descriptions_app.command("variant")
def descriptions_variant_cli(
    descriptions_path: Path = typer.Argument(..., help="Descriptions JSON: per label, a list of descriptions or an object (name, descriptions, aliases, head_types, tail_types)", exists=True, dir_okay=False),
    data_path: Path = typer.Argument(..., help="Training .spacy file; its labels are covered", exists=True),
    output_path: Path = typer.Argument(..., help="Output JSON file", dir_okay=False),
    variant: Variant = typer.Option(Variant.full, "--variant", help="full | one (first per label) | names (label names only)"),
    none_label: str = typer.Option("None", "--none-label", help="The no-relation label"),
) -> None:
    """Write the relation set of a variant, covering every label in the data (labels
    without an entry fall back to their names, with a warning), in object form."""
    import srsly

    from ..descriptions import description_variant, load_relations
    from ..formats.docbin import read_docbin

    with _fails_as("Could not write the variant"):
        labels = {r["label"] for doc in read_docbin(data_path) for r in doc._.relations}
        result = description_variant(load_relations(descriptions_path, none_label), labels, variant.value, none_label)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, {label: relation.to_json() for label, relation in result.items()})
    n_desc = sum(len(relation.descriptions) for relation in result.values())
    msg.good(f"Wrote {len(result)} relations, {n_desc} descriptions ({variant.value}) to {output_path}")


@app.command("compare")
def compare_cli(
    metrics_root: Path = typer.Argument(..., help="Folder of {run}_seed{n}/metrics.json reports", exists=True, file_okay=False),
    output_path: Optional[Path] = typer.Option(None, "--output", help="Also write the table to this Markdown file", dir_okay=False),
    order: str = typer.Option("", "--order", help="Comma-separated runs to list first"),
) -> None:
    """Compare runs over seeds: Acc / P / R / F1 as mean ± sample std per run."""
    from .compare import collect_runs, comparison_table, summarize_runs

    with _fails_as("Nothing to compare"):
        runs = collect_runs(metrics_root)
    table = comparison_table(summarize_runs(runs), [r for r in order.split(",") if r])
    _print_table(table, output_path)


# -- convert prodigy / export prodigy (issue 21) --------------------------------------


@convert_app.command("more")
@_fails_as("Conversion failed")
def convert_more_cli(
    input_path: Path = typer.Argument(..., help="MORE text file, e.g. data/MORE/txt/train.txt", exists=True, dir_okay=False),
    objects_path: Path = typer.Argument(..., help="Its objects, e.g. data/MORE/ent_train_dict.pth", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    captions_path: Optional[Path] = typer.Option(None, "--captions", help="caption_dict.json ({img_id: {object key: caption}})", exists=True, dir_okay=False),
    images_dir: Optional[Path] = typer.Option(None, "--images-dir", help="The split's images (img_org/{split}), to count missing ones", file_okay=False),
    on_error: OnError = typer.Option(OnError.raise_, "--on-error", help="raise: stop at the first bad line; skip: skip and report it"),
) -> None:
    """Convert a MORE split (text entity -> image object relations) to .spacy: the
    text entities in the span group "entities", the image's objects in
    doc._.objects, a record per line."""
    from ..formats.more import convert_more

    stats = convert_more(input_path, objects_path, output_path, captions_path, images_dir, on_error.value)
    msg.good(f"Converted {stats['n_instances']} of {stats['n_lines']} lines into {stats['n_docs']} docs with {stats['n_objects']} objects; wrote {output_path}")
    rows = [("lines dropped", len(stats["errors"])), ("boxes clipped", stats["n_clipped_boxes"]), ("images over 10 objects", len(stats["images_over_limit"]))]
    if stats.get("n_missing_images") is not None:
        rows.append(("missing images", stats["n_missing_images"]))
    msg.table(rows + [(label, n) for label, n in stats["labels"].items()], aligns=("l", "r"))


@convert_app.command("fewrel")
def convert_fewrel_cli(
    input_path: Path = typer.Argument(..., help="FewRel JSON, e.g. val_nyt.json", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    exclude_path: Optional[Path] = typer.Option(None, "--exclude-relations-of", help="Another FewRel JSON whose relations are left out (e.g. val_wiki.json)", exists=True, dir_okay=False),
    names_path: Optional[Path] = typer.Option(None, "--names", help="pid2name.json: also write the relations' names and descriptions", exists=True, dir_okay=False),
    relations_path: Optional[Path] = typer.Option(None, "--relations-output", help="Descriptions JSON to write (with --names)", dir_okay=False),
) -> None:
    """Convert a FewRel file to .spacy (one doc per sentence, its gold pair recorded),
    and with --names write its relations as a descriptions file."""
    from ..formats.fewrel import convert_fewrel, read_fewrel

    with _fails_as("Conversion failed"):
        exclude = list(read_fewrel(exclude_path)) if exclude_path is not None else []
        stats = convert_fewrel(input_path, output_path, exclude, names_path, relations_path)
    msg.good(f"Wrote {stats['n_docs']} docs of {stats['n_relations']} relations to {output_path}")


@convert_app.command("prodigy")
def convert_prodigy_cli(
    input_path: Path = typer.Argument(
        ..., help="Prodigy rel.manual JSONL (prodigy db-out)", exists=True, dir_okay=False
    ),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    images_dir: Optional[Path] = typer.Option(
        None, "--images-dir", help="Folder for relative image paths (default: the input file's folder)", file_okay=False
    ),
    none_label: str = typer.Option("None", "--none-label", help="Label of the span pairs no relation joins"),
    on_error: OnError = typer.Option(
        OnError.raise_, "--on-error", help="Malformed tasks: 'raise' or 'skip' (and report)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Convert Prodigy rel.manual annotations to .spacy (one doc per accepted task;
    every ordered span pair gets a record, the no-relation label where no relation
    joins them)."""
    from ..formats.prodigy import convert_prodigy

    with _fails_as("Conversion failed"), warnings.catch_warnings():
        # The summary below reports skipped tasks, unanswered tasks and missing images.
        warnings.simplefilter("ignore", UserWarning)
        stats = convert_prodigy(input_path, output_path, images_dir, none_label, on_error.value, progress)
    _print_prodigy_summary(stats, output_path)


def _print_prodigy_summary(stats: Dict[str, Any], output_path: Path) -> None:
    """Print the stats of a Prodigy conversion."""
    msg.good(f"Wrote {stats['n_docs']} docs ({stats['n_records']} relation records) to {output_path}")
    answers = ", ".join(f"{answer}: {n}" for answer, n in stats["answers"].items()) or "-"
    rows = [
        ("lines", stats["n_lines"]),
        ("answers", answers),
        ("spans", stats["n_spans"]),
        ("spans named only by a relation", stats["n_spans_from_relations"]),
        ("annotated relations", stats["n_relations"]),
        ("docs with overlapping spans", stats["n_overlapping_docs"]),
        ("images: paths / embedded", f"{stats['n_image_paths']} / {stats['n_image_bytes']}"),
    ]
    msg.table(rows, aligns=("l", "r"))
    if stats["n_not_accepted"]:
        msg.info(f"{stats['n_not_accepted']} task(s) not accepted were left out")
    if stats["answers"].get("(none)"):
        msg.warn(f"{stats['answers']['(none)']} task(s) have no answer: annotate them in Prodigy first")
    if stats["n_missing_images"]:
        msg.warn(f"{stats['n_missing_images']} image file(s) missing, e.g. {stats['missing_images'][0]}; those docs are text-only")
    _warn_skipped(stats["errors"])


@export_app.command("prodigy")
def export_prodigy_cli(
    model: str = typer.Argument(..., help="Trained pipeline: a folder or a package name"),
    data_path: Path = typer.Argument(..., help="A .spacy file or a folder of them, with entities", exists=True),
    output_path: Path = typer.Argument(..., help="Output JSONL of rel.manual tasks", dir_okay=False),
    images_dir: Optional[Path] = typer.Option(
        None, "--images-dir", help="Folder for relative image paths in the data", file_okay=False
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to use; -1 for CPU"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Docs per batch"),
) -> None:
    """Write a pipeline's predicted relations as Prodigy rel.manual tasks, to correct
    them in Prodigy (`prodigy rel.manual DATASET blank:en OUTPUT.jsonl ...`)."""
    from .export import export_prodigy

    with _fails_as("Export failed"):
        stats = export_prodigy(model, data_path, output_path, images_dir, batch_size, gpu_id)
    msg.good(f"Wrote {stats['n_docs']} tasks ({stats['n_relations']} predicted relations) to {output_path}")
    rows = [(label, n) for label, n in stats["labels"].items()]
    if rows:
        msg.table(rows, header=("relation", "predicted"), aligns=("l", "r"), divider=True)
    if stats["n_images_failed"]:
        msg.warn(f"{stats['n_images_failed']} image(s) could not be encoded; those tasks have no image")


# -- descriptions expand (issue 20) ----------------------------------------------------


@descriptions_app.command("expand")
def descriptions_expand_cli(
    input_path: Path = typer.Argument(..., help="Descriptions JSON (per label, a list of descriptions or an object with name, descriptions, aliases, head_types, tail_types; no description needed), or a .spacy corpus whose relation labels are expanded", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output descriptions JSON", dir_okay=False),
    config_path: Path = typer.Option(..., "--config", "-c", help="spacy-llm config whose model block names the LLM, e.g. @llm_models = \"spacy.GPT-4.v3\"", exists=True, dir_okay=False),
    code_path: Optional[Path] = typer.Option(None, "--code", help="Python file to import first, e.g. one that registers a model in llm_models", exists=True, dir_okay=False),
    n: int = typer.Option(5, "--n", min=1, help="New descriptions per label"),
    examples_path: Optional[Path] = typer.Option(None, "--examples", help=".spacy corpus for the entity types and example sentences of the prompts (default: INPUT, if it is a corpus)", exists=True, dir_okay=False),
    none_label: str = typer.Option("None", "--none-label", help="The no-relation label; never sent to the LLM"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="spacy-llm's cache folder (default: llm_cache next to OUTPUT)", file_okay=False),
    template_path: Optional[Path] = typer.Option(None, "--template", help="jinja2 prompt template (default: the task's, spacy_roc/commands/llm/descriptions.v1.jinja)", exists=True, dir_okay=False),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar over the labels"),
) -> None:
    """Add N descriptions per relation label, written by an LLM of spacy-llm, to a
    descriptions JSON. Every input description is kept, and an entry in object form
    keeps all its fields, the new descriptions appended to its "descriptions"; a label
    whose prompt fails (no API key, a model error, an unusable response) keeps what it
    had, with a warning. Runs the spacy-llm task spacy_roc.RelationDescriptions.v1
    in spacy-llm's llm pipe, whose cache makes a rerun call the model only for what
    failed."""
    import srsly

    cache_dir = cache_dir if cache_dir is not None else output_path.parent / "llm_cache"
    with _fails_as("Could not expand the descriptions", (ValueError, ImportError)):
        from .llm import expand_descriptions, load_code

        if code_path is not None:
            load_code(code_path)
        result, n_new = expand_descriptions(
            input_path, config_path, n=n, examples=examples_path, none_label=none_label,
            cache_dir=cache_dir, template=template_path, progress=progress,
        )
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, result)
    n_total = sum(len(entry["descriptions"] if isinstance(entry, dict) else entry) for entry in result.values())
    msg.good(f"Wrote {len(result)} relations, {n_total} descriptions ({sum(n_new.values())} new) to {output_path}")
    short = [label for label in result if label != none_label and n_new[label] < n]
    if short:
        msg.warn(f"{len(short)} relation(s) got fewer than {n} new descriptions (see the warnings): {', '.join(short)}")


# -- annotate (issue 21) ---------------------------------------------------------------


@app.command("annotate")
def annotate_cli(
    model: str = typer.Argument(..., help="Pipeline: a folder or a package name"),
    input_path: str = typer.Argument(..., help="JSONL (text, entities, image, ...) or .spacy file; --backend ray: JSONL, also s3://..."),
    output_path: str = typer.Argument(..., help="JSONL or .spacy file; one line (doc) per input line, in order"),
    backend: Backend = typer.Option(Backend.local, "--backend", help="local (nlp.pipe) | ray (Ray Data actor pool)"),
    images_dir: Optional[str] = typer.Option(None, "--images-dir", help="Folder for relative image paths (default: the input's folder)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Docs per batch"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to use; -1 for CPU (ray: >= 0 gives each actor GPUs)"),
    n_process: int = typer.Option(1, "--n-process", min=1, help="local: processes of nlp.pipe"),
    strict: bool = typer.Option(False, "--strict", help="Stop with an error at the first bad line"),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="ray: actors, each loading the pipeline once"),
    gpus_per_actor: Optional[float] = typer.Option(None, "--gpus-per-actor", min=0, help="ray: GPUs per actor (default 1 with --gpu-id >= 0)"),
    cpus_per_actor: float = typer.Option(1.0, "--cpus-per-actor", min=0, help="ray: CPUs per actor"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="ray: cluster address (default: a running or new local Ray)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Annotate a file with a pipeline's relations. Bad lines come back with a coded
    "error" (never dropped); a summary of the counts ends the run."""
    from .annotate import annotate

    options: Dict[str, Any] = {"images_dir": images_dir, "batch_size": batch_size, "gpu_id": gpu_id, "strict": strict, "progress": progress}
    if backend is Backend.ray:
        options.update(concurrency=concurrency, gpus_per_actor=gpus_per_actor, cpus_per_actor=cpus_per_actor, ray_address=ray_address)
    else:
        options.update(n_process=n_process)
    with _fails_as("Annotation failed"):
        summary = annotate(model, input_path, output_path, backend=backend.value, **options)
    _print_annotate_summary(summary, output_path)


def _print_annotate_summary(summary: Dict[str, Any], output_path: str) -> None:
    """Print the counts of an annotate run, and its first bad lines."""
    msg.good(
        f"{summary['lines']} lines: {summary['annotated']} annotated, {summary['n_errors']} bad, "
        f"{summary['relations']} relations, written to {output_path}"
    )
    if summary["errors"]:
        msg.table(list(summary["errors"].items()), header=("error", "lines"), aligns=("l", "r"), divider=True)
    for line_no, code, reason in summary["first_errors"]:
        msg.warn(f"line {line_no}: [{code}] {reason}")
    if summary["n_errors"] > len(summary["first_errors"]):
        msg.warn(f"... and {summary['n_errors'] - len(summary['first_errors'])} more bad line(s)")


# -- visualize (issue 21) --------------------------------------------------------------


@app.command("visualize")
def visualize_cli(
    model: str = typer.Argument(..., help="Pipeline: a folder or a package name"),
    data_path: Path = typer.Argument(..., help="A .spacy file (or folder of them), or a JSONL file of `annotate`", exists=True),
    output_path: Path = typer.Argument(..., help="Output HTML file", dir_okay=False),
    limit: int = typer.Option(0, "--limit", min=0, help="Show at most this many docs (0: all)"),
    images_dir: Optional[Path] = typer.Option(
        None, "--images-dir", help="Folder for relative image paths (default: the folder of DATA)", file_okay=False
    ),
) -> None:
    """Write a self-contained HTML page of a pipeline's relations on DATA: per doc its
    image, its entities and the predicted relations as arcs, with the gold relations
    of DATA below and the mismatches marked."""
    from .visualize import visualize

    with _fails_as("Visualization failed"):
        counts = visualize(model, data_path, output_path, limit=limit, images_dir=images_dir)
    summary = f"{counts['n_docs']} docs, {counts['n_predicted']} predicted relations"
    if counts["n_gold"] or counts["n_mismatches"]:
        summary += f", {counts['n_gold']} gold, {counts['n_mismatches']} mismatches"
    # the counts before the path: wasabi wraps at the terminal width, and a long path
    # would split them
    msg.good(f"Wrote {summary} to {output_path}")


# -- relations by description: generalized zero-shot, calibration, transfer ----------
gzsl_app = typer.Typer(help="Generalized zero-shot relations: trained and new relations offered together.", no_args_is_help=True)
app.add_typer(gzsl_app, name="gzsl")
gzsl_split_app = typer.Typer(help="Write a GZSL split folder.", no_args_is_help=True)
gzsl_app.add_typer(gzsl_split_app, name="split")


def _write_gzsl_split(output_dir: Path, split: Any, parts: Dict[str, Any], relations_path: Path) -> None:
    import srsly

    from .gzsl import write_split

    counts = write_split(output_dir, split, parts, srsly.read_json(relations_path))
    msg.good(f"Seen {len(split.seen)}, validation-unseen {len(split.val_unseen)}, test-unseen {len(split.test_unseen)} relations; wrote {output_dir}")
    msg.table([(part, n) for part, n in counts.items()], header=("part", "docs"), aligns=("l", "r"), divider=True)


@gzsl_split_app.command("thirds")
@_fails_as("GZSL split failed")
def gzsl_split_thirds_cli(
    train_path: Path = typer.Argument(..., help="Training .spacy corpus with gold pairs, e.g. corpus/mnre/train.spacy", exists=True, dir_okay=False),
    dev_path: Path = typer.Argument(..., help="Dev .spacy corpus, e.g. corpus/mnre/dev.spacy", exists=True, dir_okay=False),
    relations_path: Path = typer.Argument(..., help="Descriptions JSON with an entry for every relation, e.g. assets/descriptions/mnre.json", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Folder for the split", file_okay=False),
    seed: int = typer.Option(0, "--seed", help="Seed of the thirds and of the seen test docs"),
    seen_test_share: float = typer.Option(0.15, "--seen-test-share", help="Share of the training docs held out as seen test docs"),
) -> None:
    """HMGRL's split: the relations in thirds (seen, validation-unseen,
    test-unseen); every pair of an unseen relation leaves training."""
    import srsly

    from ..formats.docbin import read_docbin
    from .gzsl import split_corpus

    split, parts = split_corpus(read_docbin(train_path), read_docbin(dev_path), srsly.read_json(relations_path), seed, seen_test_share)
    _write_gzsl_split(output_dir, split, parts, relations_path)


@gzsl_split_app.command("fewrel")
@_fails_as("GZSL split failed")
def gzsl_split_fewrel_cli(
    data_path: Path = typer.Argument(..., help="FewRel JSON, e.g. val_wiki.json", exists=True, dir_okay=False),
    relations_path: Path = typer.Argument(..., help="Descriptions JSON of its relations, e.g. assets/descriptions/fewrel.json", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Folder for the split", file_okay=False),
    unseen: int = typer.Option(5, "--unseen", "-m", help="Test-unseen relations"),
    heldout: int = typer.Option(3, "--heldout", help="Validation-unseen relations (choose gamma)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the split"),
) -> None:
    """ZS-BERT's m unseen relations as a GZSL split, with validation-unseen relations
    and seen test sentences held out of training and model selection."""
    from ..formats.fewrel import read_fewrel
    from .gzsl import split_fewrel

    split, parts = split_fewrel(read_fewrel(data_path), unseen, heldout, seed)
    _write_gzsl_split(output_dir, split, parts, relations_path)


@gzsl_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def gzsl_run_cli(
    ctx: typer.Context,
    split_dir: Path = typer.Argument(..., help="A split folder (gzsl split)", exists=True, file_okay=False),
    config_path: Path = typer.Option(..., "--config", "-c", help="Training config, e.g. configs/mnre_minilm.cfg", exists=True, dir_okay=False),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to use; -1 for CPU"),
) -> None:
    """Train on the split's seen relations, choose gamma on its validation, and score
    the trained model without routing, the untrained encoder, and the routed and
    calibrated model (metrics.json; a split that has it is read back). Extra options
    --section.key value override the config, as in `spacy train`."""
    from spacy.cli._util import parse_config_overrides

    from .gzsl import gzsl_table, run_split

    with _fails_as("GZSL run failed"):
        result = run_split(split_dir, config_path, parse_config_overrides(ctx.args), gpu_id)
    print(gzsl_table([result]))


@gzsl_app.command("table")
@_fails_as("GZSL table failed")
def gzsl_table_cli(
    split_dirs: List[Path] = typer.Argument(..., help="Split folders with metrics.json (gzsl run)", exists=True, file_okay=False),
    output_path: Optional[Path] = typer.Option(None, "--output", help="Also write the table to this Markdown file", dir_okay=False),
) -> None:
    """The GZSL table of several splits: per split and row, seen, unseen, H and
    AUSUC; the mean of each row; the splits the routed model wins."""
    import srsly

    from .gzsl import gzsl_table

    results = [srsly.read_json(folder / "metrics.json") for folder in split_dirs if (folder / "metrics.json").exists()]
    if not results:
        msg.fail("No splits", "none of the folders has a metrics.json (run gzsl run first)", exits=1)
    _print_table(gzsl_table(results), output_path)


@app.command("calibrate")
@_fails_as("Calibration failed")
def calibrate_cli(
    model: str = typer.Argument(..., help="A trained pipeline"),
    output_path: Path = typer.Argument(..., help="Folder for the calibrated pipeline", file_okay=False),
    seen_paths: List[Path] = typer.Option(..., "--seen", help=".spacy docs with gold pairs of the pipeline's relations, not used for training (repeatable)", exists=True, dir_okay=False),
    unseen_paths: List[Path] = typer.Option(..., "--unseen", help=".spacy docs with gold pairs of relations the pipeline was not trained on (repeatable)", exists=True, dir_okay=False),
    relations_paths: List[Path] = typer.Option(..., "--relations", help="Descriptions JSON of those relations (repeatable)", exists=True, dir_okay=False),
    metric: str = typer.Option("f1", "--metric", help="What H is taken of: f1 (micro-F1 without the no-relation label) or acc"),
) -> None:
    """Choose the pipeline's gamma (calibrated stacking) by the largest harmonic mean
    of its seen and unseen scores, the relations of --relations offered with its own,
    and save the pipeline with it (pipe.cfg["gamma"], and cfg["calibration"])."""
    import srsly

    from ..formats.docbin import read_docbin
    from .evaluate import load_pipeline
    from .gzsl import calibrate

    nlp = load_pipeline(model, -1)
    seen = [doc for path in seen_paths for doc in read_docbin(path, nlp.vocab)]
    unseen = [doc for path in unseen_paths for doc in read_docbin(path, nlp.vocab)]
    relations = {label: entry for path in relations_paths for label, entry in srsly.read_json(path).items()}
    scores = calibrate(nlp, seen, unseen, relations, metric)
    nlp.to_disk(output_path)
    rows = [(side, f"{scores[side]['f1']:.1f}", f"{scores[side]['acc']:.1f}") for side in ("seen", "unseen")]
    msg.table(rows, header=("side", "micro-F1", "acc"), aligns=("l", "r", "r"), divider=True)
    msg.good(f"gamma {scores['gamma']:.3f} (H-{metric} {scores['h_' + metric]:.1f}); saved to {output_path}")


zeroshot_app = typer.Typer(help="Relations by description on other data.", no_args_is_help=True)
app.add_typer(zeroshot_app, name="zeroshot")


@zeroshot_app.command("transfer")
@_fails_as("Zero-shot transfer failed")
def zeroshot_transfer_cli(
    model: str = typer.Argument(..., help="A trained pipeline (e.g. the mnre-minilm recipe's)"),
    data_path: Path = typer.Argument(..., help="FewRel JSON, e.g. val_wiki.json", exists=True, dir_okay=False),
    relations_path: Path = typer.Argument(..., help="Descriptions JSON of its relations, e.g. assets/descriptions/fewrel.json", exists=True, dir_okay=False),
    ways: str = typer.Option("16,10", "--ways", help="Comma-separated numbers of relations (the first ones, by id)"),
    per_relation: int = typer.Option(100, "--per-relation", help="Sentences per relation"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to use; -1 for CPU"),
) -> None:
    """Relations by description on other text: replace a trained pipeline's relations
    with the data's, by description, and classify its sentences among them; routed
    (the pipeline as it is), without routing, and the untrained encoder."""
    import srsly

    from ..formats.fewrel import read_fewrel
    from .evaluate import load_pipeline
    from .zeroshot import transfer_scores, untrained_copy

    nlp = load_pipeline(model, gpu_id)
    scores = transfer_scores(nlp, untrained_copy(nlp), read_fewrel(data_path), srsly.read_json(relations_path), [int(k) for k in ways.split(",")], per_relation)
    first = next(iter(scores.values()))
    header = ("", *(f"{k}-way acc ({variant})" for k, by_variant in first.items() for variant in by_variant))
    rows = [(name, *(f"{v:.1f}" for by_variant in by_k.values() for v in by_variant.values())) for name, by_k in scores.items()]
    msg.table(rows, header=header, aligns=("l", *("r" for _ in header[1:])), divider=True)


@zeroshot_app.command("build", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def zeroshot_build_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="A pipeline config, e.g. configs/zeroshot_minilm.cfg", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Folder for the pipeline", file_okay=False),
) -> None:
    """Build a pipeline that finds relations with no training: the config's
    pipeline, initialized without data (nlp.initialize()), its relations read from
    the config's descriptions file. Its roc_relations scores pairs as the pretrained
    text encoder does. Extra options --section.key value override the config (e.g.
    --paths.descriptions FILE). Package it with `python -m spacy package`."""
    import spacy

    from .evaluate import find_relation_pipe

    with _fails_as("Zero-shot build failed"):
        config = spacy.util.load_config(config_path, overrides=parse_overrides(ctx.args), interpolate=False)
        nlp = spacy.util.load_model_from_config(config, auto_fill=True)
        nlp.initialize()
        pipe = find_relation_pipe(nlp)
        nlp.to_disk(output_path)
    msg.good(f"Built {output_path}: {len(pipe.labels)} relations ({', '.join(pipe.labels)}), untrained")


def parse_overrides(args: List[str]) -> Dict[str, Any]:
    """spaCy's parser of --section.key value overrides."""
    from spacy.cli._util import parse_config_overrides

    return parse_config_overrides(args)


@zeroshot_app.command("type-weight", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def zeroshot_type_weight_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="A training config (its untrained pipeline is scored)", exists=True, dir_okay=False),
    heldout_paths: List[Path] = typer.Option(..., "--heldout", help=".spacy docs with gold pairs of held-out relations (repeatable)", exists=True, dir_okay=False),
    relations_paths: List[Path] = typer.Option(..., "--relations", help="Descriptions JSON of the held-out relations (repeatable)", exists=True, dir_okay=False),
    weights: str = typer.Option("0,0.1,0.2,0.3,0.4", "--weights", help="Comma-separated type weights to try"),
) -> None:
    """Choose type_weight on relations held out of training only: the config's
    untrained pipeline classifies the held-out pairs among the held-out relations for
    each weight; prints the macro-F1 of each and the weight chosen. Extra options
    --section.key value override the config."""
    import srsly
    from spacy.cli._util import parse_config_overrides

    from ..formats.docbin import read_docbin
    from .zeroshot import type_weight_scores

    with _fails_as("Type-weight choice failed"):
        docs = [doc for path in heldout_paths for doc in read_docbin(path)]
        relations = {label: entry for path in relations_paths for label, entry in srsly.read_json(path).items()}
        best, scores = type_weight_scores(config_path, docs, relations, [float(w) for w in weights.split(",")], parse_config_overrides(ctx.args))
    msg.table([(f"{w:g}", f"{s['acc']:.1f}", f"{s['macro_f']:.1f}") for w, s in scores.items()], header=("type_weight", "acc", "macro-F1"), aligns=("r", "r", "r"), divider=True)
    msg.good(f"type_weight {best:g} has the best held-out macro-F1")


def main() -> None:
    """Run the CLI."""
    app()
