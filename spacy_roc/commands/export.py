"""`python -m spacy_roc export prodigy`: a pipeline's predictions over a corpus,
written as Prodigy rel.manual tasks to correct (the task format is in
spacy_roc.formats.prodigy)."""
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc

from ..errors import Errors, Warnings
from ..formats.corpus import RelationCorpus
from ..formats.prodigy import Task, add_image, doc_to_task, most_common_first
from .evaluate import find_relation_pipe, load_pipeline


def export_prodigy(
    model: Union[str, Path],
    data_path: Union[str, Path],
    output_path: Union[str, Path],
    images_dir: Optional[Union[str, Path]] = None,
    batch_size: int = 64,
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Run a trained pipeline over a corpus and write its predictions as rel.manual
    tasks (JSONL), to correct in Prodigy.

    model (Union[str, Path]): A pipeline name or folder with a roc_relations component.
    data_path (Union[str, Path]): A .spacy file or a folder of them, with entities.
    output_path (Union[str, Path]): The JSONL file to write; parent folders are created.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths in the data.
    batch_size (int): Docs per batch.
    gpu_id (int): GPU to use; -1 for CPU.
    RETURNS (Dict[str, Any]): Stats: see predictions_to_tasks.
    RAISES (ValueError): ROC_E200 without a roc_relations component, ROC_E025 if the
        data is not found, ROC_E111 if it holds no docs.
    """
    nlp = load_pipeline(model, gpu_id)
    find_relation_pipe(nlp)  # ROC_E200 before the data is read
    docs = export_inputs(nlp, data_path, images_dir)
    tasks, stats = predictions_to_tasks(nlp, docs, batch_size)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_jsonl(output_path, tasks)
    return stats


def export_inputs(nlp: Any, data_path: Union[str, Path], images_dir: Optional[Union[str, Path]]) -> List[Doc]:
    """The predicted docs of a relation corpus: entities, span groups, image, and the
    gold pairs in doc._.relation_pairs (None where the data lists none: the
    pipeline's candidate function proposes the pairs).

    nlp (Language): The pipeline.
    data_path (Union[str, Path]): A .spacy file or a folder of them.
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths.
    RETURNS (List[Doc]): The docs, without relations.
    RAISES (ValueError): ROC_E111 if the corpus holds no docs.
    """
    docs = [eg.predicted for eg in RelationCorpus(data_path, images_dir=images_dir)(nlp)]
    if not docs:
        raise ValueError(Errors.ROC_E111.format(path=data_path))
    for doc in docs:
        doc._.relation_pairs = doc._.relation_pairs or None
    return docs


def predictions_to_tasks(nlp: Any, docs: Iterable[Doc], batch_size: int = 64) -> Tuple[List[Task], Dict[str, Any]]:
    """Run the pipeline and turn each doc into a rel.manual task (see doc_to_task),
    with its image (ROC_W113 for images that cannot be encoded).

    nlp (Language): The pipeline, with a roc_relations component.
    docs (Iterable[Doc]): The docs, with entities.
    batch_size (int): Docs per batch.
    RETURNS (Tuple[List[Dict[str, Any]], Dict[str, Any]]): The tasks and the stats:
        n_docs, n_spans, n_relations, labels {label: count}, n_image_paths,
        n_image_data (images written as data URIs), n_images_failed.
    """
    pipe = find_relation_pipe(nlp)
    tasks: List[Task] = []
    failed: List[str] = []
    for doc in nlp.pipe(docs, batch_size=batch_size):
        task = doc_to_task(doc, pipe.spans_key, pipe.none_label)
        add_image(task, doc._.image, failed)
        tasks.append(task)
    if failed:
        warnings.warn(Warnings.ROC_W113.format(n_failed=len(failed), reason=failed[0]))
    return tasks, _export_stats(tasks, len(failed))


def _export_stats(tasks: Sequence[Task], n_failed: int) -> Dict[str, Any]:
    """The stats of an export (see predictions_to_tasks)."""
    labels = Counter(rel["label"] for task in tasks for rel in task["relations"])
    images = [task["image"] for task in tasks if "image" in task]
    n_data = sum(image.startswith("data:") for image in images)
    return {
        "n_docs": len(tasks),
        "n_spans": sum(len(task["spans"]) for task in tasks),
        "n_relations": sum(labels.values()),
        "labels": most_common_first(labels),
        "n_image_paths": len(images) - n_data,
        "n_image_data": n_data,
        "n_images_failed": n_failed,
    }
