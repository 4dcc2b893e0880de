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


def main() -> None:
    """Run the CLI."""
    app()
