"""Relation descriptions: loading, validation, fallbacks, and the texts a relation is
retrieved by.

A descriptions file is a JSON object with one entry per relation label. An entry is
either a list of descriptions, or an object:

    {"/per/org/member_of": ["The head person is a member of the tail organization."],
     "P26": {"name": "spouse",
             "descriptions": ["the subject has the object as their spouse"],
             "aliases": ["husband", "wife", "married to"],
             "head_types": ["a person"], "tail_types": ["a person"]}}

- `name` (default: the label's words, e.g. "per org member of"; "no relation" for the
  no-relation label), `descriptions` (sentences that say what holds between the head
  and the tail) and `aliases` (other names) are the relation's texts. The relation's
  vector is the normalised mean of the unit vectors of its texts, each encoded by
  the frozen label encoder; in training, each step uses one of its texts, drawn at
  random.
- `head_types` and `tail_types` (optional, both or neither) say which entities each
  side takes; they are matched against the pair's entities (see `type_weight` of
  `spacy_roc.ROCModel.v2`).
- `sides` (optional): what each side is, `["text", "object"]` for a relation from a
  text entity to an object of the image (MORE), `["text", "text"]`, ...; a pair whose
  sides are of other kinds cannot take the relation. Without it, any pair can.
"""
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import srsly

from .errors import Errors, Warnings, warn

NONE_DESCRIPTION = "There is no relation between the head entity and the tail entity."
NONE_NAME = "no relation"
FIELDS = ("name", "descriptions", "aliases", "head_types", "tail_types", "sides")
SIDE_KINDS = ("text", "object")


@dataclass(frozen=True)
class Relation:
    """What a relation is retrieved by (see the module docstring).

    name (str): Its name.
    descriptions (Tuple[str, ...]): Its descriptions.
    aliases (Tuple[str, ...]): Other names.
    head_types (Tuple[str, ...]): The entity types its head takes (may be empty).
    tail_types (Tuple[str, ...]): The entity types its tail takes (may be empty).
    sides (Tuple[str, ...]): What its head and its tail are ("text" or "object"), or
        empty: any.
    """

    name: str
    descriptions: Tuple[str, ...]
    aliases: Tuple[str, ...] = ()
    head_types: Tuple[str, ...] = ()
    tail_types: Tuple[str, ...] = ()
    sides: Tuple[str, ...] = ()

    @property
    def texts(self) -> Tuple[str, ...]:
        """The name, the descriptions and the aliases, without repeats."""
        return tuple(dict.fromkeys((self.name, *self.descriptions, *self.aliases)))

    @property
    def typed(self) -> bool:
        """Whether it names the entity types of both sides."""
        return bool(self.head_types and self.tail_types)

    def to_json(self) -> Dict[str, Any]:
        """The entry of a descriptions file (JSON-safe; `sides` only when given)."""
        entry = {field: list(value) if isinstance(value, tuple) else value for field, value in asdict(self).items()}
        if not self.sides:
            del entry["sides"]
        return entry

    @property
    def fingerprint(self) -> str:
        """A hash of all its texts: the component records it for each relation it was
        trained with, so a relation whose texts changed counts as new."""
        text = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf8")).hexdigest()[:16]


def make_relation(
    label: str,
    descriptions: Union[str, Iterable[str]] = (),
    none_label: str = "None",
    *,
    name: Optional[str] = None,
    aliases: Iterable[str] = (),
    head_types: Iterable[str] = (),
    tail_types: Iterable[str] = (),
    sides: Iterable[str] = (),
) -> Relation:
    """A relation from its texts, cleaned (see clean_descriptions).

    label (str): The relation label.
    descriptions (Union[str, Iterable[str]]): Its descriptions (one or several).
    none_label (str): The no-relation label.
    name (Optional[str]): Its name; by default made from the label.
    aliases, head_types, tail_types, sides (Iterable[str]): See Relation.
    RETURNS (Relation): The relation.
    RAISES (ValueError): ROC_E010 without any description, name or alias; ROC_E039
        with types for one side only; ROC_E050 for sides other than two of "text"
        and "object".
    """
    given_name = name.strip() if isinstance(name, str) and name.strip() else None
    cleaned = clean_descriptions(label, descriptions, required=given_name is None and not aliases)
    sides = tuple(sides or ())
    if sides and (len(sides) != 2 or not all(side in SIDE_KINDS for side in sides)):
        raise ValueError(Errors.ROC_E050.format(label=label, value=list(sides), kinds=list(SIDE_KINDS)))
    relation = Relation(
        given_name or label_name(label, none_label),
        tuple(cleaned),
        tuple(clean_descriptions(label, aliases, required=False)),
        tuple(clean_descriptions(label, head_types, required=False)),
        tuple(clean_descriptions(label, tail_types, required=False)),
        sides,
    )
    if bool(relation.head_types) != bool(relation.tail_types):
        raise ValueError(Errors.ROC_E039.format(label=label))
    return relation


