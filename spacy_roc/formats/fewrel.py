"""Read FewRel 1.0 (Han et al., EMNLP 2018) into Docs with relation records.

Input: a JSON object `{relation id: [instance, ...]}`; an instance has `tokens`, and
`h` and `t` as `[name, Wikidata id, [[token index, ...], ...]]` (one list per mention;
the first is used). `pid2name.json` gives each relation id `[name, description]`.

Output: one Doc per instance, words = the tokens; head and tail go into the span
group "entities" with the label "ENTITY" (FewRel gives no entity types), and
`doc._.relations` holds the head -> tail record with the relation id as its label;
and, from pid2name.json, a descriptions file of the relations (name and Wikidata
description). `python -m spacy_roc convert fewrel` writes both.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import srsly

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from ..errors import Errors
from ..extensions import install_extensions, make_record
from .codec import ENTITY_LABEL, SPANS_KEY
from .docbin import write_docbin

Instance = Dict[str, object]


def read_fewrel(path: Union[str, Path]) -> Dict[str, List[Instance]]:
    """The instances of each relation in a FewRel JSON file.

    path (Union[str, Path]): e.g. val_wiki.json.
    RETURNS (Dict[str, List[Instance]]): Instances by relation id.
    """
    return _read_object(path, "{relation: [instances]}")


def _read_object(path: Union[str, Path], shape: str) -> Dict[str, object]:
    """A FewRel JSON file that holds an object (ROC_E102 if missing, ROC_E600 if not
    an object)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(Errors.ROC_E102.format(path=path))
    data = json.loads(path.read_text(encoding="utf8"))
    if not isinstance(data, dict):
        raise ValueError(Errors.ROC_E600.format(path=path, reason=f"not a JSON object {shape}"))
    return data


def relation_entries(path: Union[str, Path], labels: Sequence[str]) -> Dict[str, Dict[str, object]]:
    """The descriptions-file entries {"name", "descriptions"} of relation ids, from a
    pid2name.json (Wikidata name and description of each id; ROC_E602 for a missing id).

    path (Union[str, Path]): pid2name.json.
    labels (Sequence[str]): The relation ids.
    RETURNS (Dict[str, Dict[str, object]]): An entry per id, in the given order.
    """
    names = _read_object(path, "{relation: [name, description]}")
    missing = [label for label in labels if label not in names]
    if missing:
        raise ValueError(Errors.ROC_E602.format(label=missing[0]))
    for label in labels:
        entry = names[label]
        if not (isinstance(entry, list) and len(entry) >= 2 and all(isinstance(text, str) for text in entry[:2])):
            raise ValueError(Errors.ROC_E600.format(path=path, reason=f"{label!r} is not [name, description]"))
    return {label: {"name": names[label][0], "descriptions": [names[label][1]]} for label in labels}


def convert_fewrel(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    exclude: Sequence[str] = (),
    names_path: Optional[Union[str, Path]] = None,
    relations_path: Optional[Union[str, Path]] = None,
) -> Dict[str, int]:
    """Write the instances of a FewRel file as a .spacy file (one doc each), leaving out
    the relations in `exclude`; with a pid2name.json, also the relations' entries.

    input_path (Union[str, Path]): e.g. val_nyt.json.
    output_path (Union[str, Path]): The .spacy file.
    exclude (Sequence[str]): Relation ids to leave out.
    names_path (Optional[Union[str, Path]]): pid2name.json, for the relations file.
    relations_path (Optional[Union[str, Path]]): Where to write the relations file
        (with names_path, and only with it: ROC_E604).
    RETURNS (Dict[str, int]): n_docs and n_relations.
    """
    if (names_path is None) != (relations_path is None):
        raise ValueError(Errors.ROC_E604)
    data = read_fewrel(input_path)
    excluded = set(exclude)
    labels = [label for label in data if label not in excluded]
    vocab = Vocab()
    docs = [fewrel_doc(vocab, instance, label) for label in labels for instance in data[label]]
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    write_docbin(docs, Path(output_path))
    if names_path is not None and relations_path is not None:
        srsly.write_json(relations_path, relation_entries(names_path, labels))
    return {"n_docs": len(docs), "n_relations": len(labels)}


def fewrel_doc(vocab: Vocab, instance: Instance, label: str) -> Doc:
    """A Doc of a FewRel instance: the head and tail spans and their record.

    vocab (Vocab): The vocab.
    instance (Instance): `{"tokens": [...], "h": [...], "t": [...]}`.
    label (str): The relation id.
    RETURNS (Doc): The doc.
    """
    install_extensions()
    doc = Doc(vocab, words=list(instance["tokens"]))
    head, tail = (_mention(doc, instance[side]) for side in ("h", "t"))
    doc.spans[SPANS_KEY] = [head, tail]
    doc._.relations = [make_record((head.start, head.end), (tail.start, tail.end), label)]
    return doc


def _mention(doc: Doc, entity: Sequence) -> Span:
    """The first mention of a FewRel entity `[name, id, [[indices], ...]]`."""
    try:
        indices = entity[2][0]
        return Span(doc, min(indices), max(indices) + 1, label=ENTITY_LABEL)
    except (IndexError, TypeError, ValueError) as err:
        raise ValueError(Errors.ROC_E600.format(path="(instance)", reason=f"bad entity {entity!r}: {err}")) from err
