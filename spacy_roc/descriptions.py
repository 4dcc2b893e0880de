"""Relation descriptions: loading, validation and fallbacks.

A description set is a JSON object ``{label: [description, ...]}``. Each description
is a plain sentence that says what holds between the head and the tail entity.
"""
from pathlib import Path
from typing import Dict, Iterable, List, Union

import srsly

from .errors import Errors, Warnings, warn

Descriptions = Dict[str, List[str]]

NONE_DESCRIPTION = "There is no relation between the head entity and the tail entity."


def load_descriptions(source: Union[str, Path, Dict]) -> Descriptions:
    """Read and clean a description set from a JSON file or a dict.

    source (Union[str, Path, Dict]): Path of a JSON file, or the dict itself.
    RETURNS (Dict[str, List[str]]): Cleaned descriptions, in file order.
    RAISES (ValueError): ROC_E013/ROC_E014/ROC_E010 for a malformed or missing source.
    """
    data = source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(Errors.ROC_E014.format(path=path))
        data = srsly.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(Errors.ROC_E013.format(type=type(data).__name__, source=source))
    return {str(label): clean_descriptions(label, texts) for label, texts in data.items()}


def clean_descriptions(label: str, texts: Union[str, Iterable[str]]) -> List[str]:
    """Strip, drop empty and duplicate descriptions (with a warning).

    label (str): The relation label.
    texts (Union[str, Iterable[str]]): One description or several.
    RETURNS (List[str]): The cleaned descriptions.
    RAISES (ValueError): ROC_E010 if none is left.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Iterable):
        raise ValueError(Errors.ROC_E010.format(label=label))
    raw = [t for t in texts]
    cleaned: List[str] = []
    for text in raw:
        text = text.strip() if isinstance(text, str) else ""
        if text and text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise ValueError(Errors.ROC_E010.format(label=label))
    if len(cleaned) < len(raw):
        warn(Warnings.ROC_W005.format(label=label, n_dropped=len(raw) - len(cleaned)))
    return cleaned


def label_as_description(label: str, none_label: str) -> str:
    """A fallback description made from the label name itself, e.g.
    "/per/org/member_of" -> "per org member of"."""
    if label == none_label:
        return NONE_DESCRIPTION
    words = label.replace("/", " ").replace("_", " ").replace("-", " ").split()
    return " ".join(words) if words else label


def complete_descriptions(
    descriptions: Descriptions, labels: Iterable[str], none_label: str
) -> Descriptions:
    """Order the relation set (no-relation label first) and give every label seen in
    the data a description, falling back to its name with a warning.

    descriptions (Dict[str, List[str]]): The given descriptions.
    labels (Iterable[str]): Labels seen in the training data.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, List[str]]): The complete relation set.
    """
    result: Descriptions = {}
    for label in [none_label, *descriptions, *sorted(set(labels))]:
        if label in result:
            continue
        if label in descriptions:
            result[label] = list(descriptions[label])
        else:
            fallback = label_as_description(label, none_label)
            warn(Warnings.ROC_W003.format(label=label, description=fallback))
            result[label] = [fallback]
    return result


VARIANTS = ("full", "one", "names")


def description_variant(
    descriptions: Descriptions, labels: Iterable[str], variant: str, none_label: str
) -> Descriptions:
    """A description set for an ablation of relation semantics.

    descriptions (Dict[str, List[str]]): The full description set.
    labels (Iterable[str]): Labels seen in the data (added with name fallbacks).
    variant (str): "full" (all descriptions), "one" (the first per label) or
        "names" (the label name only, e.g. "per org member of"; "no relation" for
        the no-relation label).
    none_label (str): The no-relation label.
    RETURNS (Dict[str, List[str]]): The description set of the variant.
    """
    if variant not in VARIANTS:
        raise ValueError(Errors.ROC_E026.format(value=variant, variants=list(VARIANTS)))
    complete = complete_descriptions(descriptions, labels, none_label)
    if variant == "full":
        return complete
    if variant == "one":
        return {label: texts[:1] for label, texts in complete.items()}
    names = {label: [label_as_description(label, none_label)] for label in complete}
    names[none_label] = ["no relation"]
    return names
