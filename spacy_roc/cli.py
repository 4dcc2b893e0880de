"""Command-line interface of spacy-roc: ``python -m spacy_roc COMMAND``.

The typer app ``app`` holds the top-level commands; ``convert_app`` groups the corpus
converters (``python -m spacy_roc convert mnre ...``). Heavy modules are imported inside
the commands, so ``--help`` stays fast and torch is never imported here.
"""
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

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
    on_error: str = typer.Option(
        "raise", "--on-error", help="Malformed lines: 'raise' or 'skip' (and report)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Convert an MNRE text file to .spacy (one doc per sentence)."""
    from .convert.mnre import convert_mnre

    if on_error not in ("raise", "skip"):
        msg.fail(f"--on-error must be 'raise' or 'skip', not {on_error!r}", exits=1)
    try:
        with warnings.catch_warnings():
            # The summary below reports skipped lines and missing images.
            warnings.simplefilter("ignore", UserWarning)
            stats = convert_mnre(input_path, output_path, images_dir, on_error, progress)
    except ValueError as err:
        msg.fail("Conversion failed", str(err), exits=1)
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
    for line_no, message in stats["errors"][:20]:
        msg.warn(f"Skipped line {line_no}: {message}")
    if len(stats["errors"]) > 20:
        msg.warn(f"... and {len(stats['errors']) - 20} more skipped line(s)")


@app.command("demo")
def demo_cli(
    output_dir: Path = typer.Argument(..., help="Output folder", file_okay=False),
    n_train: int = typer.Option(600, "--n-train", min=0, help="Training docs"),
    n_dev: int = typer.Option(150, "--n-dev", min=0, help="Development docs"),
    n_test: int = typer.Option(150, "--n-test", min=0, help="Test docs"),
    image_size: int = typer.Option(32, "--image-size", min=12, help="Image side in pixels"),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)"),
) -> None:
    """Generate the synthetic demo dataset (shape images, image- and text-only relations)."""
    from .demo import generate_demo

    counts = generate_demo(output_dir, n_train, n_dev, n_test, image_size, seed)
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
    from .report import evaluate_to_dir

    try:
        scores = evaluate_to_dir(
            model,
            data_path,
            output_dir,
            images_dir=images_dir,
            text_only_too=text_only_too,
            gpu_id=gpu_id,
            batch_size=batch_size,
        )
    except (ValueError, OSError) as err:
        msg.fail("Evaluation failed", str(err), exits=1)
    _print_scores(scores)
    msg.good(f"Wrote the report to {output_dir}")


def _print_scores(scores: Dict[str, Any]) -> None:
    """Print Acc/P/R/F1 (with image, and text-only if computed) as a table."""
    from .scorer import SUMMARY_KEYS

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
    descriptions_path: Path = typer.Argument(..., help="Descriptions JSON {label: [description, ...]}", exists=True, dir_okay=False),
    data_path: Path = typer.Argument(..., help="Training .spacy file; its labels are covered", exists=True),
    output_path: Path = typer.Argument(..., help="Output JSON file", dir_okay=False),
    variant: str = typer.Option("full", "--variant", help="full | one (first per label) | names (label names only)"),
    none_label: str = typer.Option("None", "--none-label", help="The no-relation label"),
) -> None:
    """Write the description set of a variant, covering every label in the data
    (labels without descriptions fall back to their names, with a warning)."""
    import srsly

    from .descriptions import description_variant, load_descriptions
    from .docbin import read_docbin

    labels = {r["label"] for doc in read_docbin(data_path) for r in doc._.relations}
    result = description_variant(load_descriptions(descriptions_path), labels, variant, none_label)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, result)
    n_desc = sum(len(v) for v in result.values())
    msg.good(f"Wrote {len(result)} relations, {n_desc} descriptions ({variant}) to {output_path}")


@app.command("compare")
def compare_cli(
    metrics_root: Path = typer.Argument(..., help="Folder of {run}_seed{n}/metrics.json reports", exists=True, file_okay=False),
    output_path: Optional[Path] = typer.Option(None, "--output", help="Also write the table to this Markdown file", dir_okay=False),
    order: str = typer.Option("", "--order", help="Comma-separated runs to list first"),
) -> None:
    """Compare runs over seeds: Acc / P / R / F1 as mean ± sample std per run."""
    from .compare import collect_runs, comparison_table, summarize_runs

    try:
        runs = collect_runs(metrics_root)
    except ValueError as err:
        msg.fail("Nothing to compare", str(err), exits=1)
    table = comparison_table(summarize_runs(runs), [r for r in order.split(",") if r])
    print(table)
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(table, encoding="utf8")
        msg.good(f"Wrote the comparison to {output_path}")


# -- convert prodigy / export prodigy (issue 21) --------------------------------------


# -- descriptions expand (issue 20) ----------------------------------------------------


# -- annotate (issue 21) ---------------------------------------------------------------


# -- visualize (issue 21) --------------------------------------------------------------


# -- zeroshot (issue 20) ---------------------------------------------------------------


def main() -> None:
    """Run the CLI."""
    app()