def relation_from_json(label: str, entry: Any, none_label: str = "None") -> Relation:
    """A relation from its entry in a descriptions file: a list of descriptions, one
    description, or an object with the fields of Relation (ROC_E013 otherwise)."""
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise ValueError(Errors.ROC_E040.format(label=label, fields=unknown, known=list(FIELDS)))
        return make_relation(label, entry.get("descriptions", ()), none_label, **{k: v for k, v in entry.items() if k != "descriptions"})
    return make_relation(label, entry, none_label)


def load_relations(source: Union[str, Path, Dict], none_label: str = "None") -> Dict[str, Relation]:
    """Read and clean a descriptions file (see the module docstring).

    source (Union[str, Path, Dict]): Path of a JSON file, or the dict itself.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Relation]): The relations, in file order.
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
    return {str(label): relation_from_json(str(label), entry, none_label) for label, entry in data.items()}


def load_descriptions(source: Union[str, Path, Dict], none_label: str = "None") -> Dict[str, List[str]]:
    """The descriptions of each relation of a descriptions file, {label: [...]}."""
    return {label: list(relation.descriptions) for label, relation in load_relations(source, none_label).items()}


def clean_descriptions(label: str, texts: Union[str, Iterable[str]], required: bool = True) -> List[str]:
    """Strip, drop empty and duplicate texts (with a warning).

    label (str): The relation label.
    texts (Union[str, Iterable[str]]): One text or several.
    required (bool): At least one text must be left (ROC_E010).
    RETURNS (List[str]): The cleaned texts.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Iterable):
        raise ValueError(Errors.ROC_E010.format(label=label))
    raw = list(texts)
    cleaned: List[str] = []
    for text in raw:
        text = text.strip() if isinstance(text, str) else ""
        if text and text not in cleaned:
            cleaned.append(text)
    if required and not cleaned:
        raise ValueError(Errors.ROC_E010.format(label=label))
    if len(cleaned) < len(raw):
        warn(Warnings.ROC_W005.format(label=label, n_dropped=len(raw) - len(cleaned)))
    return cleaned


def label_name(label: str, none_label: str) -> str:
    """A relation's default name, made from its label, e.g. "/per/org/member_of" ->
    "per org member of"; "no relation" for the no-relation label."""
    if label == none_label:
        return NONE_NAME
    words = label.replace("/", " ").replace("_", " ").replace("-", " ").split()
    return " ".join(words) if words else label


def label_as_description(label: str, none_label: str) -> str:
    """A fallback description made from the label name itself (a sentence for the
    no-relation label)."""
    return NONE_DESCRIPTION if label == none_label else label_name(label, none_label)


def complete_relations(relations: Dict[str, Relation], labels: Iterable[str], none_label: str) -> Dict[str, Relation]:
    """Order the relation set (no-relation label first) and give every label seen in
    the data a relation, falling back to its name with a warning (ROC_W003).

    relations (Dict[str, Relation]): The given relations.
    labels (Iterable[str]): Labels seen in the training data.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Relation]): The complete relation set.
    """
    result: Dict[str, Relation] = {}
    for label in [none_label, *relations, *sorted(set(labels))]:
        if label in result:
            continue
        if label not in relations:
            fallback = label_as_description(label, none_label)
            warn(Warnings.ROC_W003.format(label=label, description=fallback))
            relations = {**relations, label: make_relation(label, [fallback], none_label)}
        result[label] = relations[label]
    return result


VARIANTS = ("full", "one", "names")


def description_variant(relations: Dict[str, Relation], labels: Iterable[str], variant: str, none_label: str) -> Dict[str, Relation]:
    """A relation set for an ablation of relation semantics.

    relations (Dict[str, Relation]): The full relation set.
    labels (Iterable[str]): Labels seen in the data (added with name fallbacks).
    variant (str): "full" (all texts), "one" (the name and the first description)
        or "names" (the name only).
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Relation]): The relation set of the variant.
    """
    if variant not in VARIANTS:
        raise ValueError(Errors.ROC_E026.format(value=variant, variants=list(VARIANTS)))
    complete = complete_relations(relations, labels, none_label)
    if variant == "full":
        return complete
    if variant == "one":
        return {label: Relation(r.name, r.descriptions[:1], (), r.head_types, r.tail_types) for label, r in complete.items()}
    return {label: Relation(r.name, (), (), r.head_types, r.tail_types) for label, r in complete.items()}
