"""Evaluation reports for the roc_relations component.

`spacy evaluate` cannot score this component: spaCy's own corpus reader rebuilds the
predicted doc from the words only, so the entities, the image and the gold pairs are
lost. This module evaluates a pipeline over a `spacy_roc.Corpus.v1` corpus and writes

- ``{name}.json``: the scores (``rel_acc``, ``rel_micro_p/r/f``, ``rel_f_per_type``,
  ``n_docs``, ``n_pairs``, ``docs_per_second``);
- ``{name}_per_label.md``: a per-label table (support, predicted, P, R, F), and the
  comparison with a text-only run when one is given;
- ``{name}_confusion.png``: the confusion matrix (rows gold, columns predicted).

matplotlib is imported lazily, with the Agg backend, when the PNG is drawn.
"""
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..formats.corpus import RelationCorpus
from ..errors import Errors, Warnings, warn
from ..pipeline import RelationRetriever
from ..scorer import SUMMARY_KEYS, LabelPair, aligned_labels, score_label_pairs

TEXT_ONLY_NAME = "metrics_text_only"


# -- evaluation ----------------------------------------------------------------------


def find_relation_pipe(nlp: Language) -> RelationRetriever:
    """Return the (first) roc_relations component of a pipeline.

    nlp (Language): The pipeline.
    RETURNS (RelationRetriever): The component.
    RAISES (ValueError): ROC_E200 if the pipeline has no such component.
    """
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, RelationRetriever):
            return pipe
    raise ValueError(Errors.ROC_E200.format(pipe_names=nlp.pipe_names))


def evaluate_pipeline(
    nlp: Language,
    examples: Iterable[Example],
    *,
    text_only: bool = False,
    batch_size: int = 64,
) -> Tuple[Dict[str, Any], List[LabelPair]]:
    """Run a pipeline over examples and score its relations (benchmark protocol).

    The pipeline runs over copies of the predicted docs; the examples are not changed.

    nlp (Language): A pipeline with a roc_relations component.
    examples (Iterable[Example]): Examples from a relation corpus (gold on the reference).
    text_only (bool): Withhold the images (doc._.image = None on the copies).
    batch_size (int): Docs per batch for nlp.pipe.
    RETURNS (Tuple[Dict[str, Any], List[Tuple[str, str]]]): The scores of
        score_label_pairs plus n_docs, n_pairs and docs_per_second, and the
        (gold label, predicted label) pair of every scored entity pair.
    """
    none_label = find_relation_pipe(nlp).none_label
    examples = list(examples)
    docs = [_input_copy(eg.predicted, text_only) for eg in examples]
    start = time.perf_counter()
    annotated = list(nlp.pipe(docs, batch_size=batch_size))
    elapsed = time.perf_counter() - start
    scored = [Example(doc, eg.reference) for doc, eg in zip(annotated, examples)]
    label_pairs = [pair for eg in scored for pair in aligned_labels(eg, none_label)]
    scores = score_label_pairs(label_pairs, none_label)
    scores["n_docs"] = len(scored)
    scores["n_pairs"] = len(label_pairs)
    scores["docs_per_second"] = len(scored) / elapsed if elapsed > 0 else None
    return scores, label_pairs


def _input_copy(doc: Doc, text_only: bool) -> Doc:
    """A copy of a doc (user data included) to annotate; without image if text_only."""
    copy = doc.copy()
    if text_only:
        copy._.image = None
    return copy


def confusion_matrix(label_pairs: Iterable[LabelPair], labels: Sequence[str]) -> numpy.ndarray:
    """Count (gold, predicted) label pairs in a square matrix.

    label_pairs (Iterable[Tuple[str, str]]): Gold and predicted label per pair.
    labels (Sequence[str]): The label order (the component's labels). Labels seen in
        the pairs but not listed are appended in order of appearance; use
        `matrix_labels` to get the full order.
    RETURNS (numpy.ndarray): Counts (n_labels, n_labels), int64; rows are gold
        labels, columns predicted labels.
    """
    label_pairs = list(label_pairs)
    order = matrix_labels(label_pairs, labels)
    index = {label: i for i, label in enumerate(order)}
    matrix = numpy.zeros((len(order), len(order)), dtype="int64")
    for gold, pred in label_pairs:
        matrix[index[gold], index[pred]] += 1
    return matrix


def matrix_labels(label_pairs: Iterable[LabelPair], labels: Sequence[str]) -> List[str]:
    """The row and column labels of `confusion_matrix`: the given labels, then any
    other label seen in the pairs (gold labels unknown to the component).

    label_pairs (Iterable[Tuple[str, str]]): Gold and predicted label per pair.
    labels (Sequence[str]): The component's labels.
    RETURNS (List[str]): The labels in matrix order.
    """
    order = list(dict.fromkeys(labels))
    known = set(order)
    for pair in label_pairs:
        for label in pair:
            if label not in known:
                order.append(label)
                known.add(label)
    return order


# -- writing -------------------------------------------------------------------------


def write_report(
    output_dir: Union[str, Path],
    scores: Dict[str, Any],
    label_pairs: Sequence[LabelPair],
    labels: Sequence[str],
    *,
    name: str = "metrics",
    none_label: str = "None",
    text_only_scores: Optional[Dict[str, Any]] = None,
) -> Dict[str, Path]:
    """Write the metrics JSON, the per-label Markdown table and the confusion PNG.

    output_dir (Union[str, Path]): The folder; created if needed.
    scores (Dict[str, Any]): Scores from evaluate_pipeline.
    label_pairs (Sequence[Tuple[str, str]]): The (gold, predicted) label pairs.
    labels (Sequence[str]): The component's labels, in order.
    name (str): The file name stem.
    none_label (str): The no-relation label (not part of the micro scores).
    text_only_scores (Optional[Dict[str, Any]]): Scores of a text-only run; adds a
        with-image vs text-only comparison to the Markdown table.
    RETURNS (Dict[str, Path]): The written files, under "json", "table" and "png".
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": output_dir / f"{name}.json",
        "table": output_dir / f"{name}_per_label.md",
        "png": output_dir / f"{name}_confusion.png",
    }
    srsly.write_json(paths["json"], json_safe(scores))
    order = matrix_labels(label_pairs, labels)
    matrix = confusion_matrix(label_pairs, order)
    table = per_label_markdown(scores, matrix, order, none_label=none_label)
    if text_only_scores is not None:
        table += "\n" + comparison_markdown(scores, text_only_scores, order, none_label)
    paths["table"].write_text(table, encoding="utf8")
    plot_confusion_matrix(matrix, order, paths["png"], title=_plot_title(name, scores))
    return paths


def json_safe(value: Any) -> Any:
    """Convert numpy scalars and arrays, tuples and Paths to JSON-safe values.

    value (Any): The value.
    RETURNS (Any): Plain dicts, lists, str, int, float, bool or None.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, numpy.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not numpy.isfinite(value):
        return None
    return value


def per_label_markdown(
    scores: Dict[str, Any],
    matrix: numpy.ndarray,
    labels: Sequence[str],
    *,
    none_label: str = "None",
) -> str:
    """A Markdown table: label | support | predicted | P | R | F, a micro row and the
    accuracy line.

    P/R/F of a relation come from scores["rel_f_per_type"]. The no-relation label is
    not part of the micro scores; its P/R/F (one-vs-rest) are shown in parentheses.

    scores (Dict[str, Any]): Scores from evaluate_pipeline.
    matrix (numpy.ndarray): The confusion matrix over `labels`.
    labels (Sequence[str]): The matrix labels.
    none_label (str): The no-relation label.
    RETURNS (str): The Markdown text.
    """
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    per_type = scores.get("rel_f_per_type") or {}
    lines = [
        "| Label | Support | Predicted | P | R | F |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for i, label in enumerate(labels):
        if label == none_label:
            prf = _one_vs_rest(matrix, i)
            cells = [f"({_fmt(prf[key])})" for key in ("p", "r", "f")]
        elif label in per_type:
            cells = [_fmt(per_type[label][key]) for key in ("p", "r", "f")]
        else:
            cells = ["–"] * 3
        lines.append(_row([_md_escape(label), support[i], predicted[i], *cells]))
    related = [i for i, label in enumerate(labels) if label != none_label]
    micro = [_fmt(scores.get(key)) for key in ("rel_micro_p", "rel_micro_r", "rel_micro_f")]
    lines.append(_row(["**micro**", support[related].sum(), predicted[related].sum(), *micro]))
    n_pairs = int(matrix.sum())
    n_correct = int(numpy.trace(matrix))
    lines += [
        "",
        f"Accuracy: {_fmt(scores.get('rel_acc'))} ({n_correct} / {n_pairs} pairs, "
        f"{scores.get('n_docs', '?')} docs).",
        "",
        f"Scores in %. Support: gold pairs with the label; Predicted: pairs predicted with it. Micro "
        f"P/R/F count only pairs whose gold or predicted label is not '{none_label}'; "
        f"the '{none_label}' row (in parentheses) is one-vs-rest and not part of them. "
        "–: the label was neither gold nor predicted.",
        "",
    ]
    return "\n".join(lines)


def comparison_markdown(
    scores: Dict[str, Any],
    text_only_scores: Dict[str, Any],
    labels: Sequence[str],
    none_label: str = "None",
) -> str:
    """A Markdown section comparing a with-image run and a text-only run.

    scores (Dict[str, Any]): Scores with images.
    text_only_scores (Dict[str, Any]): Scores with the images withheld.
    labels (Sequence[str]): The labels to list per-label F for.
    none_label (str): The no-relation label (not listed).
    RETURNS (str): The Markdown text.
    """
    lines = [
        "## With image vs text-only",
        "",
        "| Metric | With image | Text-only | Δ (image − text) |",
        "|---|---:|---:|---:|",
    ]
    for title, key in SUMMARY_KEYS:
        a, b = scores.get(key), text_only_scores.get(key)
        lines.append(_row([title, _fmt(a), _fmt(b), _fmt_delta(a, b)]))
    lines += [
        "",
        "### Per-label F",
        "",
        "| Label | With image | Text-only | Δ (image − text) |",
        "|---|---:|---:|---:|",
    ]
    per_a = scores.get("rel_f_per_type") or {}
    per_b = text_only_scores.get("rel_f_per_type") or {}
    for label in labels:
        if label == none_label or (label not in per_a and label not in per_b):
            continue
        a, b = per_a.get(label, {}).get("f"), per_b.get(label, {}).get("f")
        lines.append(_row([_md_escape(label), _fmt(a), _fmt(b), _fmt_delta(a, b)]))
    return "\n".join(lines) + "\n"


def plot_confusion_matrix(
    matrix: numpy.ndarray,
    labels: Sequence[str],
    path: Union[str, Path],
    *,
    title: str = "Confusion matrix",
) -> None:
    """Draw a confusion matrix to a PNG: cells coloured by the row-normalised rate
    (recall per gold label), annotated with the counts.

    matrix (numpy.ndarray): Counts (n_labels, n_labels), rows gold.
    labels (Sequence[str]): The row and column labels.
    path (Union[str, Path]): The PNG file.
    title (str): The figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    side = max(4.5, 1.6 + 0.5 * n + 0.06 * max((len(str(x)) for x in labels), default=0))
    rates = matrix / numpy.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    try:
        image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
        _annotate_counts(ax, matrix, rates, fontsize=_font_size(n))
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=_font_size(n))
        ax.set_yticklabels(labels, fontsize=_font_size(n))
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("Gold label")
        ax.set_title(title)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def _annotate_counts(ax: Any, matrix: numpy.ndarray, rates: numpy.ndarray, fontsize: float) -> None:
    """Write the non-zero counts into the cells, white on dark cells."""
    for (row, col), count in numpy.ndenumerate(matrix):
        if count:
            color = "white" if rates[row, col] > 0.5 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=color, fontsize=fontsize)


def _font_size(n_labels: int) -> float:
    return 10.0 if n_labels <= 10 else 8.0


def _plot_title(name: str, scores: Dict[str, Any]) -> str:
    summary = ", ".join(f"{title} {_fmt(scores.get(key))}" for title, key in SUMMARY_KEYS)
    return f"{name}: {summary}\nrows: gold, columns: predicted"


def _one_vs_rest(matrix: numpy.ndarray, i: int) -> Dict[str, Optional[float]]:
    tp = matrix[i, i]
    n_pred, n_gold = matrix[:, i].sum(), matrix[i, :].sum()
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": float(p), "r": float(r), "f": float(f)}


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _md_escape(text: str) -> str:
    escaped = text.replace("|", "\\|")
    return escaped if "`" in text else f"`{escaped}`"


def _fmt(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _fmt_delta(a: Optional[float], b: Optional[float]) -> str:
    return "–" if a is None or b is None else f"{100 * (a - b):+.2f}"


# -- end to end ----------------------------------------------------------------------


def evaluate_to_dir(
    model: Union[str, Path],
    data_path: Union[str, Path],
    output_dir: Union[str, Path],
    *,
    images_dir: Optional[Union[str, Path]] = None,
    text_only_too: bool = False,
    gpu_id: int = -1,
    batch_size: int = 64,
) -> Dict[str, Any]:
    """Load a pipeline, evaluate it on a relation corpus and write the report.

    Writes metrics.json, metrics_per_label.md and metrics_confusion.png to output_dir;
    with text_only_too, also the metrics_text_only* files of a run with the images
    withheld, and the comparison inside metrics_per_label.md.

    model (Union[str, Path]): A pipeline name or folder, for spacy.load.
    data_path (Union[str, Path]): A .spacy file or a folder of them.
    output_dir (Union[str, Path]): The report folder; created if needed.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths. If it
        does not exist, the evaluation runs text-only (ROC_W009).
    text_only_too (bool): Also evaluate with the images withheld.
    gpu_id (int): GPU to use; -1 for CPU.
    batch_size (int): Docs per batch.
    RETURNS (Dict[str, Any]): The scores, "images_used" (False when the images
        folder does not exist), and the text-only scores under "text_only" if computed.
    RAISES (ValueError): ROC_E200 if the pipeline has no roc_relations component,
        ROC_E201 if the corpus is empty.
    """
    use_images = images_dir is None or Path(images_dir).is_dir()
    if not use_images:
        warn(Warnings.ROC_W009.format(images_dir=images_dir))
    nlp = load_pipeline(model, gpu_id)
    pipe = find_relation_pipe(nlp)
    corpus = RelationCorpus(data_path, images_dir=images_dir, gold_pairs=True, use_images=use_images)
    examples = list(corpus(nlp))
    if not examples:
        raise ValueError(Errors.ROC_E201.format(path=data_path))
    scores, pairs = evaluate_pipeline(nlp, examples, batch_size=batch_size)
    text_scores = None
    if text_only_too:
        text_scores, text_pairs = evaluate_pipeline(nlp, examples, text_only=True, batch_size=batch_size)
        write_report(output_dir, text_scores, text_pairs, pipe.labels, name=TEXT_ONLY_NAME, none_label=pipe.none_label)
    write_report(output_dir, scores, pairs, pipe.labels, none_label=pipe.none_label, text_only_scores=text_scores)
    result = dict(scores)
    result["images_used"] = use_images
    if text_scores is not None:
        result["text_only"] = text_scores
    return result


def load_pipeline(model: Union[str, Path], gpu_id: int = -1) -> Language:
    """Load a pipeline with spacy.load, on the given GPU if gpu_id >= 0.

    model (Union[str, Path]): A pipeline name or folder.
    gpu_id (int): GPU to use; -1 for CPU.
    RETURNS (Language): The pipeline.
    """
    import spacy

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    return spacy.load(model)

